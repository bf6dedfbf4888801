"""Streaming continuation and unconditional generation: the audio comes chunk by chunk while the rest is
generated, and the chunks put together are exactly ``AudioLM.continuation`` / ``unconditional``'s audio for
the same seed (``tests/test_streaming.py``).

Order of work, in one thread: the semantic ids first (all of them: the coarse stage reads them up front),
then the coarse stage frame by frame, pulled only as far as the fine stage's next window needs, then
each fine window, and after it the codec decodes every frame that no longer depends on frames not yet
known (``Codec.decode_context`` frames either side), cropped from a decode with that context. A
continuation's prompt is known at the start, so its first part plays before anything is generated.

Same tokens: each stage runs its own ``generate`` code (``Stage.stream`` steps through it). The
coarse and fine stages draw from one generator per sample, coarse first; interleaving them, the fine
stage draws from a copy advanced past every draw the coarse stage will make (an autoregressive stage
draws one uniform per token and sample, none when greedy; so does the delay layout). Other coarse layouts run
to the end first.
"""
from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import torch

from .pipeline import AudioLM, GenerationPlan, GenerationResult, GenerationSettings, Progress
from .sampling import SampleGenerators, SamplingConfig


class GenerationStream:
    """Iterate for the audio, ``(num_samples, n)`` float32 chunks in order; ``result`` (a
    ``GenerationResult``, its audio the chunks put together) is set once iteration ends."""

    def __init__(self, model: AudioLM, plan: GenerationPlan, seed: int, settings: GenerationSettings | None = None,
                 progress: Progress | None = None):
        self.model, self.plan, self.seed = model, plan, seed
        self.settings, self.progress = settings or model.default_settings, progress
        model.check_settings(self.settings)
        self.result: GenerationResult | None = None

    @property
    def sample_rate(self) -> int:
        return self.model.config.sample_rate

    @property
    def prompt_samples(self) -> int:
        return self.plan.prompt_samples

    def __iter__(self) -> Iterator[np.ndarray]:
        model, plan, settings = self.model, self.plan, self.settings
        config, codec, frames = model.config, model.codec, plan.frames
        report = (lambda name: (lambda done, total: self.progress(name, done / max(total, 1)))) \
            if self.progress else (lambda name: None)
        generators = SampleGenerators(self.seed, plan.semantic.shape[0], model.device)
        sem = plan.semantic_ids(model, settings, generators, report("semantic"))
        Qc, known_coarse = config.num_coarse, plan.acoustic.shape[2]
        coarse_bias, fine_bias = plan.biases(model, sem, settings)
        fine_generators = advanced(generators, model.coarse_stage, known_coarse, frames, settings.coarse)
        steps = model.coarse_stage.stream(sem, plan.acoustic[:, :Qc], frames, settings.coarse, generators,
                                          report("coarse"), bias=coarse_bias,
                                          **plan.style_kwargs(model, model.coarse_stage))
        coarse = {"known": -1, "out": None}

        def coarse_ready(n: int) -> None:  # generate coarse frames until frames < n are final
            while coarse["known"] < n:
                coarse["known"], coarse["out"] = next(steps)

        coarse_ready(frames if fine_generators is None else 0)
        fine_steps = plan.fine_source(model, settings).stream(
            coarse["out"], plan.acoustic[:, Qc:], frames, settings.fine, fine_generators or generators,
            report("fine"), cond_ready=coarse_ready, bias=fine_bias)
        context, hop = codec.decode_context, codec.hop_length
        samples = plan.samples if plan.samples is not None else frames * hop
        chunks, emitted = [], 0  # frames decoded so far
        for known, fine in fine_steps:
            # frames < upto no longer depend on unknown frames (all of them once everything is known)
            upto = frames if known >= frames else (known - context if context is not None else 0)
            if upto <= emitted:
                continue
            lo, hi = (0, frames) if context is None else (max(0, emitted - context), min(frames, upto + context))
            ids = torch.cat([coarse["out"][:, :, lo:hi], fine[:, :, lo:hi]], 1)
            audio = plan.decode(model, ids, settings, first=lo)
            chunk = np.clip(audio[:, (emitted - lo) * hop:(upto - lo) * hop][:, :max(0, samples - emitted * hop)],
                            -1, 1)
            emitted = upto
            if self.progress:
                self.progress("decode", emitted / frames)
            if chunk.shape[1]:
                chunks.append(chunk)
                yield chunk
        all_ids = torch.cat([coarse["out"], fine], 1)
        self.result = GenerationResult(np.concatenate(chunks, 1), config.sample_rate, plan.prompt_samples,
                                       self.seed, sem[:, 0].cpu(), all_ids.cpu())


def time_to_first_audio(make_stream) -> dict[str, float]:
    """Seconds from calling ``make_stream()`` (a prompt is tokenized there) to the stream's first chunk
    (``first_audio_s``), to its first generated sample (``first_new_audio_s``: later than the first chunk
    when that is the prompt's) and to its end (``total_s``)."""
    start, times, played = time.perf_counter(), {}, 0
    stream = make_stream()
    for chunk in stream:
        played += chunk.shape[1]
        times.setdefault("first_audio_s", time.perf_counter() - start)
        if played > stream.prompt_samples:
            times.setdefault("first_new_audio_s", time.perf_counter() - start)
    times["total_s"] = time.perf_counter() - start
    times["audio_s"] = played / stream.sample_rate
    return times


def advanced(generators: SampleGenerators, stage, known: int, total: int,
             sampling: SamplingConfig) -> SampleGenerators | None:
    """A copy of ``generators`` past every draw that ``stage`` makes generating frames ``known`` to ``total``;
    None where that count is not known (``Stage.draws``: a layout that does not say)."""
    draws = stage.draws(known, total, sampling)
    if draws is None:
        return None
    clones = []
    for g in generators.generators:
        clone = torch.Generator(g.device)
        clone.set_state(g.get_state())
        for _ in range(draws):  # the very calls sample() makes: (1, 1) uniforms, one sample's row per token
            torch.rand(1, 1, generator=clone, device=g.device)
        clones.append(clone)
    return SampleGenerators.of(clones)


def stream_continuation(model: AudioLM, prompt: np.ndarray, seconds: float, num_samples: int = 1, seed: int = 0,
                        settings: GenerationSettings | None = None,
                        progress: Progress | None = None) -> GenerationStream:
    """``model.continuation`` as a stream (the prompt is checked and tokenized here, before iterating)."""
    model.check_request(num_samples, seed, seconds)
    return GenerationStream(model, model.continuation_plan(prompt, seconds, num_samples), seed, settings, progress)


def stream_unconditional(model: AudioLM, seconds: float, num_samples: int = 1, seed: int = 0,
                         settings: GenerationSettings | None = None,
                         progress: Progress | None = None) -> GenerationStream:
    """``model.unconditional`` as a stream."""
    model.check_request(num_samples, seed, seconds)
    return GenerationStream(model, model.unconditional_plan(seconds, num_samples), seed, settings, progress)
