"""flite (Debian package ``flite``) voices as a speech source, through its command line."""
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
class FliteSourceConfig:
    voices: tuple[str, ...] = ("kal", "kal16", "awb", "rms", "slt")  # those installed are used
    min_sentences: int = 1
    max_sentences: int = 3


def installed_flite_voices() -> list[str]:
    """The voices ``flite -lv`` lists ([] when flite is missing)."""
    if shutil.which("flite") is None:
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    return out.split(":", 1)[-1].split()


class FliteSource(SyntheticSource):
    name = "flite"
    config_class = FliteSourceConfig

    def __init__(self, config=None, sample_rate: int = 16000):
        super().__init__(config, sample_rate)
        installed = installed_flite_voices()
        self._voices = [v for v in self.config.voices if v in installed]
        if not self._voices:
            raise RuntimeError(f"flite with the voices {self.config.voices} is missing: install the Debian "
                               "package flite (apt-get install flite)")

    def speakers(self) -> list[str]:
        return list(self._voices)

    def synthesize(self, text: str, speaker: str) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "out.wav"
            subprocess.run(["flite", "-voice", speaker, "-t", text, "-o", str(path)], check=True,
                           capture_output=True)
            audio, sample_rate = sf.read(path, dtype="float32")
        return audio, sample_rate
