"""Augmentations behind one interface (:class:`Augmentation`), registered by name: ``speaker``
(pseudo-speakers), ``room``, ``noise``, ``eq``, ``band``; :class:`Condition` draws a recording
condition from the last four."""
from __future__ import annotations

from .band import BandConfig, BandLimit, BandParams
from .base import Augmentation, fit_length
from .condition import Condition, ConditionConfig
from .eq import EqConfig, EqParams, Equalizer
from .noise import Noise, NoiseConfig, NoiseParams
from .registry import AUGMENTATIONS, make_augmentation
from .room import Room, RoomConfig, RoomParams
from .speaker import Speaker, SpeakerConfig, SpeakerParams

__all__ = ["Augmentation", "AUGMENTATIONS", "make_augmentation", "fit_length", "Condition", "ConditionConfig",
           "Speaker", "SpeakerConfig", "SpeakerParams", "Room", "RoomConfig", "RoomParams", "Noise", "NoiseConfig",
           "NoiseParams", "Equalizer", "EqConfig", "EqParams", "BandLimit", "BandConfig", "BandParams"]
