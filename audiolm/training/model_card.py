"""The bundle's model card (``README.md``): data, recipe, training time, metrics, license."""
from __future__ import annotations

import os
import platform

import torch

from .recipes import DEFAULT_RECIPE


def speech_data(c) -> list[str]:
    return [
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
        f"- Rebuild: `python -m audiolm train corpus` (seed {c.seed}).", ""]


def piano_data(c) -> list[str]:
    return [
        "# AudioLM, piano (generated pieces rendered with a General MIDI soundfont)", "",
        "An AudioLM bundle trained from scratch with this repository's recipe on piano music it generated",
        "and rendered itself: melodies over chord progressions in every key, major and minor, 70-160 BPM,",
        "4/4, 3/4 and 6/8, five accompaniment styles, varied registers and dynamics, General MIDI piano",
        "programs (acoustic and electric), rendered by fluidsynth with the FluidR3 GM soundfont. It learns",
        "music from audio alone: the MIDI is used only to measure.", "",
        "## Data", "",
        f"- {c.hours:g} hours of training pieces ({c.min_seconds:g}-{c.max_seconds:g} s each, "
        "`audiolm/data/pieces.py`), 16 kHz mono;",
        f"- held out: {c.heldout_pieces} pieces from seeds the training split never draws;",
        f"- Rebuild: `python -m audiolm train corpus --recipe piano` (seed {c.seed}; needs `apt-get install "
        "fluidsynth fluid-soundfont-gm`).", ""]


def model_card(recipe, model, times: dict[str, float], metrics: dict | None) -> str:
    from ..evaluation.report import markdown

    c, b, domain = recipe.corpus, recipe.bundle, recipe.domain
    total_minutes = sum(times.values()) / 60
    lines = ["---", "license: mit", "library_name: audiolm",
             f"tags: [audio, audiolm, {recipe.kind}, {domain.tag}]",
             "---", ""]
    lines += domain.card_data(c)
    flag = "" if recipe.kind == DEFAULT_RECIPE else f" --recipe {recipe.kind}"
    tokenizer = (f"reused from `{recipe.semantic_tokenizer_from}`" if recipe.semantic_tokenizer_from else
                 f"built-in encoder trained on this corpus ({recipe.encoder_targets} targets), block "
                 f"{recipe.semantic_layer}, k-means {b.semantic_vocab}")
    lines += [
        "## Recipe", "",
        "```", f"python -m audiolm train all{flag}   # corpus, codec, semantic-encoder, kmeans, tokenize,",
        "                                  # semantic, coarse, fine, bundle (each resumable)", "```", "",
        f"Geometry: {b.sample_rate} Hz; semantic tokens {b.semantic_rate:g} Hz × {b.semantic_vocab}; codec "
        f"{b.acoustic_rate:g} Hz, Q={b.num_quantizers} levels × {b.codebook_size}, Q'={b.num_coarse} coarse; "
        f"coarse stage layout: {b.coarse_layout}; fine stage layout: {b.fine_layout}. Semantic tokenizer: {tokenizer}.", "",
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
        if key == "semantic-encoder" and recipe.semantic_tokenizer_from:
            lines.append(f"| {name} | {params:.2f} M | reused | — |")
            continue
        minutes = times.get(key, 0) / 60
        lines.append(f"| {name} | {params:.2f} M | {train.steps} steps × batch {train.batch_size}, lr {train.lr:g} "
                     f"| {minutes:.1f} min |")
    lines += ["", f"Total training time: {total_minutes:.0f} min on {platform.machine()} with "
              f"{os.cpu_count()} CPU cores (torch {torch.__version__}); the k-means and tokenize steps took "
              f"{(times.get('kmeans', 0) + times.get('tokenize', 0)) / 60:.1f} min. "
              f"Weights are stored in {_storage(recipe.weights_dtype)}. The full configuration is in each "
              "component's `config.json`.", ""]
    held_out = domain.held_out
    command = f"python -m audiolm eval --bundle checkpoints/{recipe.kind} --data data/{recipe.kind}"
    lines += [f"## Metrics ({held_out})", ""]
    if metrics:
        lines += [markdown(metrics), "", f"Reproduce: `{command}`.", ""]
    else:
        lines += [f"Not measured yet: `{command}`.", ""]
    lines += ["## License", "", *domain.license, ""]
    return "\n".join(lines)


def _storage(dtype: str) -> str:
    return ("int8 with a float16 scale per row (matrices and kernels; the rest and the semantic tokenizer in "
            "float16)" if dtype == "int8" else dtype)

