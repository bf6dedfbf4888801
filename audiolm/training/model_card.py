"""The bundle's model card (``README.md``): data, recipe, training time, metrics, license."""
from __future__ import annotations

import os
import platform

import torch


def speech_model_card(recipe, model, times: dict[str, float], metrics: dict | None) -> str:
    from ..evaluation.report import markdown

    c, b = recipe.corpus, recipe.bundle
    total_minutes = sum(times.values()) / 60
    lines = [
        "---", "license: mit", "library_name: audiolm", "tags: [audio, audiolm, speech, text-free]", "---", "",
        "# AudioLM, speech (synthetic espeak-ng voices)", "",
        "An AudioLM bundle (semantic, coarse and fine stages, the codec and the semantic tokenizer) trained",
        "from scratch with this repository's recipe on a corpus synthesized with espeak-ng. It learns speech",
        "from audio alone: no text enters training. It knows espeak-ng's synthetic voices, not natural",
        "speech: expect robotic voices, and real recordings to be far from its training data.", "",
        "## Data", "",
        f"- {c.hours:g} hours of training speech from {c.train_speakers} speakers (espeak-ng voice variant × accent ×",
        "  pitch × pitch range × rate), sentences from the repo's generator (`audiolm/data/sentences.py`);",
        f"- held out: {c.heldout_speakers} speakers built from variants no training speaker uses, "
        f"{c.heldout_utterances} utterances each, on",
        "  sentences the training split never contains (a split by sentence content);",
        "- espeak-ng's phoneme events are stored beside each utterance (used only to measure tokens).",
        f"- Rebuild: `python -m audiolm train corpus` (seed {c.seed}).", "",
        "## Recipe", "",
        "```", "python -m audiolm train all      # corpus, codec, semantic-encoder, kmeans, tokenize,",
        "                                  # semantic, coarse, fine, bundle (each resumable)", "```", "",
        f"Geometry: {b.sample_rate} Hz; semantic tokens {b.semantic_rate:g} Hz × {b.semantic_vocab}; codec "
        f"{b.acoustic_rate:g} Hz, Q={b.num_quantizers} levels × {b.codebook_size}, Q'={b.num_coarse} coarse; "
        f"fine stage layout: {b.fine_layout}.", "",
        "| component | parameters | recipe | training time |", "|---|---|---|---|",
    ]
    parts = [("codec", model.codec, recipe.codec_train, "codec"),
             ("semantic tokenizer (encoder layers kept)", model.semantic_tokenizer, recipe.encoder_train,
              "semantic-encoder"),
             ("semantic stage", model.semantic_stage, recipe.semantic_train, "semantic"),
             ("coarse stage", model.coarse_stage, recipe.coarse_train, "coarse"),
             ("fine stage", model.fine_stage, recipe.fine_train, "fine")]
    for name, module, train, key in parts:
        params = sum(p.numel() for p in module.parameters()) / 1e6
        minutes = times.get(key, 0) / 60
        lines.append(f"| {name} | {params:.2f} M | {train.steps} steps × batch {train.batch_size}, lr {train.lr:g} "
                     f"| {minutes:.1f} min |")
    lines += ["", f"Total training time: {total_minutes:.0f} min on {platform.machine()} with "
              f"{os.cpu_count()} CPU cores (torch {torch.__version__}); the k-means and tokenize steps took "
              f"{(times.get('kmeans', 0) + times.get('tokenize', 0)) / 60:.1f} min. "
              "Weights are stored in float16. The full configuration is in each component's `config.json`.", ""]
    lines += ["## Metrics (held-out speakers and sentences)", ""]
    if metrics:
        lines += [markdown(metrics), "", "Reproduce: `python -m audiolm eval --bundle checkpoints/speech "
                  "--data data/speech`.", ""]
    else:
        lines += ["Not measured yet: `python -m audiolm eval --bundle checkpoints/speech --data data/speech`.", ""]
    lines += ["## License", "",
              "MIT, like the code. The training audio was synthesized with espeak-ng (GPL-3.0); the",
              "synthesized speech and these weights contain none of espeak-ng's code.", ""]
    return "\n".join(lines)

