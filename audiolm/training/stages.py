"""Training the three stages on cached token streams (random windows of each speaker's stream)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..stages import FlatStage, FlatStageConfig, ParallelFineConfig, ParallelFineStage
from .data import TokenWindows
from .loop import TrainConfig, Trainer


def _acoustic_windows(acoustic: list[torch.Tensor], frames: int, batch: int, generator, align: int = 1):
    """Random ``(B, Q, frames)`` windows, starting on multiples of ``align`` frames; and their starts."""
    windows = TokenWindows(acoustic)
    picks = windows.starts(batch, frames, generator)
    picks = [(i, start - start % align) for i, start in picks]
    return torch.stack([_slice(windows.streams[i], start, frames) for i, start in picks]), picks, windows


def _slice(stream: torch.Tensor, start: int, frames: int) -> torch.Tensor:
    part = stream[:, start:start + frames]
    if part.shape[1] < frames:  # a stream shorter than a window: repeat its last frame
        part = torch.cat([part, part[:, -1:].expand(-1, frames - part.shape[1])], 1)
    return part


def train_flat_stage(config: FlatStageConfig, semantic: list[torch.Tensor], acoustic: list[torch.Tensor],
                     run_dir: str | Path, train: TrainConfig) -> FlatStage:
    """Semantic (cond none), coarse (cond semantic) or autoregressive fine (cond coarse) stage."""
    torch.manual_seed(train.seed)
    stage = FlatStage(config)
    trainer = Trainer(stage, run_dir, train, export=stage.save_pretrained, description=f"{config.name} stage")
    c = config
    ratio = c.target_rate / c.cond_rate if c.cond_levels else 1

    def step(_, generator):
        if c.name == "semantic":
            windows = TokenWindows(semantic)
            picks = windows.starts(train.batch_size, c.window_frames, generator)
            target = torch.stack([_slice(windows.streams[i], s, c.window_frames) for i, s in picks])
            return stage.loss(None, target.to(trainer.device)), {}
        align = round(ratio) if c.cond_rate < c.target_rate else 1
        codes, picks, _ = _acoustic_windows(acoustic, c.window_frames, train.batch_size, generator, align)
        target = codes[:, c.first_target_level:c.first_target_level + c.target_levels]
        if c.cond_rate < c.target_rate:  # coarse: the semantic ids under the window
            lo, hi = c.cond_span(0, c.window_frames)
            cond = torch.stack([_slice(semantic[i], start // align, hi - lo) for i, start in picks])
        else:  # autoregressive fine: the coarse levels of the same frames
            cond = codes[:, :c.cond_levels]
        return stage.loss(cond.to(trainer.device), target.to(trainer.device)), {}

    trainer.run(step)
    return stage


def train_parallel_fine(config: ParallelFineConfig, acoustic: list[torch.Tensor], run_dir: str | Path,
                        train: TrainConfig) -> ParallelFineStage:
    torch.manual_seed(train.seed)
    stage = ParallelFineStage(config)
    trainer = Trainer(stage, run_dir, train, export=stage.save_pretrained, description="fine stage (parallel)")

    def step(_, generator):
        codes, _, _ = _acoustic_windows(acoustic, config.window_frames, train.batch_size, generator)
        return stage.loss(codes.to(trainer.device), generator), {}

    trainer.run(step)
    return stage

