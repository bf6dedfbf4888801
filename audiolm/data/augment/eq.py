"""Random equalization: peaking bands and low / high shelves (pedalboard's biquads)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pedalboard

from .base import Augmentation, fit_length, log_uniform

FILTERS = {"peak": pedalboard.PeakFilter, "low_shelf": pedalboard.LowShelfFilter,
           "high_shelf": pedalboard.HighShelfFilter}


@dataclass
class EqConfig:
    peaks: tuple[int, int] = (1, 3)  # number of peaking bands
    gain_db: float = 9.0  # every band's gain from [-g, g]
    peak_hz: tuple[float, float] = (150.0, 6000.0)  # log-uniform
    q: tuple[float, float] = (0.5, 3.0)
    shelf_chance: float = 0.5  # of each shelf
    low_shelf_hz: tuple[float, float] = (80.0, 400.0)
    high_shelf_hz: tuple[float, float] = (2000.0, 6000.0)


@dataclass(frozen=True)
class EqParams:
    bands: tuple[tuple[str, float, float, float], ...]  # (filter, Hz, dB, Q)


class Equalizer(Augmentation):
    name = "eq"
    config_class = EqConfig

    def sample(self, rng: np.random.Generator) -> EqParams:
        c = self.config

        def band(kind: str, hz: tuple[float, float], q: float) -> tuple[str, float, float, float]:
            return kind, round(log_uniform(rng, *hz), 1), round(float(rng.uniform(-c.gain_db, c.gain_db)), 2), q

        bands = [band("peak", c.peak_hz, round(log_uniform(rng, *c.q), 3))
                 for _ in range(int(rng.integers(c.peaks[0], c.peaks[1] + 1)))]
        for kind, hz in (("low_shelf", c.low_shelf_hz), ("high_shelf", c.high_shelf_hz)):
            if rng.random() < c.shelf_chance:
                bands.append(band(kind, hz, 0.7071))
        return EqParams(tuple(bands))

    def apply(self, wav, sample_rate, params: EqParams, rng=None) -> np.ndarray:
        board = pedalboard.Pedalboard([FILTERS[kind](cutoff_frequency_hz=min(hz, 0.45 * sample_rate), gain_db=db, q=q)
                                       for kind, hz, db, q in params.bands])
        return fit_length(board(np.asarray(wav, dtype=np.float32)[None], sample_rate)[0], len(wav))
