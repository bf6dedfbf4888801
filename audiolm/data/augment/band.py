"""Band limits: telephone (300-3400 Hz and the GSM codec), low-pass and high-pass."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard
from scipy.signal import butter, sosfilt

from .base import Augmentation, fit_length, log_uniform

CODECS = {"gsm": pedalboard.GSMFullRateCompressor}


@dataclass
class BandConfig:
    kinds: tuple[str, ...] = ("telephone", "lowpass", "highpass")  # drawn uniformly
    telephone_hz: tuple[float, float] = (300.0, 3400.0)
    lowpass_hz: tuple[float, float] = (3000.0, 7000.0)  # cutoff, log-uniform
    highpass_hz: tuple[float, float] = (60.0, 300.0)
    order: int = 8  # Butterworth


@dataclass(frozen=True)
class BandParams:
    low_hz: float  # high-pass cutoff, 0 = none
    high_hz: float  # low-pass cutoff, 0 = none
    codec: str = ""  # "" or a name in CODECS


class BandLimit(Augmentation):
    name = "band"
    config_class = BandConfig

    def sample(self, rng: np.random.Generator) -> BandParams:
        c = self.config
        draws = {"telephone": lambda: BandParams(*c.telephone_hz, "gsm"),
                 "lowpass": lambda: BandParams(0.0, round(log_uniform(rng, *c.lowpass_hz), 1)),
                 "highpass": lambda: BandParams(round(log_uniform(rng, *c.highpass_hz), 1), 0.0)}
        return draws[str(rng.choice(c.kinds))]()

    def apply(self, wav, sample_rate, params: BandParams, rng=None) -> np.ndarray:
        nyquist = sample_rate / 2
        low, high = params.low_hz, params.high_hz if 0 < params.high_hz < nyquist else 0.0
        edges = {(True, True): ([low, high], "bandpass"), (True, False): (low, "highpass"),
                 (False, True): (high, "lowpass")}.get((low > 0, high > 0))
        out = np.asarray(wav, dtype=np.float32)
        if edges is not None:
            out = sosfilt(butter(self.config.order, edges[0], edges[1], fs=sample_rate, output="sos"), out)
        if params.codec:
            out = CODECS[params.codec]()(np.asarray(out, dtype=np.float32)[None], sample_rate)[0]
        return fit_length(out, len(wav))
