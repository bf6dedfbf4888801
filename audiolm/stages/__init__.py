"""The three AudioLM stages: networks (ids -> logits) wrapped with their token layouts.

A new layout is one class (a ``Stage`` subclass in its own file) and one entry in ``STAGES``.
"""
from .base import ROLES, ProgressFn, Stage, StageSize, StageSpec, stage_specs
from .delay import DelayStage, DelayStageConfig
from .flat import FlatStage, FlatStageConfig
from .interleaved import InterleavedStage
from .parallel_fine import ParallelFineConfig, ParallelFineStage
from .windows import plan_windows

STAGES: dict[str, type[Stage]] = {cls.type_name: cls for cls in (FlatStage, DelayStage, InterleavedStage,
                                                                  ParallelFineStage)}

__all__ = ["DelayStage", "DelayStageConfig", "FlatStage", "FlatStageConfig", "InterleavedStage", "ParallelFineConfig",
           "ParallelFineStage", "ProgressFn", "ROLES", "STAGES", "Stage", "StageSize", "StageSpec", "layout_class",
           "load_stage", "plan_windows", "stage_specs"]


def layout_class(layout: str) -> type[Stage]:
    """The stage class of a layout name (``BundleConfig.fine_layout`` / ``coarse_layout``, ``--fine-layout`` /
    ``--coarse-layout``)."""
    for cls in STAGES.values():
        if cls.layout == layout:
            return cls
    raise ValueError(f"unknown stage layout {layout!r}; one of {', '.join(c.layout for c in STAGES.values())}")


def load_stage(folder) -> Stage:
    """Load the stage a bundle folder holds (its ``config.json`` names the type)."""
    from ..errors import BundleError
    from ..serialization import read_config

    kind = read_config(folder).get("type")
    if kind not in STAGES:
        raise BundleError(f"{folder}: unknown stage type {kind!r} (expected one of {', '.join(map(repr, STAGES))})")
    return STAGES[kind].from_folder(folder)
