"""Pseudo-speakers: formant and pitch changes with Praat's "Change gender" (as in ContentVec)."""
from __future__ import annotations

import math
import os
import select
import signal
import time
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
        seed = int(rng.integers(2**31)) if rng is not None else 0
        timeout = 5.0 + len(wav) / sample_rate
        # Praat's "Change gender" never returns on a few real recordings with some widened pitch ranges
        # (e.g. formant ratio 1.26, range x1.47): run it in a child process with a deadline, then retry
        # with the range kept, and keep the recording as it is if that hangs too.
        for range_factor in dict.fromkeys((params.range_factor, 1.0)):
            changed = _with_deadline(lambda: _change_gender(sound, c, params.formant_ratio, new_median,
                                                            range_factor, seed), timeout)
            if changed is not None:
                return fit_length(changed, len(wav))
        return np.asarray(wav, dtype=np.float32).copy()


def _change_gender(sound, c: SpeakerConfig, formant_ratio: float, new_median: float, range_factor: float,
                   seed: int) -> np.ndarray:
    # Praat's resynthesis draws random numbers from its own process-wide generator: seed it for this one
    # call (reproducible output), then hand it back to unpredictable seeding
    run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
    try:
        changed = call(sound, "Change gender", c.pitch_floor, c.pitch_ceiling, formant_ratio, new_median,
                       range_factor, 1.0)
    finally:
        run("random_initializeSafelyAndUnpredictably ()")
    return changed.values[0]


def _with_deadline(fn, seconds: float) -> np.ndarray | None:
    """``fn()`` (a float64 array) computed in a forked child, or None if it takes longer than ``seconds``
    (the child is killed). ``os.fork`` rather than multiprocessing: corpus workers are daemonic processes."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write the bytes, leave without running the parent's cleanup
        code = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                out.write(np.ascontiguousarray(fn(), dtype=np.float64).tobytes())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + seconds
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return np.frombuffer(b"".join(chunks), dtype=np.float64) if status == 0 else None
