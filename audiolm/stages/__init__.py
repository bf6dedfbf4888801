"""The three AudioLM stages: networks (ids -> logits) wrapped with their token layouts."""
from .flat import FlatStage, FlatStageConfig
from .windows import plan_windows
from .parallel_fine import ParallelFineStage, ParallelFineConfig

__all__ = ["FlatStage", "FlatStageConfig", "ParallelFineStage", "ParallelFineConfig", "load_stage", "plan_windows"]


def load_stage(folder):
    """Load the stage a bundle folder holds (its ``config.json`` names the type)."""
    from ..errors import BundleError
    from ..serialization import read_config

    kind = read_config(folder).get("type")
    if kind == "flat":
        return FlatStage.from_folder(folder)
    if kind == "parallel_fine":
        return ParallelFineStage.from_folder(folder)
    raise BundleError(f"{folder}: unknown stage type {kind!r} (expected 'flat' or 'parallel_fine')")
