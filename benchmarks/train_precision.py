"""Seconds per training step of stages in float32 and under bfloat16 autocast (``TrainConfig.precision``), on this
machine: forward, backward and an AdamW step of one batch of random ids of the stage's window, the two precisions
alternated (best of ``--repeats`` each), plus how far a bfloat16 step's loss and gradient are from float32's at
the same weights.

    python benchmarks/train_precision.py checkpoints/piano/coarse checkpoints/speech/coarse [--batch 8] [--sizes 256x4]

``--sizes DxL`` also times the first stage rebuilt at other widths and depths (random weights), for choosing a
size. bfloat16 only pays on a device that computes it in hardware (``audiolm.training.loop.native_bfloat16``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.stages import load_stage  # noqa: E402
from audiolm.training.loop import native_bfloat16  # noqa: E402


def random_batch(stage, batch: int, generator: torch.Generator):
    c = stage.config
    if not hasattr(c, "cond_levels"):
        raise SystemExit(f"{c.name} stage ({stage.type_name}): only the stream stages (semantic, coarse) are timed")
    frames = c.window_frames
    cond = None
    if c.cond_levels:
        lo, hi = c.cond_span(0, frames)  # the cond frames a window of ``frames`` target frames reads
        cond = torch.randint(0, c.cond_codebook, (batch, c.cond_levels, hi - lo), generator=generator)
    target = torch.randint(0, c.target_codebook, (batch, c.target_levels, frames), generator=generator)
    return cond, target


def loss_under(stage, cond, target, bfloat16: bool) -> torch.Tensor:
    """The stage's training loss, its matrix products in bfloat16 or not (as ``Trainer.run``'s autocast)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
        return stage.loss(cond, target, torch.Generator().manual_seed(0))


def step_seconds(stage, cond, target, bfloat16: bool, optimizer) -> float:
    started = time.perf_counter()
    loss = loss_under(stage, cond, target, bfloat16)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - started


def loss_and_gradient(stage, cond, target, bfloat16: bool):
    stage.zero_grad(set_to_none=True)
    loss = loss_under(stage, cond, target, bfloat16)
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in stage.parameters() if p.grad is not None])


def measure(stage, batch: int, repeats: int) -> dict:
    stage.train()
    cond, target = random_batch(stage, batch, torch.Generator().manual_seed(0))
    loss32, grad32 = loss_and_gradient(stage, cond, target, False)
    loss16, grad16 = loss_and_gradient(stage, cond, target, True)
    optimizer = torch.optim.AdamW(stage.parameters(), lr=1e-5)  # tiny steps: the weights stay about the same
    step_seconds(stage, cond, target, False, optimizer)  # warm-up of both paths
    step_seconds(stage, cond, target, True, optimizer)
    times = {False: [], True: []}
    for _ in range(repeats):
        for bfloat16 in (False, True):
            times[bfloat16].append(step_seconds(stage, cond, target, bfloat16, optimizer))
    f32, b16 = min(times[False]), min(times[True])
    return {"params_millions": round(sum(p.numel() for p in stage.parameters()) / 1e6, 2),
            "float32_s": round(f32, 3), "bfloat16_s": round(b16, 3), "ratio": round(b16 / f32, 2),
            "loss_float32": round(loss32, 4), "loss_bfloat16": round(loss16, 4),
            "gradient_cosine": round(torch.nn.functional.cosine_similarity(grad16.double(), grad32.double(), dim=0).item(), 4)}


def resized(stage, size: str):
    d_model, n_layers = map(int, size.split("x"))
    c = stage.config
    config = replace(c, transformer=replace(c.transformer, d_model=d_model, n_layers=n_layers))
    return type(stage)(config)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stages", nargs="+", help="stage folders: a bundle's semantic or coarse")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", nargs="*", default=[], metavar="DxL", help="the first stage at other sizes too")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"native bfloat16 on this CPU: {native_bfloat16(torch.device('cpu'))}; {args.threads} threads, "
          f"batch {args.batch}, best of {args.repeats}")
    rows = {}
    stages = [(folder, load_stage(folder)) for folder in args.stages]
    stages += [(f"{args.stages[0]} as {size}", resized(stages[0][1], size)) for size in args.sizes]
    for name, stage in stages:
        rows[name] = measure(stage, args.batch, args.repeats)
        r = rows[name]
        print(f"{name}: {r['params_millions']} M params, {r['float32_s']} s/step float32, {r['bfloat16_s']} "
              f"bfloat16 ({r['ratio']}x); loss {r['loss_float32']} / {r['loss_bfloat16']}, "
              f"gradient cosine {r['gradient_cosine']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
