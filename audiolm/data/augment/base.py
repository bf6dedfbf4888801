"""The augmentation interface: draw parameters once (a pseudo-speaker, a room), apply them to
as many utterances as should share them."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Augmentation(ABC):
    """One kind of change to a recording, built from one dataclass config.

    ``sample(rng)`` draws a frozen dataclass of parameters; ``apply(wav, sample_rate, params, rng)``
    applies them (``rng`` only for what differs per utterance, e.g. where a noise excerpt starts)
    and returns float32 audio of the same length. Calling the augmentation does both.
    """
    name: str
    config_class: type

    def __init__(self, config=None):
        self.config = config if config is not None else self.config_class()

    @abstractmethod
    def sample(self, rng: np.random.Generator):
        """A frozen dataclass of parameters: one draw of this augmentation."""

    @abstractmethod
    def apply(self, wav: np.ndarray, sample_rate: int, params, rng: np.random.Generator) -> np.ndarray:
        """``wav`` (samples,) float32 changed by ``params``; same length."""

    def __call__(self, wav: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        return self.apply(wav, sample_rate, self.sample(rng), rng)


def fit_length(wav: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad to ``length`` samples, as float32."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)[:length]
    return np.pad(wav, (0, length - len(wav))) if len(wav) < length else wav


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def power(wav: np.ndarray) -> float:
    return float(np.mean(np.square(wav, dtype=np.float64))) if len(wav) else 0.0
