"""What the synthesizers share: sentences from the generator, resampling, peak limiting."""
from __future__ import annotations

import random
from abc import abstractmethod
from typing import Iterator

import numpy as np

from ..sentences import sentences
from .base import Item, SpeechSource


class SyntheticSource(SpeechSource):
    """A text-to-speech engine reading sentences from :mod:`audiolm.data.sentences`.

    Subclasses implement :meth:`synthesize`; their configs have ``min_sentences`` and
    ``max_sentences`` (per utterance).
    """
    synthetic = True

    @abstractmethod
    def synthesize(self, text: str, speaker: str) -> tuple[np.ndarray, int]:
        """(audio, sample rate) of ``text`` read by ``speaker``."""

    def utterances(self, speaker: str, rng: random.Random, heldout_text: bool = False) -> Iterator[Item]:
        if speaker not in self.speakers():
            raise ValueError(f"{self.name} has no voice {speaker!r}; it has {self.speakers()}")
        while True:
            count = rng.randint(self.config.min_sentences, self.config.max_sentences)
            text = " ".join(sentences(rng, heldout=heldout_text, count=count))
            audio, sample_rate = self.synthesize(text, speaker)
            audio = self.resampled(audio, sample_rate)
            peak = float(np.abs(audio).max()) if len(audio) else 0.0
            if peak > 0.99:
                audio *= 0.99 / peak
            yield Item(audio, speaker, text, f"{self.name}:{speaker}")
