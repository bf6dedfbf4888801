"""Training a stage of any layout on cached token streams: random windows of each utterance's stream,
cut as the stage's role (``StageSpec``) asks, fed to the stage's own ``loss``."""
from __future__ import annotations

from pathlib import Path

import torch

from ..stages import Stage, StageSpec
from ..styles import Style, style_named
from .data import TokenWindows
from .loop import TrainConfig, Trainer, seeded


def _slice(stream: torch.Tensor, start: int, frames: int) -> torch.Tensor:
    part = stream[:, start:start + frames]
    if part.shape[1] < frames:  # a stream shorter than a window: repeat its last frame
        part = torch.cat([part, part[:, -1:].expand(-1, frames - part.shape[1])], 1)
    return part


def role_window(spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor], stream: int,
                start: int, frames: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(cond, target)`` of one window of ``frames`` target frames from ``start`` of ``stream``, cut for a stage in
    role ``spec``: semantic ids alone (semantic); the semantic ids under a window of codec frames, and its first
    levels (coarse; the start rounded down to a multiple of the frames per semantic id); the first codec levels and
    the rest (fine)."""
    if spec.name == "semantic":
        return None, _slice(semantic[stream], start, frames)
    align = round(spec.target_rate / spec.cond_rate) if spec.cond_rate < spec.target_rate else 1
    start -= start % align
    codes = _slice(acoustic[stream], start, frames)
    target = codes[spec.first_target_level:spec.first_target_level + spec.target_levels]
    if spec.name == "coarse":
        lo, hi = spec.cond_span(0, frames)
        return _slice(semantic[stream], start // align, hi - lo), target
    return codes[:spec.cond_levels], target


def target_streams(spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor]) -> list[torch.Tensor]:
    """The streams whose frames a stage in role ``spec`` predicts (window starts count in their frames)."""
    return semantic if spec.name == "semantic" else acoustic


def window_starts(spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor], frames: int,
                  batch: int, generator: torch.Generator) -> list[tuple[int, int]]:
    """``batch`` random ``(stream, start)`` of windows of ``frames`` target frames."""
    return TokenWindows(target_streams(spec, semantic, acoustic)).starts(batch, frames, generator)


def role_batch(spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor], frames: int,
               batch: int, generator: torch.Generator,
               starts: list[tuple[int, int]] | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``batch`` random windows (``role_window``; or those at ``starts``) stacked into ``(cond, target)``."""
    starts = starts or window_starts(spec, semantic, acoustic, frames, batch, generator)
    windows = [role_window(spec, semantic, acoustic, i, start, frames) for i, start in starts]
    conds, targets = zip(*windows)
    return (None if conds[0] is None else torch.stack(conds)), torch.stack(targets)


def style_batch(spec: StageSpec, style: Style, events: list[torch.Tensor], acoustic: list[torch.Tensor],
                starts: list[tuple[int, int]], frames: int) -> torch.Tensor:
    """The style classes ``(B,)`` of the windows at ``starts``, from ``events`` (per stream, one per semantic id,
    cut as the semantic ids are): of a coarse window's semantic ids, of a semantic window's own frames."""
    if spec.name == "fine":
        raise ValueError("the fine stage reads no style: its windows have no semantic ids to measure it on")
    windows = []
    for i, start in starts:
        cond, target = role_window(spec, events, acoustic, i, start, frames)
        windows.append(cond if cond is not None else target)
    rate = spec.cond_rate if spec.name == "coarse" else spec.target_rate
    return style.classify(torch.cat(windows), rate)


def train_stage(spec: StageSpec, stage_class: type[Stage], config, semantic: list[torch.Tensor],
                acoustic: list[torch.Tensor], run_dir: str | Path, train: TrainConfig,
                events: list[torch.Tensor] | None = None) -> Stage:
    """Train a ``stage_class(config)`` in role ``spec`` (resuming from ``run_dir``); a stage with a style reads
    its windows' classes measured on ``events`` (``TrainingRun.style_streams``)."""
    with seeded(train.seed):
        stage = stage_class(config)
        if (stage.style is None) != (events is None):
            raise ValueError(f"the {spec.name} stage's style is {stage.style!r}: "
                             + ("it needs the style's events" if events is None else "it takes no events"))
        trainer = Trainer(stage, run_dir, train, export=stage.save_pretrained,
                          description=f"{spec.name} stage ({stage.layout})")

        def step(_, generator):
            frames = config.window_frames
            starts = window_starts(spec, semantic, acoustic, frames, train.batch_size, generator)
            cond, target = role_batch(spec, semantic, acoustic, frames, train.batch_size, generator, starts)
            cond = None if cond is None else cond.to(trainer.device)
            if events is None:
                return stage.loss(cond, target.to(trainer.device), generator), {}
            style = style_batch(spec, style_named(stage.style), events, acoustic, starts, frames).to(trainer.device)
            return stage.loss(cond, target.to(trainer.device), generator, style=style), {}

        trainer.run(step)
    return stage
