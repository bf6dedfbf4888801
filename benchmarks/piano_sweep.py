"""Piano continuation settings compared clip by clip on the held-out pieces: chroma correlation with
the prompt, onset-rate error (|log2| of continuation ÷ prompt onset rate) and note clarity (onset
peakiness, spectral flatness), as ``python -m audiolm eval`` computes them, but over more pieces and
several seeds, every setting continuing the same prompts with the same seeds, so that each figure is
also given as a paired difference (mean ± standard error) with the first setting's.

    python benchmarks/piano_sweep.py BUNDLE [BUNDLE ...] [--data data/piano-mixed] [--pieces 48] [--seeds 4]
        [--fine-by-example 0 4] [--coarse-temperature 1.0 1.1] [--semantic-temperature 1.0 1.2]
        [--coarse-guidance 1 2] [--coarse-style-guidance 1 2]
        [--voice-prior 0 2] [--prefix-knn 0 0.5]
        [--prefix-knn-temperature 0.02] [--prefix-knn-stage semantic] [--threads 2] [--json OUT]

With several bundles, each continues the same prompts (its own settings, or each value given), paired with the
first bundle's first setting. Prompts are the evaluation's: ``offset`` (2 s) into each held-out piece long enough, 4 s long,
continued by 6 s; seed = piece * seeds + s. The evaluation itself uses the first 24 pieces with one seed.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from audiolm.data.piano_corpus import PianoCorpus  # noqa: E402
from audiolm.evaluation.music import (chroma_correlation, mean_chroma, note_clarity, onset_log2_ratio,  # noqa: E402
                                      onset_rate, onset_rate_error)
from audiolm.pipeline import AudioLM, GenerationSettings  # noqa: E402

FIGURES = ("chroma", "onset_error", "onset_log2_ratio", "onset_peakiness", "log10_spectral_flatness")


def clip_figures(prompt_chroma: np.ndarray, prompt_rate: float, continuation: np.ndarray, sr: int) -> dict[str, float]:
    clarity, rate = note_clarity(continuation, sr), onset_rate(continuation, sr)
    return {"chroma": chroma_correlation(prompt_chroma, mean_chroma(continuation, sr)),
            "onset_error": onset_rate_error(rate, prompt_rate),
            "onset_log2_ratio": onset_log2_ratio(rate, prompt_rate),  # signed: below 0, fewer onsets
            "onset_peakiness": clarity["onset_peakiness"],
            "log10_spectral_flatness": float(np.log10(max(clarity["spectral_flatness"], 1e-10)))}


def settings_to_try(own: GenerationSettings, fine_by_example: list[int] | None = None,
                    coarse_temperature: list[float] | None = None,
                    voice_prior: list[float] | None = None, prefix_knn: list[float] | None = None,
                    prefix_knn_temperature: list[float] | None = None,
                    prefix_knn_stage: str = "coarse",
                    semantic_temperature: list[float] | None = None,
                    coarse_guidance: list[float] | None = None,
                    coarse_style_guidance: list[float] | None = None) -> dict[str, GenerationSettings]:
    """The bundle's own settings, or each value given, every other setting the bundle's own."""
    tried = {}
    for k in fine_by_example or []:
        tried[f"fine by example {k}"] = replace(own, fine_by_example=k)
    for role, temperatures in (("coarse", coarse_temperature), ("semantic", semantic_temperature)):
        for t in temperatures or []:
            tried[f"{role} T {t:g}"] = replace(own, **{role: replace(getattr(own, role), temperature=t)})
    for w in coarse_guidance or []:
        tried[f"coarse guidance {w:g}"] = replace(own, coarse=replace(own.coarse, guidance=w))
    for w in coarse_style_guidance or []:
        tried[f"coarse style guidance {w:g}"] = replace(own, coarse=replace(own.coarse, style_guidance=w))
    for w in voice_prior or []:
        tried[f"voice prior {w:g}"] = own.with_overrides(voice_prior=w)
    stage = getattr(own, prefix_knn_stage)
    for w in prefix_knn or []:  # a stage's kNN-LM over the prompt, at each similarity temperature given
        for t in prefix_knn_temperature or [stage.prefix_knn_temperature]:
            tried[f"{prefix_knn_stage} prefix kNN {w:g} (T {t:g})"] = replace(
                own, **{prefix_knn_stage: replace(stage, prefix_knn=w, prefix_knn_temperature=t)})
    return tried or {"the bundle's own": own}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundles", nargs="+", help="bundle folders or Hub ids; the first one's figures are the reference")
    p.add_argument("--data", default="data/piano-mixed")
    p.add_argument("--pieces", type=int, default=48)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--offset", type=float, default=2.0)
    p.add_argument("--prompt", type=float, default=4.0)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--fine-by-example", type=int, nargs="+", default=None,
                   help="reference frames the fine levels are taken from (0: the fine stage)")
    p.add_argument("--coarse-temperature", type=float, nargs="+", default=None)
    p.add_argument("--semantic-temperature", type=float, nargs="+", default=None)
    p.add_argument("--coarse-guidance", type=float, nargs="+", default=None,
                   help="the coarse stage's classifier-free guidance by the semantic ids (1: off)")
    p.add_argument("--coarse-style-guidance", type=float, nargs="+", default=None,
                   help="the coarse stage's classifier-free guidance by its style class (1: off)")
    p.add_argument("--voice-prior", type=float, nargs="+", default=None, help="voice-prior weights (0: off)")
    p.add_argument("--prefix-knn", type=float, nargs="+", default=None,
                   help="a stage's kNN-LM share over the prompt (audiolm.prefix_memory; 0: off)")
    p.add_argument("--prefix-knn-temperature", type=float, nargs="+", default=None,
                   help="with --prefix-knn: its similarity temperatures (default: the bundle's)")
    p.add_argument("--prefix-knn-stage", choices=("semantic", "coarse"), default="coarse",
                   help="the stage --prefix-knn applies to")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None,
                   help="write every continuation's figures here (setting -> rows)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    models = {path: AudioLM.from_pretrained(path) for path in a.bundles}
    corpus = PianoCorpus(a.data)
    sr = next(iter(models.values())).config.sample_rate
    start, length = int(a.offset * sr), int(a.prompt * sr)
    pieces = [r for r in corpus.split("heldout") if r["seconds"] >= a.offset + a.prompt + a.seconds][:a.pieces]
    prompts = [corpus.audio(r)[start:start + length] for r in pieces]
    prompt_figures = [(mean_chroma(prompt, sr), onset_rate(prompt, sr)) for prompt in prompts]  # once, not per seed
    first, per_clip = None, {}
    runs = {}
    for path, model in models.items():
        tried = settings_to_try(model.default_settings, fine_by_example=a.fine_by_example,
                                coarse_temperature=a.coarse_temperature, voice_prior=a.voice_prior,
                                prefix_knn=a.prefix_knn, prefix_knn_temperature=a.prefix_knn_temperature,
                                prefix_knn_stage=a.prefix_knn_stage, semantic_temperature=a.semantic_temperature,
                                coarse_guidance=a.coarse_guidance, coarse_style_guidance=a.coarse_style_guidance)
        runs.update({(f"{path}: {name}" if len(models) > 1 else name): (model, settings)
                     for name, settings in tried.items()})
    for name, (model, settings) in runs.items():
        rows = []
        for i, prompt in enumerate(tqdm(prompts, desc=name, leave=False)):
            for s in range(a.seeds):
                out = model.continuation(prompt, a.seconds, seed=i * a.seeds + s, settings=settings)
                rows.append({"piece": i, "seed": i * a.seeds + s,
                             **clip_figures(*prompt_figures[i], out.audio[0, out.prompt_samples:], sr)})
        table = {f: np.array([r[f] for r in rows]) for f in FIGURES}
        line = [f"{name} ({len(rows)} continuations):"]
        for f in FIGURES:  # flatness spans decades: its geometric mean, as the evaluation's
            text = (f"spectral_flatness {10 ** table[f].mean():.4f}" if f.startswith("log10")
                    else f"{f} {table[f].mean():.3f}")
            if first is not None:
                d = table[f] - first[f]
                text += f" ({d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(len(d)):.3f}{' log10' * f.startswith('log10')})"
            line.append(text)
        print(line[0] + "\n  " + ", ".join(line[1:]), flush=True)
        first = first or table
        per_clip[name] = rows
    if a.json:
        Path(a.json).write_text(json.dumps(per_clip, indent=1) + "\n")


if __name__ == "__main__":
    main()
