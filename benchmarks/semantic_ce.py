"""Teacher-forced cross-entropy of semantic stages on a training run's held-out token cache (nats per id;
chance is ln 512 = 6.24): how well each stage predicts held-out pieces' (or utterances') semantic ids from
the true past, without sampling. It ranks semantic stages trained on one tokenizer (more hours, more steps,
another architecture) in a minute, before any audio is generated.

    python benchmarks/semantic_ce.py STAGE_OR_BUNDLE [...] --tokens runs/piano-mixed/tokens-heldout.safetensors

Each held-out sequence loses its last ``--tail-seconds`` (the recipe's ``stage_tail_seconds``: a piece's
decay and silence) and is cut into whole windows of the stage's length; the figure is the windows' mean.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.stages import load_stage  # noqa: E402


def window_ce(stage, sequences: list[torch.Tensor], tail_frames: int) -> tuple[float, int]:
    """Mean teacher-forced loss over every whole window of ``stage.config.window_frames`` ids, and the count."""
    window, losses = stage.config.window_frames, []
    for ids in sequences:
        ids = ids[:max(0, len(ids) - tail_frames)]
        for start in range(0, len(ids) - window + 1, window):
            losses.append(stage.loss(None, ids[None, None, start:start + window]).item())
    if not losses:
        raise ValueError(f"no held-out sequence is longer than a window of {window} ids")
    return sum(losses) / len(losses), len(losses)


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stages", nargs="+", help="semantic stage folders, or bundles (their semantic/ is used)")
    p.add_argument("--tokens", required=True, help="a work folder's tokens-heldout.safetensors")
    p.add_argument("--tail-seconds", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cache = load_file(a.tokens)
    sequences = torch.split(cache["semantic"].long(), cache["semantic_lengths"].tolist())
    for path in a.stages:
        folder = Path(path) / "semantic" if (Path(path) / "semantic" / "config.json").is_file() else Path(path)
        stage = load_stage(folder).eval()
        ce, windows = window_ce(stage, sequences, round(a.tail_seconds * stage.config.target_rate))
        print(f"{path}: held-out CE {ce:.3f} nats ({windows} windows of {stage.config.window_frames})", flush=True)


if __name__ == "__main__":
    main()
