"""``python -m audiolm train STEP``: one step of the speech recipe, or ``all`` of them.

Steps: corpus, codec, semantic-encoder, kmeans, tokenize, semantic, coarse, fine, bundle, all
(the steps before it in order), and examples (held-out prompts for the Space).
Each resumes from its last checkpoint in ``--work``; ``--steps`` raises (or lowers) a
component's step count, e.g. to train longer on a machine with a GPU.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from .recipe import EXTRA_STEPS, STEPS, SpeechPipelineRun, SpeechRecipe, tiny_recipe

TRAINED = {"codec": "codec_train", "semantic-encoder": "encoder_train", "semantic": "semantic_train",
           "coarse": "coarse_train", "fine": "fine_train"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m audiolm train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=[*STEPS, "all", *EXTRA_STEPS])
    p.add_argument("--work", default="runs/speech", help="checkpoints, token cache, recipe.json")
    p.add_argument("--data", default="data/speech", help="the synthesized corpus")
    p.add_argument("--out", default=None, help="bundle folder (bundle / all; default checkpoints/speech), "
                   "or the examples folder (examples; default examples)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--steps", type=int, default=None, help="training steps of this component")
    p.add_argument("--hours", type=float, default=None, help="hours of training speech (corpus step)")
    p.add_argument("--tiny", action="store_true", help="the minutes-long smoke-test recipe")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    work = Path(args.work)
    recipe = None
    if not (work / "recipe.json").is_file():
        recipe = tiny_recipe() if args.tiny else SpeechRecipe()
    else:
        recipe = SpeechRecipe.load(work / "recipe.json")
    if args.steps is not None:
        if args.step not in TRAINED:
            raise SystemExit(f"--steps applies to {', '.join(TRAINED)}")
        field = TRAINED[args.step]
        recipe = replace(recipe, **{field: replace(getattr(recipe, field), steps=args.steps)})
    if args.hours is not None:
        recipe = replace(recipe, corpus=replace(recipe.corpus, hours=args.hours))
    if (work / "recipe.json").is_file():
        recipe.save(work / "recipe.json")  # an explicit override is kept for the next resume
    run = SpeechPipelineRun(work, args.data, recipe, device=args.device)
    out = args.out or ("examples" if args.step == "examples" else "checkpoints/speech")
    for step in (STEPS if args.step == "all" else [args.step]):
        print(f"== {step}", flush=True)
        run.run(step, out=out)
    if args.step in ("bundle", "all"):
        print(f"bundle written to {out}")
    return 0
