"""What differs between kinds of audio (speech, piano): one description each, read by the recipe, the
evaluation, the reports and the model card instead of branches on the domain's name.

A new domain is one ``Domain`` here (its corpus reader and builder, evaluation, report, model card
text and examples writer; each imported only when used) and a recipe in ``training/recipes.py``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


def _lazy(module: str, name: str) -> Callable:
    """``module.name``, imported on first call (a domain's parts pull in librosa, espeak, fluidsynth...)."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module, __package__), name)(*args, **kwargs)
    call.__qualname__ = f"{module}.{name}"
    return call


@dataclass(frozen=True)
class Domain:
    name: str
    held_out: str  # what the held-out split holds, as the reports say it
    tag: str  # the model card's tag beside the domain's name
    license: tuple[str, ...]  # the model card's license paragraph
    corpus: Callable  # (root) -> a CorpusReader
    build_corpus: Callable  # (root, corpus config) -> root
    eval_config: Callable  # (seed=...) -> an eval config with .quick() and a ``prompts`` field
    evaluate: Callable  # (model, corpus, config, real_voices=None) -> results dict
    report: Callable  # (results dict) -> markdown
    card_data: Callable  # (corpus config) -> the model card's title, description and data lines
    examples: Callable  # (corpus, folder, count, seconds) -> (written paths, markdown lines, intro)


def _evaluate_speech(model, corpus, config, real_voices=None) -> dict:
    from .data.heldout import default_heldout_dir
    from .evaluation.cli import judges
    from .evaluation.speech import evaluate_speech
    return evaluate_speech(model, corpus, config, real_root=real_voices or default_heldout_dir(), judges=judges())


def _evaluate_piano(model, corpus, config, real_voices=None) -> dict:
    from .evaluation.music import evaluate_music
    return evaluate_music(model, corpus, config)


SPEECH = Domain(
    name="speech", held_out="held-out synthetic speakers and sentences, real LibriSpeech test-other readers",
    tag="text-free",
    license=("MIT, like the code. The training audio was synthesized with espeak-ng (GPL-3.0); the",
             "synthesized speech and these weights contain none of espeak-ng's code. The real held-out",
             "readers used for evaluation only are LibriSpeech test-other (Panayotov et al., 2015; CC BY 4.0)."),
    corpus=_lazy(".data.speech_corpus", "SpeechCorpus"),
    build_corpus=_lazy(".data.speech_corpus", "build_speech_corpus"),
    eval_config=_lazy(".evaluation.speech", "SpeechEvalConfig"), evaluate=_evaluate_speech,
    report=_lazy(".evaluation.report", "speech_markdown"),
    card_data=_lazy(".training.model_card", "speech_data"),
    examples=_lazy(".training.examples", "speech_examples"))

PIANO = Domain(
    name="piano", held_out="held-out pieces", tag="music",
    license=("MIT, like the code. The training audio was rendered with the FluidR3 GM soundfont (MIT) by",
             "fluidsynth (LGPL-2.1); these weights contain neither."),
    corpus=_lazy(".data.piano_corpus", "PianoCorpus"),
    build_corpus=_lazy(".data.piano_corpus", "build_piano_corpus"),
    eval_config=_lazy(".evaluation.music", "MusicEvalConfig"), evaluate=_evaluate_piano,
    report=_lazy(".evaluation.music", "markdown"),
    card_data=_lazy(".training.model_card", "piano_data"),
    examples=_lazy(".training.examples", "piano_examples"))

DOMAINS = {d.name: d for d in (SPEECH, PIANO)}


def get_domain(name: str) -> Domain:
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; one of {', '.join(DOMAINS)}")
    return DOMAINS[name]
