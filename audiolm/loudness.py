"""Inputs brought into the loudness range a bundle was trained on (``BundleConfig.input_loudness``).

The stages read a prompt's codec ids, and those change with its level: the speech stages lose most of the voice
of a prompt 34 dB quieter than the test-other readers' (the reader nearest for 37 % of its continuations, 89 % at
the readers' own level), as no training utterance is that quiet. So an input whose integrated loudness
(ITU-R BS.1770, measured with pyloudnorm) lies outside the training corpus' range is scaled to the range's
nearest edge before it is tokenized, and the output is scaled back by the inverse gain: the caller hears their
own level (the same prompts: 87 %; ``benchmarks/input_loudness.py``). Inputs inside the range are left exactly
as given.
"""
from __future__ import annotations

import numpy as np
import pyloudnorm

BLOCK_SECONDS = 0.4  # BS.1770's gating block: shorter audio has no integrated loudness


def loudness_gain(wav: np.ndarray, sample_rate: int, lufs_range: tuple[float, ...]) -> float:
    """The linear gain that brings ``wav`` into ``lufs_range`` (``(low, high)`` LUFS): 1 inside it, with no range
    (``()``), for audio shorter than one 400 ms block, and for silence (gated out entirely). A raising gain stops
    where the peak would reach 0.99, so the scaled input never clips."""
    if not lufs_range or len(wav) < BLOCK_SECONDS * sample_rate:
        return 1.0
    low, high = lufs_range
    loudness = pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(wav, dtype=np.float64))
    if not np.isfinite(loudness) or low <= loudness <= high:
        return 1.0
    gain = 10 ** ((min(max(loudness, low), high) - loudness) / 20)
    if gain > 1:
        gain = max(1.0, min(gain, 0.99 / float(np.abs(wav).max())))
    return float(gain)
