"""The training corpus' loudness range, and what bringing inputs into it (``BundleConfig.input_loudness``,
``audiolm/loudness.py``) does for prompts of other levels.

1. ``range``: the integrated loudness (ITU-R BS.1770, pyloudnorm) of ``--utterances`` training utterances (a
   seeded draw); its 5th and 95th percentiles are what a recipe writes into ``input_loudness``.
2. ``prompts``: the loudness of the evaluation's prompts (the first 3 s of the real held-out readers' test
   utterances, and of the synthetic held-out voices'), and how many lie outside the bundle's range.
3. ``continuation``: the real readers' 3 s prompts (up to 5 per reader) scaled by each ``--gains`` value (peak
   kept under 0.99), continued by 4 s with the same seeds with the bundle's range off and on. Speaker
   similarity (resemblyzer GE2E) of the 4 s to the reader's enrollment centroid, the reader nearest, and the
   paired difference (on − off). The output is judged as returned, at the prompt's own level: the judge is
   level-sensitive itself, so every row compares outputs at one level.

    python benchmarks/input_loudness.py --bundle checkpoints/speech --data data/speech-mixed \
        [--recipe speech-mixed] [--gains 1 0.1 0.02] [--utterances 1000] [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.similarity import SpeakerEmbedder, SpeakerSimilarity  # noqa: E402
from audiolm.evaluation.voices import long_enough, real_voices, synthetic_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402
from audiolm.training.recipes import RECIPES  # noqa: E402

PROMPT_SECONDS, CONTINUATION_SECONDS, PROMPTS_PER_READER, READERS = 3.0, 4.0, 5, 10


def corpus_range(meter, corpus, count: int, seed: int = 0) -> dict:
    records = corpus.split("train")
    chosen = np.random.default_rng(seed).permutation(len(records))[:count]
    levels = np.array([meter.integrated_loudness(corpus.audio(records[i]).astype(np.float64)) for i in chosen])
    levels = levels[np.isfinite(levels)]
    low, high = np.percentile(levels, [5, 95])
    return {"utterances": len(levels), "p5": round(float(low), 1), "p50": round(float(np.median(levels)), 1),
            "p95": round(float(high), 1), "min": round(float(levels.min()), 1), "max": round(float(levels.max()), 1)}


def prompt_levels(meter, waves: list[np.ndarray], lufs_range, sample_rate: int) -> dict:
    levels = np.array([meter.integrated_loudness(w[:int(PROMPT_SECONDS * sample_rate)].astype(np.float64))
                       for w in long_enough(waves, PROMPT_SECONDS, sample_rate)])
    outside = int(np.sum((levels < lufs_range[0]) | (levels > lufs_range[1]))) if lufs_range else 0
    return {"prompts": len(levels), "min": round(float(levels.min()), 1), "median": round(float(np.median(levels)), 1),
            "max": round(float(levels.max()), 1), "outside_range": outside}


def continuation_rows(model: AudioLM, real, gains: list[float]) -> list[dict]:
    sr, on = model.config.sample_rate, model.config
    off = replace(on, input_loudness=())
    judge = SpeakerSimilarity(SpeakerEmbedder(sr), {s: real.enroll[s] for s in real.speakers})
    prompts = [(s, w[:int(PROMPT_SECONDS * sr)]) for s in real.speakers
               for w in long_enough(real.test[s], PROMPT_SECONDS, sr)[:PROMPTS_PER_READER]]
    rows = []
    for gain in gains:
        for name, config in (("off", off), ("on", on)):
            model.config = config
            for i, (speaker, wav) in enumerate(prompts):
                scaled = (wav * min(gain, 0.99 / np.abs(wav).max())).astype(np.float32)
                result = model.continuation(scaled, CONTINUATION_SECONDS, seed=i)
                judge.add(result.audio[0, result.prompt_samples:], {f"sim_{name} {gain}": speaker},
                          {f"nearest_{name} {gain}": speaker})
        model.config = on
        figures = judge.figures(*(f"{what}_{name} {gain}" for what in ("sim", "nearest") for name in ("off", "on")))
        d = np.array(judge.rows[f"sim_on {gain}"]) - np.array(judge.rows[f"sim_off {gain}"])
        rows.append({"gain": gain, "prompts": len(prompts),
                     "sim_off": round(figures[f"sim_off {gain}"], 3), "nearest_off": figures[f"nearest_off {gain}"],
                     "sim_on": round(figures[f"sim_on {gain}"], 3), "nearest_on": figures[f"nearest_on {gain}"],
                     "paired": round(float(d.mean()), 4), "paired_se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 4)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default="checkpoints/speech")
    p.add_argument("--data", default="data/speech-mixed", help="the training corpus (for its range)")
    p.add_argument("--recipe", default="speech-mixed")
    p.add_argument("--eval-data", default="data/speech", help="the synthetic held-out voices")
    p.add_argument("--gains", type=float, nargs="*", default=[1.0, 0.1, 0.02])
    p.add_argument("--utterances", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    sr = model.config.sample_rate
    meter = pyloudnorm.Meter(sr)
    out = {"bundle": args.bundle, "input_loudness": list(model.config.input_loudness)}
    out["range"] = corpus_range(meter, RECIPES[args.recipe]().open_corpus(args.data), args.utterances)
    print("training corpus:", json.dumps(out["range"]), flush=True)
    real = real_voices(default_heldout_dir(), sr, READERS)
    synthetic = synthetic_voices(RECIPES["speech"]().open_corpus(args.eval_data))
    out["prompts"] = {
        "real": prompt_levels(meter, [w for s in real.speakers for w in real.test[s]], model.config.input_loudness, sr),
        "synthetic": prompt_levels(meter, [w for s in synthetic.speakers for w in synthetic.test[s]],
                                   model.config.input_loudness, sr)}
    print("evaluation prompts:", json.dumps(out["prompts"]), flush=True)
    if model.config.input_loudness and args.gains:
        out["continuation"] = continuation_rows(model, real, args.gains)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
