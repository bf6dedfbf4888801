"""Continuations of the real held-out readers recorded as a Space's visitors record them: in a room, over
background noise, through a device's EQ or a band limit (the training corpus' own augmentations,
``audiolm/data/augment``, one draw per prompt from a seeded generator), beside the clean recording.

Each test utterance of at least 7 s (up to 5 per reader, 10 readers) gets the condition as a whole; its first 3 s
are the prompt, and its next 4 s (in the same condition) are what a perfect continuation would sound like. For
the continuation's 4 s and for those real next 4 s: speaker similarity (resemblyzer GE2E) to the reader's clean
enrollment centroid, and how often the reader's centroid is the nearest. The gap between the two is what the
model loses of the voice in that condition (the judge's own loss to the condition is in both).

    python benchmarks/upload_conditions.py [--bundle checkpoints/speech] [--conditions clean room noise eq band]
        [--out FILE.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.augment.registry import make_augmentation  # noqa: E402
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.similarity import SpeakerEmbedder, SpeakerSimilarity  # noqa: E402
from audiolm.evaluation.voices import long_enough, real_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402

PROMPT_SECONDS, NEXT_SECONDS, PER_READER, READERS = 3.0, 4.0, 5, 10


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default="checkpoints/speech")
    p.add_argument("--conditions", nargs="*", default=["clean", "room", "noise", "eq", "band"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = AudioLM.from_pretrained(args.bundle)
    sr = model.config.sample_rate
    prompt_len, next_len = int(PROMPT_SECONDS * sr), int(NEXT_SECONDS * sr)
    real = real_voices(default_heldout_dir(), sr, READERS)
    judge = SpeakerSimilarity(SpeakerEmbedder(sr), {s: real.enroll[s] for s in real.speakers})
    clips = [(s, w[:prompt_len + next_len]) for s in real.speakers
             for w in long_enough(real.test[s], PROMPT_SECONDS + NEXT_SECONDS, sr)[:PER_READER]]
    rows = []
    for k, name in enumerate(args.conditions):
        change = None if name == "clean" else make_augmentation(name)
        for i, (speaker, clip) in enumerate(clips):
            if change is not None:
                rng = np.random.default_rng(1000 * k + i)
                clip = np.clip(change(clip, sr, rng), -1, 1).astype(np.float32)
            result = model.continuation(clip[:prompt_len], NEXT_SECONDS, seed=i)
            for what, audio in (("continuation", result.audio[0, result.prompt_samples:]),
                                ("real_next", clip[prompt_len:])):
                judge.add(audio, {f"sim_{what} {name}": speaker}, {f"nearest_{what} {name}": speaker})
        gap = np.array(judge.rows[f"sim_real_next {name}"]) - np.array(judge.rows[f"sim_continuation {name}"])
        rows.append({"condition": name, "prompts": len(clips),
                     **{key.split()[0]: round(value, 3) for key, value in judge.figures(
                         *(f"{figure}_{what} {name}" for figure in ("sim", "nearest")
                           for what in ("continuation", "real_next"))).items()},
                     "gap": round(float(gap.mean()), 3), "gap_se": round(float(gap.std(ddof=1) / np.sqrt(len(gap))), 3)})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"bundle": args.bundle, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
