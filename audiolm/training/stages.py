"""Training a stage of any layout on cached token streams: random windows of each utterance's stream,
cut as the stage's role (``StageSpec``) asks, fed to the stage's own ``loss``."""
from __future__ import annotations

from pathlib import Path

import torch

from ..stages import Stage, StageSpec
from .data import TokenWindows
from .loop import TrainConfig, Trainer, seeded


def _slice(stream: torch.Tensor, start: int, frames: int) -> torch.Tensor:
    part = stream[:, start:start + frames]
    if part.shape[1] < frames:  # a stream shorter than a window: repeat its last frame
        part = torch.cat([part, part[:, -1:].expand(-1, frames - part.shape[1])], 1)
    return part


def role_batch(spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor], frames: int,
               batch: int, generator: torch.Generator) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(cond, target)`` of ``batch`` random windows of ``frames`` target frames for a stage in role ``spec``:
    semantic ids alone (semantic); the semantic ids under a window of codec frames, and its first levels
    (coarse); the first codec levels and the rest (fine)."""
    if spec.name == "semantic":
        windows = TokenWindows(semantic)
        picks = windows.starts(batch, frames, generator)
        return None, torch.stack([_slice(windows.streams[i], s, frames) for i, s in picks])
    windows = TokenWindows(acoustic)
    align = round(spec.target_rate / spec.cond_rate) if spec.cond_rate < spec.target_rate else 1
    picks = [(i, start - start % align) for i, start in windows.starts(batch, frames, generator)]
    codes = torch.stack([_slice(windows.streams[i], start, frames) for i, start in picks])
    target = codes[:, spec.first_target_level:spec.first_target_level + spec.target_levels]
    if spec.name == "coarse":  # cond frames start on a multiple of align target frames
        lo, hi = spec.cond_span(0, frames)
        return torch.stack([_slice(semantic[i], start // align, hi - lo) for i, start in picks]), target
    return codes[:, :spec.cond_levels], target


def train_stage(spec: StageSpec, stage_class: type[Stage], config, semantic: list[torch.Tensor],
                acoustic: list[torch.Tensor], run_dir: str | Path, train: TrainConfig) -> Stage:
    """Train a ``stage_class(config)`` in role ``spec`` (resuming from ``run_dir``)."""
    with seeded(train.seed):
        stage = stage_class(config)
        trainer = Trainer(stage, run_dir, train, export=stage.save_pretrained,
                          description=f"{spec.name} stage ({stage.layout})")

        def step(_, generator):
            cond, target = role_batch(spec, semantic, acoustic, config.window_frames, train.batch_size, generator)
            cond = None if cond is None else cond.to(trainer.device)
            return stage.loss(cond, target.to(trainer.device), generator), {}

        trainer.run(step)
    return stage
