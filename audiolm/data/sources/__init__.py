"""Speech sources behind one interface (:class:`SpeechSource`), registered by name.

``real``: folders of recordings; ``espeak``, ``flite``, ``festival``: synthesizers reading the
sentence generator's sentences. ``make_source("flite")`` builds one with its default config.
"""
from __future__ import annotations

from .base import Item, SpeechSource
from .espeak_ng import EspeakSource, EspeakSourceConfig
from .festival import FestivalSource, FestivalSourceConfig, installed_festival_voices
from .flite import FliteSource, FliteSourceConfig, installed_flite_voices
from .real import RealSource, RealSourceConfig, default_real_speech_dirs

SOURCES: dict[str, type[SpeechSource]] = {cls.name: cls for cls in (RealSource, EspeakSource, FliteSource,
                                                                   FestivalSource)}


def make_source(name: str, config=None, sample_rate: int = 16000) -> SpeechSource:
    """The source registered as ``name`` (RuntimeError with the install command if its engine is missing)."""
    if name not in SOURCES:
        raise ValueError(f"unknown speech source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name](config, sample_rate)


__all__ = ["Item", "SpeechSource", "SOURCES", "make_source", "RealSource", "RealSourceConfig", "EspeakSource",
           "EspeakSourceConfig", "FliteSource", "FliteSourceConfig", "FestivalSource", "FestivalSourceConfig",
           "default_real_speech_dirs", "installed_flite_voices", "installed_festival_voices"]
