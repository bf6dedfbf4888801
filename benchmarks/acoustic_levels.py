"""Where acoustic generation loses the content, on the real held-out readers: the semantic agreement of
the re-tokenized output decoded from the first 1 / 2 / 4 / 12 codec levels, for the codec round trip and
for acoustic generation's ids (coarse stage at each ``--temperatures``, 0 meaning greedy, and each ``--guidance``
weight, 1 meaning none), and how often the generated level-1 id is the input's (at the first of each).

    python benchmarks/acoustic_levels.py BUNDLE [--speakers 5] [--seconds 6] [--temperatures 0.8 0]
                                                [--guidance 1 2] [--threads 2]

A decode of the first q levels of the round trip is the ceiling of a stage that gets those q levels right.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.heldout import default_heldout_dir  # noqa: E402
from audiolm.evaluation.round_trips import agreement, semantic_ids  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402
from audiolm.pipeline import AudioLM  # noqa: E402
from audiolm.sampling import SamplingConfig  # noqa: E402

LEVELS = (1, 2, 4, 12)


def variant_name(temperature: float, guidance: float = 1.0) -> str:
    name = f"coarse T {temperature:g}" if temperature > 0 else "coarse greedy"
    return name + (f", guidance {guidance:g}" if guidance != 1 else "")


@torch.inference_mode()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle")
    p.add_argument("--speakers", type=int, default=5)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.8, 0.0],
                   help="coarse-stage temperatures to try (0: greedy); the first one's level-1 ids are compared")
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0],
                   help="coarse-stage guidance weights to try with each temperature (1: none; others need a stage "
                        "trained with cond dropout)")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model, sr = AudioLM.from_pretrained(a.bundle), 16000
    compared = variant_name(a.temperatures[0], a.guidance[0])  # whose level-1 ids are matched with the input's
    real = real_voices(default_heldout_dir(), sr, a.speakers)
    agree: dict[tuple[str, int], list[float]] = {}
    level1_match: list[float] = []
    for i, speaker in enumerate(real.speakers):
        wav = model.aligned(real.test[speaker][-1][:round(a.seconds * sr)])
        reference = semantic_ids(model.semantic_tokenizer, wav)
        variants = {"codec round trip": model.codec.encode(torch.from_numpy(wav)[None])}
        for temperature in a.temperatures:
            for guidance in a.guidance:
                settings = replace(model.default_settings, coarse=SamplingConfig(temperature, guidance=guidance))
                variants[variant_name(temperature, guidance)] = model.acoustic_generation(
                    wav, seed=i, settings=settings).acoustic_ids
        for name, ids in variants.items():
            for q in LEVELS:
                out = model.codec.decode(ids[:, :q]).float().numpy()[0][:len(wav)]
                agree.setdefault((name, q), []).append(agreement(semantic_ids(model.semantic_tokenizer, out), reference))
        generated, true = variants[compared][0, 0], variants["codec round trip"][0, 0]
        frames = min(len(generated), len(true))
        level1_match.append(float((generated[:frames] == true[:frames]).float().mean()))
    for name in variants:
        print(f"{name}: agreement decoding the first " + ", ".join(
            f"{q}: {100 * np.mean(agree[name, q]):.1f} %" for q in LEVELS) + " levels")
    print(f"generated level-1 id = the input's ({compared}): {100 * np.mean(level1_match):.1f} % "
          f"({len(real.speakers)} readers x {a.seconds:g} s)")


if __name__ == "__main__":
    main()
