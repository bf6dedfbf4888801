"""Background noise (recorded files, or coloured noise) at a random signal-to-noise ratio."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import colorednoise
import numpy as np
import soundfile as sf
import soxr

from ..shared_data import audio_files, shared_data_path
from .base import Augmentation, fit_length, power


@dataclass
class NoiseConfig:
    snr_db: tuple[float, float] = (10.0, 40.0)  # signal power / noise power over the whole clip
    file_share: float = 0.5  # share of draws that use a recorded noise (when noise_dir has any)
    noise_dir: str = ""  # recorded noises, any rate; "" = ../shared/data/noise where present
    exponents: tuple[float, ...] = (0.0, 1.0, 2.0, -1.0)  # coloured noise 1/f^e: white, pink, brown, blue


@dataclass(frozen=True)
class NoiseParams:
    snr_db: float
    file: str  # a recorded noise's file name, "" for coloured noise
    exponent: float = 0.0


class Noise(Augmentation):
    """Adds noise scaled to ``snr_db``; each utterance gets its own excerpt or noise draw."""
    name = "noise"
    config_class = NoiseConfig

    def __init__(self, config=None):
        super().__init__(config)
        folder = Path(self.config.noise_dir) if self.config.noise_dir else shared_data_path("noise")
        self.files = {p.name: p for p in audio_files(folder)} if folder is not None and folder.is_dir() else {}

    def sample(self, rng: np.random.Generator) -> NoiseParams:
        snr = round(float(rng.uniform(*self.config.snr_db)), 2)
        if self.files and rng.random() < self.config.file_share:
            return NoiseParams(snr, str(rng.choice(sorted(self.files))))
        return NoiseParams(snr, "", float(rng.choice(self.config.exponents)))

    def noise(self, length: int, sample_rate: int, params: NoiseParams, rng: np.random.Generator) -> np.ndarray:
        if not params.file:
            return colorednoise.powerlaw_psd_gaussian(params.exponent, length, random_state=rng).astype(np.float32)
        path = self.files[params.file]
        info = sf.info(path)
        need = math.ceil(length * info.samplerate / sample_rate) + 1
        start = int(rng.integers(0, max(info.frames - need, 0) + 1))
        excerpt, _ = sf.read(path, start=start, frames=need, dtype="float32", always_2d=True)
        excerpt = excerpt.mean(axis=1)
        if info.samplerate != sample_rate:
            excerpt = soxr.resample(excerpt, info.samplerate, sample_rate)
        return fit_length(np.tile(excerpt, math.ceil(length / max(len(excerpt), 1))), length)

    def apply(self, wav, sample_rate, params: NoiseParams, rng: np.random.Generator) -> np.ndarray:
        noise = self.noise(len(wav), sample_rate, params, rng)
        if power(wav) == 0 or power(noise) == 0:
            return np.asarray(wav, dtype=np.float32)
        gain = math.sqrt(power(wav) / (power(noise) * 10 ** (params.snr_db / 10)))
        return (wav + gain * noise).astype(np.float32)
