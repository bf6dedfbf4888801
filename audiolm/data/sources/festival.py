"""festival (Debian packages ``festival`` and its ``festvox-*`` voices) as a speech source."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .synthetic import SyntheticSource


@dataclass
class FestivalSourceConfig:
    # festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts; those installed are used
    voices: tuple[str, ...] = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
    min_sentences: int = 1
    max_sentences: int = 3


def installed_festival_voices() -> list[str]:
    """The voices festival's ``(voice.list)`` names ([] when festival is missing)."""
    if shutil.which("festival") is None or shutil.which("text2wave") is None:
        return []
    out = subprocess.run(["festival", "--pipe"], input="(print (voice.list))", capture_output=True,
                         text=True, check=True).stdout
    return out.strip().strip("()").split()


class FestivalSource(SyntheticSource):
    name = "festival"
    config_class = FestivalSourceConfig

    def __init__(self, config=None, sample_rate: int = 16000):
        super().__init__(config, sample_rate)
        installed = installed_festival_voices()
        self._voices = [v for v in self.config.voices if v in installed]
        if not self._voices:
            raise RuntimeError(f"festival with the voices {self.config.voices} is missing: install the Debian "
                               "packages festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts")

    def speakers(self) -> list[str]:
        return list(self._voices)

    def synthesize(self, text: str, speaker: str) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "out.wav"
            subprocess.run(["text2wave", "-eval", f"(voice_{speaker})", "-o", str(path)], input=text.encode(),
                           check=True, capture_output=True)
            audio, sample_rate = sf.read(path, dtype="float32")
        return audio, sample_rate
