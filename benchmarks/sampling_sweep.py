"""Sampling settings of the coarse stage against voice keeping and content on the real held-out readers:
continuation speaker similarity (resemblyzer GE2E, to the reader's enrollment centroid) and how often
the reader is nearest, acoustic generation's re-tokenized semantic agreement with its input, and with a
voice prompt (3 s of the next reader) how often that reader is nearest and the agreement.

    python benchmarks/sampling_sweep.py BUNDLE [--speakers 5] [--prompts 1] [--guidance 1 2 4]
        [--voice-prior 0 8 16] [--fine-by-example 0 4] [--coarse-temperature 0.6 0.8]
        [--semantic-temperature 0.8 1.0] [--coarse-top-p 0.9 0.95] [--semantic-candidates 1 8 16]
        [--semantic-adaptation 0 10 20] [--mos] [--threads 1]

Without ``--guidance``, ``--voice-prior``, ``--fine-by-example``, ``--coarse-temperature``,
``--semantic-temperature``, ``--coarse-top-p``, ``--semantic-candidates`` or ``--semantic-adaptation`` it compares
the bundle's own settings with a few others; with them, the bundle's own settings at each coarse guidance weight,
voice-prior weight, number of reference frames the fine levels are taken from (``audiolm.voice_prior``), coarse or
semantic temperature, coarse nucleus (top-p), number of semantic plans drawn per sample
(``GenerationPlan.semantic_ids``), or steps of the semantic stage's adaptation to the prompt
(``audiolm.prompt_adaptation``; above 0 with the prompt's 4-grams forbidden in its plan). Each continuation's
share of semantic 4-grams found in its prompt's ids is reported too (``copied``). ``--mos`` adds each
continuation's predicted MOS (DistillMOS, ``audiolm.evaluation.mos``), also paired with the first setting's.
``--prompts N`` continues N prompts per reader (its first N test utterances long enough, seed = reader * N +
prompt); every setting continues the same prompts with the same seeds, so the continuation SIM is also compared
prompt by prompt (paired) with the first setting's.

A quick check between full evaluations (one input per reader); ``python -m audiolm eval`` gives the reference
figures.
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
from audiolm.evaluation.mos import MOSPredictor  # noqa: E402
from audiolm.evaluation.round_trips import agreement, semantic_ids  # noqa: E402
from audiolm.evaluation.similarity import SpeakerEmbedder, centroids, cosine, nearest  # noqa: E402
from audiolm.evaluation.speaker_figures import copied_from_prompt  # noqa: E402
from audiolm.evaluation.voices import real_voices  # noqa: E402
from audiolm.pipeline import AudioLM, GenerationSettings  # noqa: E402


def settings_to_try(own: GenerationSettings, guidance: list[float] | None, voice_prior: list[float] | None = None,
                    fine_by_example: list[int] | None = None,
                    coarse_temperature: list[float] | None = None,
                    semantic_temperature: list[float] | None = None,
                    coarse_top_p: list[float] | None = None,
                    semantic_candidates: list[int] | None = None,
                    semantic_adaptation: list[int] | None = None) -> dict[str, GenerationSettings]:
    tried = {}
    for role, temperatures in (("semantic", semantic_temperature), ("coarse", coarse_temperature)):
        for t in temperatures or []:
            tried[f"the bundle's, {role} T {t:g}"] = replace(own, **{role: replace(getattr(own, role), temperature=t)})
    for p in coarse_top_p or []:
        tried[f"the bundle's, coarse top-p {p:g}"] = replace(own, coarse=replace(own.coarse, top_p=p))
    if guidance:
        tried.update({f"the bundle's, coarse guidance {w:g}": own.with_overrides(guidance=w) for w in guidance})
    if voice_prior:
        tried.update({f"the bundle's, voice prior {w:g}": own.with_overrides(voice_prior=w) for w in voice_prior})
    if fine_by_example:
        tried.update({f"the bundle's, fine by example {k}": replace(own, fine_by_example=k) for k in fine_by_example})
    if semantic_candidates:
        tried.update({f"the bundle's, {k} semantic plan{'s' * (k > 1)}": own.with_overrides(semantic_candidates=k)
                      for k in semantic_candidates})
    for steps in semantic_adaptation or []:  # with_overrides forbids the prompt's 4-grams in an adapted plan
        tried[f"the bundle's, semantic stage adapted {steps} steps" + (", prompt 4-grams forbidden" if steps else "")] = \
            own.with_overrides(semantic_adaptation_steps=steps)
    if tried:
        return tried
    return {"the bundle's own": own,
            "paper (0.6 / 0.8 / 0.6)": GenerationSettings(),
            "coarse T 0.8, top-k 50": replace(own, coarse=replace(own.coarse, temperature=0.8, top_k=50)),
            "coarse T 0.6": replace(own, coarse=replace(own.coarse, temperature=0.6))}


def _paired(values: list[float], first: np.ndarray | None) -> str:
    """`` (+d +- se paired with the first)``; nothing for the first setting itself (``first`` None)."""
    if first is None:
        return ""
    d = np.array(values) - first
    return f" ({d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f} paired with the first)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle")
    p.add_argument("--speakers", type=int, default=5)
    p.add_argument("--guidance", type=float, nargs="+", default=None,
                   help="coarse guidance weights to try with the bundle's own settings")
    p.add_argument("--voice-prior", type=float, nargs="+", default=None,
                   help="voice-prior weights to try with the bundle's own settings (0: off)")
    p.add_argument("--fine-by-example", type=int, nargs="+", default=None,
                   help="reference frames the fine levels are taken from, with the bundle's own settings (0: the "
                        "fine stage)")
    p.add_argument("--coarse-temperature", type=float, nargs="+", default=None,
                   help="coarse temperatures to try with the bundle's own settings")
    p.add_argument("--semantic-temperature", type=float, nargs="+", default=None,
                   help="semantic-stage temperatures to try with the bundle's own settings")
    p.add_argument("--coarse-top-p", type=float, nargs="+", default=None,
                   help="coarse nucleus (top-p) thresholds to try with the bundle's own settings")
    p.add_argument("--semantic-candidates", type=int, nargs="+", default=None,
                   help="semantic plans drawn per sample (the one whose ids change most kept), with the bundle's "
                        "own settings")
    p.add_argument("--semantic-adaptation", type=int, nargs="+", default=None,
                   help="steps of the semantic stage's adaptation to the prompt, with the prompt's 4-grams forbidden "
                        "(0: the bundle's own settings)")
    p.add_argument("--mos", action="store_true", help="also each continuation's predicted MOS (DistillMOS)")
    p.add_argument("--prompts", type=int, default=1, help="continuations per reader")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    if a.mos and MOSPredictor.unavailable():
        p.error(f"--mos: {MOSPredictor.unavailable()}")
    torch.set_num_threads(a.threads)
    model, sr = AudioLM.from_pretrained(a.bundle), 16000
    real = real_voices(default_heldout_dir(), sr, a.speakers)
    embedder = SpeakerEmbedder(sr)
    centre = centroids({s: embedder.embed_all(real.enroll[s]) for s in real.speakers})
    mos = MOSPredictor() if a.mos else None
    first_sims = first_mos = None
    for name, settings in settings_to_try(model.default_settings, a.guidance, a.voice_prior,
                                          a.fine_by_example, a.coarse_temperature,
                                          a.semantic_temperature, a.coarse_top_p, a.semantic_candidates,
                                          a.semantic_adaptation).items():
        sims, hits, agree, voice_hits, voice_agree, scores, copied = [], [], [], [], [], [], []
        for i, s in enumerate(real.speakers):
            prompts = [u[:3 * sr] for u in real.test[s] if len(u) >= 3 * sr][:a.prompts] or [real.test[s][0][:3 * sr]]
            for j, prompt in enumerate(prompts):
                result = model.continuation(prompt, 4.0, seed=i * a.prompts + j, settings=settings)
                out = result.audio[0][result.prompt_samples:]
                copied.append(copied_from_prompt(model, result)[0])
                e = embedder.embed(out)
                sims.append(cosine(e, centre[s]))
                hits.append(nearest(e, centre) == s)
                if mos is not None:
                    scores.append(mos.predict(out))
            wav = real.test[s][-1][:6 * sr]
            gen = model.acoustic_generation(wav, seed=i, settings=settings).audio[0]
            reference = semantic_ids(model.semantic_tokenizer, wav)
            agree.append(agreement(semantic_ids(model.semantic_tokenizer, gen[:len(wav)]), reference))
            other = real.speakers[(i + 1) % len(real.speakers)]
            voiced = model.acoustic_generation(wav, real.test[other][0][:3 * sr], seed=i, settings=settings).audio[0]
            voice_hits.append(nearest(embedder.embed(voiced), centre) == other)
            voice_agree.append(agreement(semantic_ids(model.semantic_tokenizer, voiced[:len(wav)]), reference))
        paired = _paired(sims, first_sims)
        quality = f", MOS {np.mean(scores):.3f}{_paired(scores, first_mos)}" if mos is not None else ""
        if first_sims is None:
            first_sims, first_mos = np.array(sims), np.array(scores)
        print(f"{name}: continuation SIM {np.mean(sims):.3f}{paired} over {len(sims)}{quality}, prompt's reader nearest "
              f"{100 * np.mean(hits):.0f} %, copied 4-grams {100 * np.nanmean(copied):.1f} %; acoustic generation "
              f"agreement {100 * np.mean(agree):.1f} %; with a voice prompt: its reader nearest "
              f"{100 * np.mean(voice_hits):.0f} %, agreement {100 * np.mean(voice_agree):.1f} %", flush=True)


if __name__ == "__main__":
    main()
