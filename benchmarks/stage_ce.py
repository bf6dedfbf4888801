"""Teacher-forced cross-entropy of stages on a training run's held-out tokens (nats per id; chance is ln 512 = 6.24
for 512 ids): how well each stage predicts held-out pieces' (or utterances') ids from the true past and the true
cond (semantic ids under the coarse stage's window, the first levels under the fine stage's), without sampling.
It ranks stages of one role trained on one tokenizer and codec (more hours, more steps, another architecture)
in a minute or two, before any audio is generated.

    python benchmarks/stage_ce.py STAGE_OR_BUNDLE [...] --role coarse --work runs/piano-mixed --data data/piano-mixed

The held-out split's streams as the stages train on them (``TrainingRun.stage_streams``: per piece or speaker,
without the recipe's ``stage_tail_seconds``; the run's token cache, tokenized first if it is missing or stale)
are cut into back-to-back windows of the stage's length, as the training loop cuts its random ones
(``role_window``); the figure is the windows' mean. A stage whose loss draws (the parallel fine stage scores
one random level per window) draws from a fixed seed, so a figure repeats. A stage with a style (``audiolm.styles``)
reads each window's class, measured on the held-out audio as training measures it (``TrainingRun.style_streams``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.stages import StageSpec, load_stage, stage_specs  # noqa: E402
from audiolm.training.run import TrainingRun  # noqa: E402
from audiolm.styles import style_named  # noqa: E402
from audiolm.training.stages import role_window, style_batch, target_streams  # noqa: E402


def window_ce(stage, spec: StageSpec, semantic: list[torch.Tensor], acoustic: list[torch.Tensor],
              events: list[torch.Tensor] | None = None) -> tuple[float, int]:
    """Mean teacher-forced loss over every whole window of ``stage.config.window_frames`` target frames of the
    streams, and the count; a stage with a style reads each window's class, measured on ``events``."""
    frames, losses = stage.config.window_frames, []
    streams = target_streams(spec, semantic, acoustic)
    generator = torch.Generator().manual_seed(0)  # for stages whose loss draws (the parallel fine stage's level)
    for i, stream in enumerate(streams):
        for start in range(0, stream.shape[1] - frames + 1, frames):
            cond, target = role_window(spec, semantic, acoustic, i, start, frames)
            style = {} if events is None else \
                {"style": style_batch(spec, style_named(stage.style), events, acoustic, [(i, start)], frames)}
            losses.append(stage.loss(None if cond is None else cond[None], target[None], generator, **style).item())
    if not losses:
        raise ValueError(f"no held-out stream is longer than a window of {frames} frames")
    return sum(losses) / len(losses), len(losses)


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stages", nargs="+", help="stage folders, or bundles (their folder of --role is used)")
    p.add_argument("--role", default="semantic", choices=["semantic", "coarse", "fine"])
    p.add_argument("--work", required=True, help="the training run's work folder (recipe, tokenizer, token cache)")
    p.add_argument("--data", required=True, help="its corpus")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    run = TrainingRun(a.work, a.data)
    spec = stage_specs(run.recipe.bundle)[a.role]
    semantic, acoustic = run.stage_streams(run.recipe.heldout_split)
    for path in a.stages:
        folder = Path(path) / a.role if (Path(path) / a.role / "config.json").is_file() else Path(path)
        stage = load_stage(folder).eval()
        events = None if stage.style is None else run.style_streams(run.recipe.heldout_split, stage.style)
        ce, windows = window_ce(stage, spec, semantic, acoustic, events)
        print(f"{path}: {a.role} held-out CE {ce:.3f} nats ({windows} windows of {stage.config.window_frames} "
              "frames)", flush=True)


if __name__ == "__main__":
    main()
