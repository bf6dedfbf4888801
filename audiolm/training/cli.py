"""``python -m audiolm train STEP``: one step of the speech (or ``--recipe piano``) recipe, or ``all`` of them.

Steps: corpus, codec, voice-decoder, semantic-encoder, kmeans, tokenize, semantic, coarse, fine, bundle, all
(the steps before it in order), and examples (held-out prompts for the Space).
Each resumes from its last checkpoint in ``--work``; ``--steps`` raises (or lowers) a
component's step count, e.g. to train longer on a machine with a GPU. ``--reuse-from BUNDLE --reuse
codec semantic fine`` takes those components from a bundle as they are and trains the rest (one stage
retrained).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from .loop import PRECISIONS
from .recipes import DEFAULT_RECIPE, EXTRA_STEPS, RECIPES, REUSABLE, STEPS, Recipe, tiny_recipe
from .run import TrainingRun

TRAINED = {"codec": "codec_train", "voice-decoder": "voice_decoder_train",
           "semantic-encoder": "encoder_train", "semantic": "semantic_train",
           "coarse": "coarse_train", "fine": "fine_train"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m audiolm train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=[*STEPS, "all", *EXTRA_STEPS])
    p.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE,
                   help="which recipe a new work folder starts (an existing one keeps its recipe.json)")
    p.add_argument("--work", default=None, help="checkpoints, token cache, recipe.json (default runs/RECIPE)")
    p.add_argument("--data", default=None, help="the synthesized corpus (default data/RECIPE)")
    p.add_argument("--out", default=None, help="bundle folder (bundle / all; default checkpoints/DOMAIN: speech or piano), "
                   "or the examples folder (examples; default examples)")
    p.add_argument("--tokenizer-from", default=None, metavar="BUNDLE",
                   help="reuse this bundle's semantic tokenizer instead of training one (new work folder only)")
    p.add_argument("--reuse-from", default=None, metavar="BUNDLE",
                   help="with --reuse: copy these components of this bundle instead of training them "
                   "(new work folder only)")
    p.add_argument("--reuse", nargs="+", default=None, choices=REUSABLE, metavar="COMPONENT",
                   help=f"components taken from --reuse-from as they are: {', '.join(REUSABLE)}")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default=None, choices=list(PRECISIONS),
                   help="bfloat16 autocast for the matrix products (default: the recipe's, auto: where the device "
                   "computes bfloat16 in hardware: CUDA, CPUs with AVX512-BF16 or AMX)")
    p.add_argument("--steps", type=int, default=None, help="training steps of this component")
    p.add_argument("--hours", type=float, default=None, help="hours of training speech (corpus step)")
    p.add_argument("--tiny", action="store_true", help="the minutes-long smoke-test recipe")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    work = Path(args.work or f"runs/{args.recipe}")
    reuse = (args.reuse_from or "", tuple(args.reuse or ()))
    if not (work / "recipe.json").is_file():
        recipe = tiny_recipe(args.recipe) if args.tiny else RECIPES[args.recipe]()
        if args.tokenizer_from:
            recipe = replace(recipe, semantic_tokenizer_from=args.tokenizer_from)
        if any(reuse):
            try:
                recipe = replace(recipe, reuse_from=reuse[0], reuse=reuse[1])
            except ValueError as error:
                raise SystemExit(f"--reuse: {error}")
    else:
        recipe = Recipe.load(work / "recipe.json")
        if args.tokenizer_from and args.tokenizer_from != recipe.semantic_tokenizer_from:
            raise SystemExit(f"{work} was started with another tokenizer setting; use a new --work folder")
        if any(reuse) and reuse != (recipe.reuse_from, recipe.reuse):
            raise SystemExit(f"{work} was started with another --reuse setting; use a new --work folder")
    if args.steps is not None:
        if args.step not in TRAINED:
            raise SystemExit(f"--steps applies to {', '.join(TRAINED)}")
        field = TRAINED[args.step]
        recipe = replace(recipe, **{field: replace(getattr(recipe, field), steps=args.steps)})
    if args.hours is not None:
        recipe = replace(recipe, corpus=replace(recipe.corpus, hours=args.hours))
    if (work / "recipe.json").is_file():
        recipe.save(work / "recipe.json")  # an explicit override is kept for the next resume
    run = TrainingRun(work, args.data or f"data/{recipe.kind}", recipe, device=args.device,
                      precision=args.precision)
    out = args.out or ("examples" if args.step == "examples" else f"checkpoints/{recipe.domain.name}")
    for step in (STEPS if args.step == "all" else [args.step]):
        print(f"== {step}", flush=True)
        run.run(step, out=out)
    if args.step in ("bundle", "all"):
        print(f"bundle written to {out}")
    return 0
