"""Styles: one token per window telling an autoregressive stage a global property of the audio it continues.

A stage whose config names a style reads, at position 0 of every window (BOS's place), the class of that
property: in training measured on the window itself, at sampling on the prompt (or the input of acoustic
generation). Why: the piano coarse stage continued a 4 s prompt at a note rate of its own, even given the
true semantic ids of the next 6 s (onset-rate error 0.30 against the bar of 0.25, most of it spread rather
than bias); the ids mark onsets only weakly and the acoustic prompt alone did not carry the tempo over.
Told the prompt's onset rate, it plays at that rate (``benchmarks/results/piano-mixed-progress.json``,
``tempo_token_coarse_stage_2026_12_06``).

A style measures per-frame *events* on audio (``frame_events``, at the semantic rate, so that training caches
them beside the semantic ids and cuts them as it cuts those) and classifies a window of them (``classify``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import torch


class Style(Protocol):
    name: ClassVar[str]
    classes: int

    def frame_events(self, wav: np.ndarray, sample_rate: int, frames: int, frame_rate: float) -> torch.Tensor:
        """``(frames,)`` int64 events of ``wav`` per frame of ``1 / frame_rate`` s."""

    def classify(self, events: torch.Tensor, frame_rate: float) -> torch.Tensor:
        """``events (B, T)`` -> classes ``(B,)`` in ``[0, classes)``."""


@dataclass(frozen=True)
class OnsetRate:
    """Note onsets per second in log2 bins: class 0 at ``lowest`` or fewer, then one every ``step`` octaves (30 bins
    of 0.2: 0.5 to 27 onsets per second). Onsets: the evaluation's SuperFlux detector (``evaluation.music``), which
    counts 1.00x the MIDI's onsets on held-out pieces; at most one per frame (40 ms at 25 Hz)."""
    name: ClassVar[str] = "onset_rate"
    classes: int = 30
    lowest: float = 0.5
    step: float = 0.2

    def frame_events(self, wav: np.ndarray, sample_rate: int, frames: int, frame_rate: float,
                     hop: int = 256) -> torch.Tensor:
        from .evaluation.music import onset_times
        times = onset_times(np.asarray(wav, dtype=np.float32), sample_rate, hop)
        at = np.floor(times * frame_rate).astype(np.int64)
        events = torch.zeros(frames, dtype=torch.long)
        events[torch.from_numpy(at[at < frames])] = 1
        return events

    def classify(self, events: torch.Tensor, frame_rate: float) -> torch.Tensor:
        if events.shape[-1] == 0:
            raise ValueError("a style needs at least one frame of events")
        rate = events.float().sum(-1) * frame_rate / events.shape[-1]
        octaves = torch.log2(rate.clamp_min(self.lowest) / self.lowest)
        return (octaves / self.step).round().long().clamp(0, self.classes - 1)


STYLES: dict[str, Style] = {OnsetRate.name: OnsetRate()}


def style_named(name: str) -> Style:
    if name not in STYLES:
        raise ValueError(f"unknown style {name!r}; one of {', '.join(map(repr, STYLES))}")
    return STYLES[name]
