"""Test signals shared by the tests, the benchmarks and ``bench`` (no corpus, no files needed)."""
from __future__ import annotations

import numpy as np


def synthetic_voice(seconds: float, sample_rate: int, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """A voiced-like test signal: harmonic tone with a wandering pitch around ``f0``, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = f0 + 0.2 * f0 * np.sin(2 * np.pi * (0.5 + 0.5 * rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 + 0.01 * rng.standard_normal(len(t))
    return wav.astype(np.float32)
