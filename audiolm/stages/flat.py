"""Autoregressive stage over a flattened token layout (the paper's three stages).

Layout of one window: ``[BOS] cond(frame-major, per-level offsets) [SEP] target(frame-major)``
in one shared vocabulary ``[cond levels | target levels | BOS, SEP]``.

- semantic stage: no cond, 1 target level (semantic ids)
- coarse stage: cond = semantic ids, target = the first Q' codec levels
- fine stage (paper layout): cond = the Q' coarse levels, target = the remaining Q - Q'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from ..forbidden_ngrams import ForbiddenNGrams
from ..prefix_memory import PrefixMemory
from ..sampling import SamplingConfig, TokenBias, sample
from ..styles import style_named
from ..transformer import DecoderLM, TransformerConfig
from .base import ProgressFn, Stage, StageSize, StageSpec, StreamStageConfig, cond_span, one_draw_per_token
from .windows import autoregressive_windows, pinned


def window_tokens(cond_levels: int, cond_rate: float, target_levels: int, target_rate: float,
                  window_frames: int) -> int:
    """Positions of one window: ``[BOS] cond [SEP] target``."""
    lo, hi = cond_span(cond_rate, target_rate, 0, window_frames)
    return 2 + cond_levels * (hi - lo) + target_levels * window_frames


@dataclass(kw_only=True)
class FlatStageConfig(StreamStageConfig):
    # share of training windows whose cond is replaced by the null cond (every cond position BOS), so that
    # the stage also models the target without cond: what classifier-free guidance subtracts at sampling
    cond_dropout: float = 0.0
    # a style (``audiolm.styles``) whose class replaces BOS at position 0 of every window, and the share of
    # training windows that keep BOS instead (what sampling without a style class reads)
    style: str | None = None
    style_dropout: float = 0.0
    transformer: TransformerConfig = field(default_factory=TransformerConfig)

    @property
    def bos(self) -> int:
        return self.target_offset + self.target_levels * self.target_codebook

    @property
    def sep(self) -> int:
        return self.bos + 1

    @property
    def style_classes(self) -> int:
        return 0 if self.style is None else style_named(self.style).classes

    @property
    def vocab_size(self) -> int:  # [cond levels | target levels | BOS, SEP | style classes]
        return self.sep + 1 + self.style_classes

    def window_tokens(self) -> int:
        return window_tokens(self.cond_levels, self.cond_rate, self.target_levels, self.target_rate,
                             self.window_frames)

    def __post_init__(self):
        if not 0 <= self.cond_dropout < 1:
            raise ValueError(f"{self.name} stage: cond_dropout must be in [0, 1), got {self.cond_dropout}")
        if self.style is not None:
            style_named(self.style)  # an unknown style's error, at construction
        if not 0 <= self.style_dropout < 1 or (self.style_dropout and self.style is None):
            raise ValueError(f"{self.name} stage: style_dropout must be in [0, 1) and needs a style, got "
                             f"{self.style_dropout} with style {self.style!r}")
        if self.window_tokens() > self.transformer.max_seq_len:
            raise ValueError(f"{self.name} stage: a window of {self.window_frames} frames needs "
                             f"{self.window_tokens()} positions but max_seq_len is {self.transformer.max_seq_len}; "
                             "raise max_seq_len or shrink window_frames.")
        if not self.transformer.causal:
            raise ValueError("an autoregressive stage needs a causal transformer")


def shared_prefix(a: torch.Tensor | None, b: torch.Tensor) -> int:
    """How many leading positions ``a`` and ``b`` (``(B, T)`` ids, ``a`` may be None) share in every row."""
    if a is None:
        return 0
    n = min(a.shape[1], b.shape[1])
    differ = (a[:, :n] != b[:, :n]).any(0).nonzero()
    return int(differ[0]) if len(differ) else n


class Guide(NamedTuple):
    """One classifier-free guide of a sampling call: its weight, and its branch's ids made from the sample's (a
    window's, and a frame's opening ids fed mid-window)."""
    weight: float
    window: Callable[[torch.Tensor], torch.Tensor]
    opening: Callable[[torch.Tensor], torch.Tensor]


def guided(logits: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Classifier-free guidance of ``logits (1 + n, B, V)``: the sample's rows, then each guide's branch (its
    condition taken away), by ``weights`` (n): ``branch_1 + w_1 (sample - branch_1) + sum_i>1 (w_i - 1) (sample -
    branch_i)``, i.e. each guide's direction added to the sample's logits; one guide is the usual
    ``null + w (cond - null)``."""
    out = logits[1] + weights[0] * (logits[0] - logits[1])
    for branch, weight in zip(logits[2:], weights[1:]):
        out = out + (weight - 1) * (logits[0] - branch)
    return out


class FlatStage(Stage):
    type_name, layout, config_class = "flat", "autoregressive", FlatStageConfig

    def __init__(self, config: FlatStageConfig):
        super().__init__(config)
        self.lm = DecoderLM(config.vocab_size, config.transformer)
        c = config
        self.register_buffer("cond_offsets", torch.arange(c.cond_levels) * c.cond_codebook, persistent=False)
        self.register_buffer("target_offsets", c.target_offset + torch.arange(c.target_levels) * c.target_codebook,
                             persistent=False)

    @property
    def style(self) -> str | None:
        return self.config.style

    def has_cond(self, cond: torch.Tensor | None) -> bool:
        """Whether this call's windows carry a cond stream."""
        return cond is not None and self.config.cond_levels > 0

    # ----- layout -----
    def flatten(self, cond: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
        """``cond (B, Lc, Tc)``, ``target (B, Lt, Tt)`` -> ids ``(B, 2 + Lc*Tc + Lt*Tt)``."""
        B = target.shape[0]
        special = lambda token: torch.full((B, 1), token, dtype=torch.long, device=target.device)  # noqa: E731
        parts = [special(self.config.bos)]
        if self.has_cond(cond):
            self._check(cond, self.config.cond_levels, self.config.cond_codebook, "cond")
            parts.append((cond + self.cond_offsets[:, None]).transpose(1, 2).reshape(B, -1))
        parts.append(special(self.config.sep))
        self._check(target, self.config.target_levels, self.config.target_codebook, "target")
        parts.append((target + self.target_offsets[:, None]).transpose(1, 2).reshape(B, -1))
        return torch.cat(parts, dim=1)

    def null_cond(self, ids: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Flat ``ids`` with the cond of ``rows`` (a bool mask over the batch; all rows if None) made null:
        every cond position BOS. Same length, so conditioned and null rows batch together."""
        ids = ids.clone()
        sep_at = int((ids[0] == self.config.sep).nonzero()[0])  # cond positions: [1, sep_at)
        if rows is None:
            ids[:, 1:sep_at] = self.config.bos
        else:
            ids[rows, 1:sep_at] = self.config.bos
        return ids

    def with_style(self, ids: torch.Tensor, style: torch.Tensor | None,
                   keep_bos: torch.Tensor | None = None) -> torch.Tensor:
        """Flat ``ids (B, T)`` with position 0 the class ``style (B,)`` of the stage's style instead of BOS (where
        ``keep_bos``, a bool mask over the batch, is not set); ``ids`` unchanged where ``style`` is None."""
        if style is None:
            return ids
        if self.config.style is None:
            raise ValueError(f"the {self.config.name} stage has no style, so it takes no style classes")
        style = torch.as_tensor(style, device=ids.device).long().expand(ids.shape[0])
        if style.numel() and (style.min() < 0 or style.max() >= self.config.style_classes):
            raise ValueError(f"style classes must lie in [0, {self.config.style_classes})")
        ids = ids.clone()
        ids[:, 0] = torch.where(keep_bos, self.config.bos, self.config.sep + 1 + style) if keep_bos is not None \
            else self.config.sep + 1 + style
        return ids

    def without_style(self, ids: torch.Tensor) -> torch.Tensor:
        """A window's ``ids (B, T)`` with BOS at position 0 instead of a style class: what style guidance subtracts."""
        ids = ids.clone()
        ids[:, 0] = self.config.bos
        return ids

    def warm_started(self, loaded: dict[str, str]) -> None:
        """After ``training.loop.warm_start`` from a stage without this one's style rows (its embedding loaded
        where it overlaps): each style class's embedding starts as BOS's, so the stage starts as the saved one."""
        if self.config.style_classes and loaded.get("lm.embed.weight") == "overlap":
            with torch.no_grad():
                self.lm.embed.weight[self.config.sep + 1:] = self.lm.embed.weight[self.config.bos]

    @staticmethod
    def _check(ids, levels, codebook, what):
        if ids.dim() != 3 or ids.shape[1] != levels:
            raise ValueError(f"{what} ids must be (B, {levels}, T), got {tuple(ids.shape)}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= codebook):
            raise ValueError(f"{what} ids must lie in [0, {codebook})")

    # ----- the role -----
    @classmethod
    def config_for(cls, spec: StageSpec, size: StageSize) -> FlatStageConfig:
        tokens = window_tokens(spec.cond_levels, spec.cond_rate, spec.target_levels, spec.target_rate,
                               size.window_frames)
        return FlatStageConfig(
            **FlatStageConfig.role_fields(spec, size), cond_dropout=size.cond_dropout if spec.cond_levels else 0.0,
            style=size.style, style_dropout=size.style_dropout,
            transformer=TransformerConfig(d_model=size.d_model, n_layers=size.n_layers, n_heads=size.n_heads,
                                          n_kv_heads=size.n_kv_heads, max_seq_len=tokens))

    def mismatches(self, spec: StageSpec) -> list[tuple[str, object, object]]:
        return self.config.mismatches(spec)

    def id_rows(self, stream: str) -> dict[str, list[int]]:
        if stream == "cond":
            return {"lm.embed.weight": self.cond_offsets.tolist()}
        starts = self.target_offsets.tolist()
        return {"lm.embed.weight": starts, "lm.head.weight": starts}

    # ----- training -----
    def loss(self, cond: torch.Tensor | None, target: torch.Tensor,
             generator: torch.Generator | None = None, style: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of every target token, each over its own level's codebook; ``style (B,)``: the windows'
        style classes (stages with a style)."""
        ids = self.flatten(cond, target)
        B, L, T = target.shape
        if self.training and self.config.cond_dropout > 0 and self.has_cond(cond):
            drop = torch.rand(B, generator=generator) < self.config.cond_dropout
            ids = self.null_cond(ids, drop.to(ids.device))
        keep_bos = None
        if self.training and self.config.style_dropout > 0 and style is not None:
            keep_bos = (torch.rand(B, generator=generator) < self.config.style_dropout).to(ids.device)
        ids = self.with_style(ids, style, keep_bos)
        predicted_from = self.loss_positions(cond, ids, T).to(ids.device) - 1  # position p predicts p + 1
        logits = self.lm(ids[:, :-1])[:, predicted_from]  # (B, T, L, V)
        K = self.config.target_codebook
        per_level = torch.stack([logits[:, :, i, o:o + K] for i, o in enumerate(self.target_offsets.tolist())], 2)
        return F.cross_entropy(per_level.reshape(-1, K).float(), target.transpose(1, 2).reshape(-1))

    def loss_positions(self, cond: torch.Tensor | None, ids: torch.Tensor, frames: int) -> torch.Tensor:
        """Positions ``(frames, Lt)`` of the target tokens in a window's ``ids``: its last ``Lt * frames``."""
        L = self.config.target_levels
        return ids.shape[1] - L * frames + torch.arange(frames * L).view(frames, L)

    # ----- sampling -----
    def generate(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
                 sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
                 progress: ProgressFn | None = None, bias: TokenBias | None = None,
                 style: torch.Tensor | None = None) -> torch.Tensor:
        """Continue ``prefix (B, Lt, P)`` to ``total_frames`` frames given ``cond (B, Lc, Tc)`` (and ``style (B,)``,
        the style classes of a stage with a style; None: BOS, as in its style-dropout windows)."""
        for _, out in self.stream(cond, prefix, total_frames, sampling, generator, progress, bias=bias, style=style):
            pass
        return out

    def guidance(self, sampling: SamplingConfig, cond_given: bool = True) -> float:
        if sampling.guidance != 1 and not (cond_given and self.config.cond_levels and self.config.cond_dropout):
            super().guidance(sampling, cond_given)  # the error: nothing to guide by, or no null cond learnt
        return sampling.guidance

    def style_guidance(self, sampling: SamplingConfig, style_given: bool = True) -> float:
        if sampling.style_guidance != 1 and not (self.config.style and self.config.style_dropout):
            super().style_guidance(sampling, style_given)  # the error: no style, or no window without it learnt
        return sampling.style_guidance if style_given else 1.0

    def guides(self, sampling: SamplingConfig, cond: torch.Tensor | None, style: torch.Tensor | None) -> list[Guide]:
        """Classifier-free guidance's branches asked of this call (by the cond, by the style class)."""
        keep = lambda ids: ids  # noqa: E731
        guides = [Guide(self.guidance(sampling, cond is not None), self.null_cond, self.null_cond),
                  Guide(self.style_guidance(sampling, style is not None), self.without_style, keep)]
        return [guide for guide in guides if guide.weight != 1]

    def prefix_knn(self, sampling: SamplingConfig) -> float:
        return sampling.prefix_knn

    def forbid_prefix_ngrams(self, sampling: SamplingConfig) -> int:
        return sampling.forbid_prefix_ngrams

    # at most this many ids are fed before a frame's first target token (``frame_opening``)
    opening_tokens = 0

    def frame_opening(self, cond: torch.Tensor | None, frame: int) -> torch.Tensor | None:
        """Known ids ``(B, n)`` fed just before ``frame``'s first target token: none in this layout, whose
        window reads its whole cond up front."""
        return None

    def draws(self, known: int, total: int, sampling: SamplingConfig) -> int:
        return one_draw_per_token(self.config.target_levels, known, total, sampling)

    @torch.inference_mode()
    def stream(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
               sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
               progress: ProgressFn | None = None, cond_ready: Callable[[int], None] | None = None,
               bias: TokenBias | None = None, style: torch.Tensor | None = None):
        """``generate`` frame by frame: yields ``(known, out)`` at the start and after every frame (the
        whole cond is read up front: the semantic and coarse roles' cond is known before they start).
        ``sampling.forbid_prefix_ngrams`` forbids the n-grams of ``prefix`` (``audiolm.forbidden_ngrams``).
        Past one window the prefix stays in context (``windows.autoregressive_windows``)."""
        c, sampling = self.config, sampling or SamplingConfig()
        B, known = prefix.shape[0], prefix.shape[2]
        guides = self.guides(sampling, cond, style)  # rows B(i + 1).. hold guide i's branch of the context
        if cond_ready is not None:
            cond_ready(total_frames)
        out = torch.zeros(B, c.target_levels, max(total_frames, known), dtype=torch.long, device=prefix.device)
        out[:, :, :known] = prefix
        yield known, out[:, :, :total_frames]
        todo, done = (total_frames - known) * c.target_levels, 0
        ranges = [(o, o + c.target_codebook) for o in self.target_offsets.tolist()]
        cache, cached = None, None  # the KV cache and the ids it was last filled from
        memory = None  # the first window's known frames as a kNN-LM datastore (``prefix_knn``)
        n = self.forbid_prefix_ngrams(sampling)
        forbidden = ForbiddenNGrams(prefix, n) if n else None
        for window, (keep, start, end, window_cond) in enumerate(autoregressive_windows(c, cond, known, total_frames)):
            known_frames = pinned(out, keep, start, known)
            ids = self.with_style(self.flatten(window_cond, known_frames), style)
            ids = torch.cat([ids, *(guide.window(ids) for guide in guides)])
            needed = ids.shape[1] + (end - known) * (c.target_levels + self.opening_tokens)
            if cache is None or cache.capacity < needed:
                cache, cached = self.lm.body.new_cache(ids.shape[0], capacity=max(needed, c.transformer.max_seq_len)), None
            # a window starts with the ids its predecessor started with (the pinned prompt): their keys and values
            # are already in the cache, at the same positions
            cache.length = shared_prefix(cached, ids[:, :-1])
            if cache.length < ids.shape[1] - 1:
                if window == 0 and self.prefix_knn(sampling) and known_frames.shape[2]:  # a cache filled from 0
                    hidden = self.lm.hidden(ids[:, :-1], cache)[:B]  # the prefill, its samples' rows kept
                    memory = PrefixMemory(hidden, self.loss_positions(window_cond, ids, known_frames.shape[2]),
                                          known_frames, sampling.prefix_knn, sampling.prefix_knn_temperature)
                else:
                    self.lm.prefill(ids[:, cache.length:-1], cache)
            cached, feed = ids, ids[:, -1:]  # (a window holds at least BOS and SEP)
            # the window's share of the bias, one tensor per level (one indexing per token instead of a scatter)
            window_bias = None if bias is None else [bias.logits(level, known, end, c.target_codebook)
                                                     for level in range(c.target_levels)]
            for frame in range(known, end):
                opening = self.frame_opening(cond, frame)
                if opening is not None:
                    feed = torch.cat([feed, torch.cat([opening, *(guide.opening(opening) for guide in guides)])], 1)
                for level, (lo, hi) in enumerate(ranges):
                    hidden = self.lm.hidden(feed, cache)
                    logits = self.lm.logits(hidden, (lo, hi), cache)[:, -1]
                    if guides:
                        logits = guided(logits.unflatten(0, (-1, B)), [guide.weight for guide in guides])
                    if window_bias is not None:
                        logits = logits + window_bias[level][:, frame - known]
                    if memory is not None:
                        logits = memory.mix(logits, hidden[:B, -1], level)
                    if forbidden is not None:
                        logits = forbidden.mask(logits, out[:, level, :frame], level)
                    token = sample(logits, sampling, generator)
                    out[:, level, frame] = token
                    feed = (token + lo)[:, None].repeat(1 + len(guides), 1)
                done += c.target_levels
                if progress is not None:
                    progress(done, todo)
                yield frame + 1, out[:, :, :total_frames]
            known = end
