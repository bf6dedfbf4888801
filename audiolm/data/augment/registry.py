"""Augmentations by name."""
from __future__ import annotations

from .band import BandLimit
from .base import Augmentation
from .eq import Equalizer
from .noise import Noise
from .room import Room
from .speaker import Speaker

AUGMENTATIONS: dict[str, type[Augmentation]] = {cls.name: cls for cls in (Speaker, Room, Noise, Equalizer,
                                                                         BandLimit)}


def make_augmentation(name: str, config=None) -> Augmentation:
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; known: {sorted(AUGMENTATIONS)}")
    return AUGMENTATIONS[name](config)
