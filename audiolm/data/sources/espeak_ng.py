"""espeak-ng voices (the library binding in :mod:`audiolm.data.espeak`) as a speech source."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..espeak import Espeak
from ..speech_corpus import SpeechCorpusConfig, make_speakers
from .synthetic import SyntheticSource


@dataclass
class EspeakSourceConfig:
    voices: int = 48  # language x variant x prosody draws; never the espeak corpus' held-out variants
    seed: int = 0
    min_sentences: int = 1
    max_sentences: int = 3


class EspeakSource(SyntheticSource):
    name = "espeak"
    config_class = EspeakSourceConfig

    def __init__(self, config=None, sample_rate: int = 16000):
        super().__init__(config, sample_rate)
        train, _ = make_speakers(SpeechCorpusConfig(train_speakers=self.config.voices, seed=self.config.seed))
        self._voices = {voice.name: voice for voice in train}
        self._engine: Espeak | None = None  # made on first use, in the process that synthesizes

    def speakers(self) -> list[str]:
        return list(self._voices)

    def synthesize(self, text: str, speaker: str) -> tuple[np.ndarray, int]:
        if self._engine is None:
            self._engine = Espeak()
        utt = self._engine.synthesize(text, self._voices[speaker])
        return utt.audio.astype(np.float32) / 32768, utt.sample_rate

    def __getstate__(self):  # the C engine stays in its process
        return {**self.__dict__, "_engine": None}
