"""Autoregressive stage over MusicGen's "delay" codebook pattern: all levels of a frame in one step.

Layout of one window of ``T`` target frames with ``L`` levels::

    [BOS] cond(frame-major, per-level offsets, as the flat layout) [SEP] step 1 ... step T+L-2

Level ``k`` is delayed by ``k`` steps: the delayed stream is ``D[k, s] = X[k, s - k]`` (a per-level PAD
id where ``s - k`` is outside ``[0, T)``), ``s = 0 .. T+L-2``. The input at step ``s`` is the sum over
levels of ``emb_k(D[k, s-1])`` (the SEP position stands for step 0), and the hidden state there predicts
all of ``D[:, s]`` with one head per level. So level ``k`` of frame ``t`` sees every level of frames
``< t`` and levels ``< k`` of frame ``t``, as in the flat layout, and a window costs
``2 + cond + T + L - 1`` positions instead of ``2 + cond + L * T``.

The cond stream also enters each step where it lines up (``aligned_cond``): the input predicting
``D[:, s]`` adds the embedding of the cond frame under target frame ``s``. Measured on the speech-mixed
run, a stage with the prefix alone learned to ignore the cond (its cross-entropy on real speech was the
same with another clip's semantic ids) and followed only the acoustic history; the aligned sum hands
each step its content without having to learn the 2:1 alignment through attention.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import SamplingConfig, TokenBias, sample
from ..transformer import Transformer, TransformerConfig, _init_weights
from .base import (ProgressFn, Stage, StageSize, StageSpec, StreamStageConfig, check_flat_only, cond_span,
                   one_draw_per_token)
from .windows import autoregressive_windows, pinned


def window_positions(cond_levels: int, cond_rate: float, target_levels: int, target_rate: float,
                     window_frames: int) -> int:
    """Positions of one window: ``[BOS] cond [SEP]`` and ``T + L - 1`` delayed steps (one spare, as the flat
    layout's count: a window that starts on an odd frame may take one more cond frame)."""
    lo, hi = cond_span(cond_rate, target_rate, 0, window_frames)
    return 2 + cond_levels * (hi - lo) + window_frames + target_levels - 1


@dataclass(kw_only=True)
class DelayStageConfig(StreamStageConfig):
    aligned_cond: bool = True  # add each step's cond frame to its input (besides the cond prefix)
    # training only: the fraction of target ids replaced by random ids in the stage's *inputs* (the loss keeps
    # the true ids), so that it cannot just copy the previous frame and leans on its cond
    input_noise: float = 0.0
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    @property
    def pad(self) -> int:  # per-level id of "no entry" (before a level's first frame, after its last)
        return self.target_codebook

    @property
    def bos(self) -> int:  # embedding rows: [cond levels | target levels (K + PAD each) | BOS, SEP]
        return self.target_offset + self.target_levels * (self.target_codebook + 1)

    @property
    def sep(self) -> int:
        return self.bos + 1

    def window_positions(self) -> int:
        return window_positions(self.cond_levels, self.cond_rate, self.target_levels, self.target_rate,
                                self.window_frames)

    def __post_init__(self):
        if self.window_positions() > self.transformer.max_seq_len:
            raise ValueError(f"{self.name} stage: a window of {self.window_frames} frames needs "
                             f"{self.window_positions()} positions but max_seq_len is "
                             f"{self.transformer.max_seq_len}; raise max_seq_len or shrink window_frames.")
        if not self.transformer.causal:
            raise ValueError("an autoregressive stage needs a causal transformer")


class DelayStage(Stage):
    type_name, layout, config_class = "delay", "delay", DelayStageConfig

    def __init__(self, config: DelayStageConfig):
        super().__init__(config)
        c, d = config, config.transformer.d_model
        self.embed = nn.Embedding(c.sep + 1, d)
        self.body = Transformer(c.transformer)
        self.heads = nn.Linear(d, c.target_levels * c.target_codebook, bias=False)  # L heads of K logits
        self.register_buffer("cond_offsets", torch.arange(c.cond_levels) * c.cond_codebook, persistent=False)
        self.register_buffer("level_offsets", c.target_offset + torch.arange(c.target_levels) * (c.target_codebook + 1),
                             persistent=False)
        self.apply(_init_weights)

    # ----- layout -----
    def delayed(self, target: torch.Tensor) -> torch.Tensor:
        """``target (B, L, T)`` -> ``D (B, L, T + L - 1)``, ``D[:, k, s] = target[:, k, s - k]`` or PAD."""
        B, L, T = target.shape
        D = target.new_full((B, L, T + L - 1), self.config.pad)
        for k in range(L):
            D[:, k, k:k + T] = target[:, k]
        return D

    def head_embeddings(self, cond: torch.Tensor | None, B: int, device) -> torch.Tensor:
        """Embeddings of ``[BOS] cond [SEP]`` ``(B, 2 + Lc * Tc, d)``."""
        c = self.config
        special = lambda token: torch.full((B, 1), token, dtype=torch.long, device=device)  # noqa: E731
        parts = [special(c.bos)]
        if cond is not None and c.cond_levels:
            _check(cond, c.cond_levels, c.cond_codebook, "cond")
            parts.append((cond + self.cond_offsets[:, None]).transpose(1, 2).reshape(B, -1))
        parts.append(special(c.sep))
        return self.embed(torch.cat(parts, 1))

    def step_embeddings(self, D: torch.Tensor, cond: torch.Tensor | None = None, first: int = 0) -> torch.Tensor:
        """Inputs of delayed steps whose entries are ``D (B, L, S)`` (PAD allowed) -> ``(B, S, d)``; the
        input of entries ``D[:, :, j]`` predicts step ``first + j + 1``, so with ``aligned_cond`` it adds the
        embedding of ``cond`` (the window's) under target frame ``first + j + 1`` (the last cond frame past
        its end)."""
        x = self.embed(D + self.level_offsets[:, None]).sum(1)
        c = self.config
        if cond is None or not c.cond_levels or not c.aligned_cond or not cond.shape[2]:
            return x
        frames = torch.arange(first + 1, first + 1 + D.shape[2], device=D.device)
        index = (frames * c.cond_rate / c.target_rate).floor().long().clamp(max=cond.shape[2] - 1)
        return x + self.embed(cond[:, :, index] + self.cond_offsets[:, None]).sum(1)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states ``(B, S, d)`` -> per-level logits ``(B, S, L, K)``."""
        return self.heads(h).unflatten(-1, (self.config.target_levels, self.config.target_codebook))

    def forward(self, cond: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits of every delayed entry: ``(B, T + L - 1, L, K)``, step ``s`` predicting ``D[:, s]``."""
        c = self.config
        _check(target, c.target_levels, c.target_codebook, "target")
        D = self.delayed(target)
        x = torch.cat([self.head_embeddings(cond, target.shape[0], target.device),
                       self.step_embeddings(D[:, :, :-1], cond)], 1)
        return self.logits(self.body(x)[:, -D.shape[2]:])

    # ----- the role -----
    @classmethod
    def config_for(cls, spec: StageSpec, size: StageSize) -> DelayStageConfig:
        check_flat_only("delay", size)
        positions = window_positions(spec.cond_levels, spec.cond_rate, spec.target_levels, spec.target_rate,
                                     size.window_frames)
        return DelayStageConfig(
            **DelayStageConfig.role_fields(spec, size),
            transformer=TransformerConfig(d_model=size.d_model, n_layers=size.n_layers, n_heads=size.n_heads,
                                          n_kv_heads=size.n_kv_heads, max_seq_len=positions))

    def mismatches(self, spec: StageSpec) -> list[tuple[str, object, object]]:
        return self.config.mismatches(spec)

    def id_rows(self, stream: str) -> dict[str, list[int]]:
        if stream == "cond":
            return {"embed.weight": self.cond_offsets.tolist()}
        K = self.config.target_codebook
        return {"embed.weight": self.level_offsets.tolist(), "heads.weight": [k * K for k in range(len(self.level_offsets))]}

    # ----- training -----
    def loss(self, cond: torch.Tensor | None, target: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of every (non-PAD) delayed entry, each over its own level's codebook."""
        c = self.config
        inputs = target
        if self.training and c.input_noise > 0:
            noisy = torch.rand(target.shape, generator=generator) < c.input_noise
            random_ids = torch.randint(0, c.target_codebook, target.shape, generator=generator)
            inputs = torch.where(noisy.to(target.device), random_ids.to(target.device), target)
        logits = self(cond, inputs)
        D = self.delayed(target)
        return F.cross_entropy(logits.reshape(-1, c.target_codebook).float(), D.transpose(1, 2).reshape(-1),
                               ignore_index=c.pad)

    # ----- sampling -----
    def generate(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
                 sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
                 progress: ProgressFn | None = None, bias: TokenBias | None = None) -> torch.Tensor:
        """Continue ``prefix (B, L, P)`` to ``total_frames`` frames given ``cond (B, Lc, Tc)``."""
        for _, out in self.stream(cond, prefix, total_frames, sampling, generator, progress, bias=bias):
            pass
        return out

    def draws(self, known: int, total: int, sampling: SamplingConfig) -> int:
        return one_draw_per_token(self.config.target_levels, known, total, sampling)

    @torch.inference_mode()
    def stream(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
               sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
               progress: ProgressFn | None = None, cond_ready: Callable[[int], None] | None = None,
               bias: TokenBias | None = None):
        """``generate`` step by step: yields ``(known, out)`` at the start and whenever a frame has all its
        levels (one forward per delayed step, KV-cached; known entries are fed, never sampled; one
        ``sample`` call per level and generated entry, level order within a step)."""
        c, sampling = self.config, sampling or SamplingConfig()
        self.guidance(sampling)  # these layouts take no guidance: an error unless 1
        self.style_guidance(sampling)
        B, known, L = prefix.shape[0], prefix.shape[2], c.target_levels
        _check(prefix, L, c.target_codebook, "prefix")
        if cond_ready is not None:
            cond_ready(total_frames)
        out = torch.zeros(B, L, max(total_frames, known), dtype=torch.long, device=prefix.device)
        out[:, :, :known] = prefix
        yield known, out[:, :, :total_frames]
        todo, done = (total_frames - known) * L, 0
        for keep, start, end, window_cond in autoregressive_windows(c, cond, known, total_frames):
            context = pinned(out, keep, start, end)  # (B, L, T): known frames, then room for the new ones
            T, first = context.shape[2], keep + known - start  # window frames; the first one to generate
            frame_of = lambda f: f if f < keep else start + f - keep  # noqa: E731  (window frame -> output frame)
            D = self.delayed(context)
            for k in range(L):  # entries not generated yet (each is set before it is fed)
                D[:, k, first + k:] = c.pad
            head = self.head_embeddings(window_cond, B, prefix.device)
            cache = self.body.new_cache(B, capacity=head.shape[1] + T + L - 2)
            # one forward for everything known: [BOS] cond [SEP] and the steps whose inputs are all known
            h = self.body(torch.cat([head, self.step_embeddings(D[:, :, :first], window_cond)], 1), cache)[:, -1:]
            for s in range(first, T + L - 1):
                logits = self.logits(h)[:, 0]  # (B, L, K): the entries D[:, s]
                for k in range(L):
                    f = s - k
                    if first <= f < T:
                        level_logits = logits[:, k]
                        if bias is not None:
                            level_logits = level_logits + bias.logits(k, frame_of(f), frame_of(f) + 1,
                                                                      c.target_codebook)[:, 0]
                        D[:, k, s] = out[:, k, frame_of(f)] = sample(level_logits, sampling, generator)
                if s - L + 1 >= first:  # frame s - L + 1 now has all its levels
                    done += L
                    if progress is not None:
                        progress(done, todo)
                    yield frame_of(s - L + 1) + 1, out[:, :, :total_frames]
                if s + 1 < T + L - 1:
                    h = self.body(self.step_embeddings(D[:, :, s:s + 1], window_cond, s), cache)
            known = end


def _check(ids, levels, codebook, what):
    if ids.dim() != 3 or ids.shape[1] != levels:
        raise ValueError(f"{what} ids must be (B, {levels}, T), got {tuple(ids.shape)}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= codebook):
        raise ValueError(f"{what} ids must lie in [0, {codebook})")
