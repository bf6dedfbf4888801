"""The bundle's model card (``README.md``): data, recipe, training time, metrics, license."""
from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

import torch

from ..stages import ROLES
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


def mixed_speech_data(c, manifest: dict | None = None) -> list[str]:
    """The card of a bundle trained on the mixed corpus (``manifest``: its corpus.json, for the counts)."""
    voices = len(manifest["voices"]) if manifest else None
    hours = manifest["hours"]["train"] if manifest else c.hours
    sources = manifest["sources"] if manifest else {}
    count = lambda name: len(sources.get(name, {}).get("speakers", []))  # noqa: E731
    return [
        "# AudioLM, speech (real and synthetic voices)", "",
        "An AudioLM bundle (semantic, coarse and fine stages, the codec and the semantic tokenizer) trained",
        "with this repository's recipe on real read speech, two speech synthesizers, pseudo-speakers and",
        "simulated recording conditions. It learns speech from audio alone: no text enters training.", "",
        "## Data", "",
        f"- {hours:g} hours of training audio" + (f", {voices} voices" if voices else "") + " (`python -m audiolm "
        "train corpus --recipe speech-mixed`, `audiolm/data/mixed_corpus.py`, seed "
        f"{c.seed}): {100 * c.real_share:.0f} % real recordings, the rest synthesized;",
        "  - real: LibriSpeech train-clean and speechocean762 readers (from `../shared/data`"
        + (f"; {count('real')} speakers" if count("real") else "") + ");",
        "  - synthetic: espeak-ng and flite voices reading the repo's sentence generator (`audiolm/data/sentences.py`);",
        f"  - every source speaker also as {c.pseudo_speakers} pseudo-speakers (formants and pitch changed with "
        "Praat's \"Change gender\", as ContentVec does);",
        f"  - sessions of {c.session_utterances} utterances of one voice share a recording condition: simulated "
        "rooms (pyroomacoustics) and measured responses (OpenAIR), recorded noise (Speech Commands' "
        "background noise) and coloured noise at 10-40 dB SNR, random EQ and band limits;",
        f"- held out: festival's voices (an engine no training step hears), {c.heldout_minutes:g} min; the "
        "real held-out readers (LibriSpeech test-other) are read by the evaluation only;",
        "- the evaluation's synthetic held-out speakers are `data/speech` (`python -m audiolm train corpus`): "
        "espeak-ng voices and sentences no training step uses, with phone times to measure the tokens.", ""]


def piano_data(c) -> list[str]:
    pianos = "a General MIDI soundfont" + (" and the Salamander Grand Piano" if c.salamander_share else "")
    return [
        f"# AudioLM, piano (generated pieces rendered with {pianos})", "",
        "An AudioLM bundle trained from scratch with this repository's recipe on piano music it generated",
        "and rendered itself: melodies over chord progressions in every key, major and minor, 70-160 BPM,",
        "4/4, 3/4 and 6/8, five accompaniment styles, varied registers and dynamics, General MIDI piano",
        "programs (acoustic and electric), rendered by fluidsynth with the FluidR3 GM soundfont. It learns",
        "music from audio alone: the MIDI is used only to measure.", "",
        "## Data", "",
        f"- {c.hours:g} hours of training pieces ({c.min_seconds:g}-{c.max_seconds:g} s each, "
        "`audiolm/data/pieces.py`), 16 kHz mono;",
        *([f"- {100 * c.salamander_share:.0f} % of the pieces played with the Salamander Grand Piano's recorded notes "
           "(Yamaha C5, Alexander Holm, CC BY 3.0; `audiolm/data/salamander.py`) instead of the soundfont;"]
          if c.salamander_share else []),
        *([f"- {100 * c.room_share:.0f} % of the pieces heard in a room (simulated with pyroomacoustics, or OpenAIR's "
           "measured responses, CC BY / BY-SA 3.0);"] if c.room_share else []),
        f"- held out: {c.heldout_pieces} pieces from seeds the training split never draws;",
        f"- Rebuild: the recipe's `corpus` step (below; seed {c.seed}; needs `apt-get install "
        "fluidsynth fluid-soundfont-gm`).", ""]


def _styles(model) -> dict[str, str]:
    """The style each stage of ``model`` reads (``audiolm.styles``), for the stages that read one."""
    styles = {role: getattr(getattr(model, f"{role}_stage"), "style", None) for role in ROLES}
    return {role: style for role, style in styles.items() if style is not None}


def model_card(recipe, model, times: dict[str, float], metrics: dict | None, manifest: dict | None = None,
               remapped: frozenset[str] = frozenset()) -> str:
    """``manifest``: the training corpus' corpus.json (what the recipe's card data may count); ``remapped``: the
    steps whose warm start had its semantic-id rows remapped to this bundle's tokenizer (``remap``)."""
    from ..evaluation.report import markdown

    b, domain = recipe.bundle, recipe.domain
    total_minutes = sum(times.values()) / 60
    lines = ["---", "license: mit", "library_name: audiolm",
             f"tags: [audio, audiolm, {recipe.kind}, {domain.tag}]",
             "---", ""]
    lines += recipe.card_data(manifest)
    flag = "" if recipe.kind == DEFAULT_RECIPE else f" --recipe {recipe.kind}"
    tokenizer = (_source_tokenizer(recipe.semantic_tokenizer_from) if recipe.semantic_tokenizer_from else
                 f"built-in encoder trained on this corpus ({recipe.encoder_targets} targets), block "
                 f"{recipe.semantic_layer}, k-means {b.semantic_vocab}")
    lines += [
        "## Recipe", "",
        "```", f"python -m audiolm train all{flag}   # corpus, codec, voice-decoder, semantic-encoder, kmeans, tokenize,",
        "                                  # semantic, coarse, fine, bundle (each resumable)", "```", "",
        f"Geometry: {b.sample_rate} Hz; semantic tokens {b.semantic_rate:g} Hz × {b.semantic_vocab}; codec "
        f"{b.acoustic_rate:g} Hz, Q={b.num_quantizers} levels × {b.codebook_size}, Q'={b.num_coarse} coarse; "
        f"coarse stage layout: {b.coarse_layout}; fine stage layout: {b.fine_layout}. Semantic tokenizer: {tokenizer}."
        + (f" Inputs outside the training audio's loudness range, {b.input_loudness[0]:g} to {b.input_loudness[1]:g} LUFS"
           " (5th to 95th percentile), are brought to its nearest edge and the output scaled back (`audiolm/loudness.py`)."
           if b.input_loudness else "")
        + "".join(f" The {role} stage opens every window with the class of the style {style} (`audiolm/styles.py`:"
                  " the window's own in training, the prompt's or input's at sampling)."
                  for role, style in _styles(model).items()), "",
        "| component | parameters | recipe | training time |", "|---|---|---|---|",
    ]
    voice = getattr(model.codec, "voice_decoder", None)
    parts = [("codec", model.codec, recipe.codec_train, "codec"),
             *([("voice decoder (in the codec's folder)", voice, recipe.voice_decoder_train, "voice-decoder")]
               if voice is not None else []),
             ("semantic tokenizer (encoder layers kept)", model.semantic_tokenizer, recipe.encoder_train,
              "semantic-encoder"),
             ("semantic stage", model.semantic_stage, recipe.semantic_train, "semantic"),
             ("coarse stage", model.coarse_stage, recipe.coarse_train, "coarse"),
             ("fine stage", model.fine_stage, recipe.fine_train, "fine")]
    for name, module, train, key in parts:
        params = sum(p.numel() for n, p in module.named_parameters()  # the codec's row without its voice decoder
                     if not n.startswith("voice_decoder.")) / 1e6
        source = (recipe.semantic_tokenizer_from if key == "semantic-encoder" else
                  recipe.reuse_from if key in recipe.reuse else "")
        if source:
            lines.append(f"| {name} | {params:.2f} M | {' | '.join(_reused_cells(source, name))} |")
            continue
        minutes = times.get(key, 0) / 60
        start, earlier = _warm_start(train.init_from)
        if key in remapped:
            start += " (its semantic-id rows remapped to this tokenizer's ids by co-occurrence)"
        total_minutes += earlier
        lines.append(f"| {name} | {params:.2f} M | {train.steps} steps × batch {train.batch_size}, lr {train.lr:g}"
                     f"{_attention(module)}{start} | {minutes + earlier:.1f} min |")
    reused = " (reused components not counted)" if recipe.reuse or recipe.semantic_tokenizer_from else ""
    lines += ["", f"Total training time{reused}: {total_minutes:.0f} min on {platform.machine()} with "
              f"{os.cpu_count()} CPU cores (torch {torch.__version__}); the k-means and tokenize steps took "
              f"{(times.get('kmeans', 0) + times.get('tokenize', 0)) / 60:.1f} min. "
              f"Weights are stored in {_storage(recipe.weights_dtype)}. The full configuration is in each "
              "component's `config.json`.", "",
              f"Default sampling (`generation_config.json`, used unless a caller sets its own): "
              f"{sampling_summary(model.default_settings)}.", ""]
    held_out = domain.held_out
    command = (f"python -m audiolm eval --bundle checkpoints/{domain.name} "
               f"--data {recipe.eval_data or f'data/{domain.name}'}")
    lines += [f"## Metrics ({held_out})", ""]
    if metrics:
        lines += [markdown(metrics), "", f"Reproduce: `{command}`.", ""]
    else:
        lines += [f"Not measured yet: `{command}`.", ""]
    lines += ["## License", "", *recipe.card_license(), ""]
    return "\n".join(lines)


def _attention(module) -> str:
    """``, grouped-query attention (2 key/value heads for 4 query heads)`` for a stage with fewer key/value heads
    than query heads (its warm start's heads pooled, ``SelfAttention.fit_saved``); "" otherwise."""
    transformer = getattr(getattr(module, "config", None), "transformer", None)
    if transformer is None or transformer.kv_heads == transformer.n_heads:
        return ""
    return f", grouped-query attention ({transformer.kv_heads} key/value heads for {transformer.n_heads} query heads)"


def _reused_cells(bundle: str, name: str) -> tuple[str, str]:
    """The recipe and time cells of a component reused from ``bundle``: what it cost where it was trained, from
    its row in ``bundle``'s card (the only record a bundle keeps of its training, which shipping the new bundle
    replaces); a row that was itself reused is carried as it is, so the provenance does not nest."""
    card = Path(bundle) / "README.md"
    for line in card.read_text().splitlines() if card.is_file() else ():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] == name:
            recipe = cells[2] if cells[2].startswith("reused from") else f"reused from `{bundle}` as it was (there: {cells[2]})"
            return recipe, cells[3]
    return f"reused from `{bundle}` as it was", "—"


def _source_tokenizer(bundle: str) -> str:
    """How ``bundle``'s card says its semantic tokenizer was made: `` (there: built-in encoder …)``, or the
    card's own provenance where it was reused there too."""
    card = Path(bundle) / "README.md"
    # the sentence ends at the first period before a space or the line's end (more sentences may follow it)
    said = re.search(r"Semantic tokenizer: (.+?)\.(?: |$)", card.read_text(), re.M) if card.is_file() else None
    if said is None:
        return f"reused from `{bundle}`"
    return said.group(1) if said.group(1).startswith("reused from") else f"reused from `{bundle}` (there: {said.group(1)})"


def _warm_start(init_from: str) -> tuple[str, float]:
    """The recipe cell's warm-start note, and the minutes already spent on the weights it starts from: those
    of a run's export (``<run>/model``, whose ``<run>/state.json`` counts its steps), 0 for a bundle's."""
    if not init_from:
        return "", 0.0
    state = Path(init_from).parent / "state.json"
    if Path(init_from).name != "model" or not state.is_file():
        return f", warm-started from `{init_from}`", 0.0
    run = json.loads(state.read_text())
    minutes = run.get("elapsed", 0) / 60
    return f", warm-started from `{init_from}` ({run['step']} steps, {minutes:.1f} min, counted here)", minutes


def sampling_summary(settings) -> str:
    """``semantic T 0.9, coarse T 0.8 (guidance 2), fine T 0.6, voice prior 12``: top-k, top-p, guidance, style
    guidance and the voice prior where set."""
    parts = []
    for role in ("semantic", "coarse", "fine"):
        s = getattr(settings, role)
        extra = [f"{name} {value:g}" for name, value, off in (("top-k", s.top_k, None), ("top-p", s.top_p, None),
                                                              ("guidance", s.guidance, 1),
                                                              ("style guidance", s.style_guidance, 1)) if value != off]
        if s.prefix_knn:
            extra.append(f"kNN over the prompt {s.prefix_knn:g} at similarity T {s.prefix_knn_temperature:g}, "
                         "`audiolm/prefix_memory.py`")
        if s.forbid_prefix_ngrams:
            extra.append(f"the prompt's {s.forbid_prefix_ngrams}-grams forbidden, `audiolm/forbidden_ngrams.py`")
        parts.append(f"{role} T {s.temperature:g}" + (f" ({', '.join(extra)})" if extra else ""))
    if settings.semantic_candidates > 1:
        parts.append(f"the semantic plan whose ids change most often of {settings.semantic_candidates} drawn "
                     "(`GenerationPlan.semantic_ids`)")
    if settings.semantic_adaptation_steps:
        parts.append(f"the semantic stage adapted to the prompt ({settings.semantic_adaptation_steps} steps at lr "
                     f"{settings.semantic_adaptation_lr:g}, `audiolm/prompt_adaptation.py`)")
    if settings.voice_prior:
        parts.append(f"voice prior {settings.voice_prior:g} (`audiolm/voice_prior.py`)")
    if settings.fine_by_example:
        parts.append(f"fine levels by example from the prompt or voice prompt, {settings.fine_by_example} frames "
                     "(`FineByExample`)")
    if settings.voice_decoder:
        parts.append("continuations decoded from their first levels in the prompt's voice (the codec's voice decoder, "
                     "`audiolm/codec/voice_decoder.py`)")
    return ", ".join(parts)


def _storage(dtype: str) -> str:
    return ("int8 with a float16 scale per row (matrices and kernels; the rest and the semantic tokenizer in "
            "float16)" if dtype == "int8" else dtype)

