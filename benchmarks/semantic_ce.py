"""Teacher-forced cross-entropy of semantic stages on a training run's held-out tokens (nats per id;
chance is ln 512 = 6.24): how well each stage predicts held-out pieces' (or utterances') semantic ids from
the true past, without sampling. It ranks semantic stages trained on one tokenizer (more hours, more steps,
another architecture) in a minute, before any audio is generated.

    python benchmarks/semantic_ce.py STAGE_OR_BUNDLE [...] --work runs/piano-mixed --data data/piano-mixed

The held-out split's streams as the stages train on them (``TrainingRun.stage_streams``: per piece or speaker,
without the recipe's ``stage_tail_seconds``; the run's token cache, tokenized first if it is missing or stale)
are cut into whole windows of the stage's length; the figure is the windows' mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.stages import load_stage  # noqa: E402
from audiolm.training.run import TrainingRun  # noqa: E402


def window_ce(stage, streams: list[torch.Tensor]) -> tuple[float, int]:
    """Mean teacher-forced loss over every whole window of ``stage.config.window_frames`` ids of the ``(1, T)``
    streams, and the count."""
    window, losses = stage.config.window_frames, []
    for ids in streams:
        for start in range(0, ids.shape[1] - window + 1, window):
            losses.append(stage.loss(None, ids[None, :, start:start + window]).item())
    if not losses:
        raise ValueError(f"no held-out sequence is longer than a window of {window} ids")
    return sum(losses) / len(losses), len(losses)


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stages", nargs="+", help="semantic stage folders, or bundles (their semantic/ is used)")
    p.add_argument("--work", required=True, help="the training run's work folder (recipe, tokenizer, token cache)")
    p.add_argument("--data", required=True, help="its corpus")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    run = TrainingRun(a.work, a.data)
    streams, _ = run.stage_streams(run.recipe.heldout_split)
    for path in a.stages:
        folder = Path(path) / "semantic" if (Path(path) / "semantic" / "config.json").is_file() else Path(path)
        stage = load_stage(folder).eval()
        ce, windows = window_ce(stage, streams)
        print(f"{path}: held-out CE {ce:.3f} nats ({windows} windows of {stage.config.window_frames})", flush=True)


if __name__ == "__main__":
    main()
