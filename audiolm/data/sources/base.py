"""The speech-source interface: named voices, each yielding 16 kHz float32 utterances."""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import soxr


@dataclass
class Item:
    """One utterance of one source speaker."""
    audio: np.ndarray  # (samples,) float32 at the source's sample_rate
    speaker: str  # the source speaker, unique within the source (e.g. "train-clean/103", "slt")
    text: str | None  # the words, where known
    origin: str  # a file path, or "engine:voice"


class SpeechSource(ABC):
    """Speech from one origin (a folder of recordings, a synthesizer) behind a small interface."""
    name: str  # the registry name
    synthetic: bool  # True: endless utterances of generated sentences; False: a fixed set of recordings
    config_class: type

    def __init__(self, config=None, sample_rate: int = 16000):
        self.config = config if config is not None else self.config_class()
        self.sample_rate = sample_rate

    @abstractmethod
    def speakers(self) -> list[str]:
        """The source speakers (voices) this source offers, in a stable order."""

    @abstractmethod
    def utterances(self, speaker: str, rng: random.Random, heldout_text: bool = False) -> Iterator[Item]:
        """Utterances of ``speaker``: a synthesizer yields endlessly (sentences drawn with ``rng``,
        from the held-out sentence split when ``heldout_text``); recordings yield each file once."""

    def resampled(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 at this source's rate."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if sample_rate != self.sample_rate:
            audio = soxr.resample(audio, sample_rate, self.sample_rate)
        return audio.astype(np.float32)
