"""Pseudo-speakers: formant and pitch changes with Praat's "Change gender" (as in ContentVec)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import parselmouth
from parselmouth.praat import call, run

from .base import Augmentation, fit_length


@dataclass
class SpeakerConfig:
    formant_ratio: float = 1.4  # formant shift ratio drawn from [1/r, r] (ContentVec: U(1, 1.4) or its inverse)
    pitch_ratio: float = 1.8  # new pitch median = source median x a factor from [1/r, r]
    range_ratio: float = 1.5  # pitch range factor from [1/r, r]
    median_limits: tuple[float, float] = (65.0, 420.0)  # the new median is kept within these (Hz)
    pitch_floor: float = 75.0  # Praat's pitch analysis (Hz)
    pitch_ceiling: float = 600.0


@dataclass(frozen=True)
class SpeakerParams:
    """One pseudo-speaker: applied to every utterance of one source speaker."""
    formant_ratio: float
    pitch_factor: float
    range_factor: float


def _draw(rng: np.random.Generator, ratio: float) -> float:
    """1..ratio or its inverse, each half of the time (ContentVec's draw)."""
    value = float(rng.uniform(1.0, ratio))
    return value if rng.random() < 0.5 else 1.0 / value


class Speaker(Augmentation):
    """A new voice from a recording: formants scaled by ``formant_ratio``, the pitch median by
    ``pitch_factor`` and the pitch range by ``range_factor`` (duration kept)."""
    name = "speaker"
    config_class = SpeakerConfig

    def sample(self, rng: np.random.Generator) -> SpeakerParams:
        c = self.config
        return SpeakerParams(_draw(rng, c.formant_ratio), _draw(rng, c.pitch_ratio), _draw(rng, c.range_ratio))

    def apply(self, wav, sample_rate, params: SpeakerParams, rng=None) -> np.ndarray:
        c = self.config
        sound = parselmouth.Sound(np.asarray(wav, dtype=np.float64), sampling_frequency=sample_rate)
        median = call(sound.to_pitch(pitch_floor=c.pitch_floor, pitch_ceiling=c.pitch_ceiling),
                      "Get quantile", 0, 0, 0.5, "Hertz")
        new_median = 0.0 if math.isnan(median) else float(np.clip(median * params.pitch_factor, *c.median_limits))
        # Praat's resynthesis draws random numbers from its own process-wide generator: seed it from
        # ``rng`` for this one call (reproducible output), then hand it back to unpredictable seeding
        run(f"random_initializeWithSeedUnsafelyButPredictably ({int(rng.integers(2**31)) if rng is not None else 0})")
        try:
            changed = call(sound, "Change gender", c.pitch_floor, c.pitch_ceiling, params.formant_ratio, new_median,
                           params.range_factor, 1.0)
        finally:
            run("random_initializeSafelyAndUnpredictably ()")
        return fit_length(changed.values[0], len(wav))
