"""A recording condition: a random subset of room, noise, EQ and band limit, drawn once and
applied to every utterance of one speaker-session."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .band import BandConfig
from .eq import EqConfig
from .noise import NoiseConfig
from .registry import make_augmentation
from .room import RoomConfig


@dataclass
class ConditionConfig:
    # chance of each augmentation in a condition, in the order they are applied (room, then noise
    # in the room, then the device's EQ and band)
    chances: dict[str, float] = field(default_factory=lambda: {"room": 0.6, "noise": 0.7, "eq": 0.5, "band": 0.3})
    room: RoomConfig = field(default_factory=RoomConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    eq: EqConfig = field(default_factory=EqConfig)
    band: BandConfig = field(default_factory=BandConfig)


class Condition:
    def __init__(self, config: ConditionConfig = None):
        self.config = config if config is not None else ConditionConfig()
        self.steps = {name: make_augmentation(name, getattr(self.config, name)) for name in self.config.chances}

    def sample(self, rng: np.random.Generator) -> dict:
        """{augmentation name: params} for those drawn (may be empty: a clean recording)."""
        return {name: self.steps[name].sample(rng) for name, chance in self.config.chances.items()
                if rng.random() < chance}

    def apply(self, wav: np.ndarray, sample_rate: int, params: dict, rng: np.random.Generator) -> np.ndarray:
        for name in self.config.chances:  # the configured order, whatever order params has
            if name in params:
                wav = self.steps[name].apply(wav, sample_rate, params[name], rng)
        return wav

    @staticmethod
    def describe(params: dict) -> dict:
        """JSON-ready {name: {param: value}}."""
        return {name: asdict(p) for name, p in params.items()}
