"""Fine stage with per-level parallel decoding (as Bark's fine model).

A bidirectional transformer sees the sum of the embeddings of levels ``< q`` at every frame
and predicts level ``q`` for all frames of a window at once, so generating the fine levels
costs ``Q - Q'`` forward passes per window instead of ``(Q - Q') * frames`` decoding steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import SamplingConfig, TokenBias, sample
from ..transformer import Transformer, TransformerConfig, _init_weights
from .base import ProgressFn, Stage, StageSize, StageSpec, check_flat_only
from .windows import plan_windows


@dataclass(kw_only=True)
class ParallelFineConfig:
    name: str = "fine"
    num_levels: int = 12  # Q: all codec levels
    first_level: int = 4  # Q': levels given by the coarse stage
    codebook: int = 1024
    window_frames: int = 256
    transformer: TransformerConfig = field(default_factory=lambda: TransformerConfig(causal=False))

    @property
    def fine_levels(self) -> int:
        return self.num_levels - self.first_level

    def __post_init__(self):
        if not 0 < self.first_level < self.num_levels:
            raise ValueError(f"first_level must be in (0, {self.num_levels}), got {self.first_level}")
        if self.transformer.causal:
            raise ValueError("the parallel fine stage needs a bidirectional transformer (causal=False)")
        if self.window_frames > self.transformer.max_seq_len:
            raise ValueError("window_frames exceeds the transformer's max_seq_len")


class ParallelFineStage(Stage):
    type_name, layout, config_class = "parallel_fine", "parallel", ParallelFineConfig

    def __init__(self, config: ParallelFineConfig):
        super().__init__(config)
        d = config.transformer.d_model
        self.embed = nn.Embedding(config.num_levels * config.codebook, d)
        self.heads = nn.Parameter(torch.randn(config.fine_levels, config.codebook, d) * 0.02)
        self.body = Transformer(config.transformer)
        self.register_buffer("offsets", torch.arange(config.num_levels) * config.codebook, persistent=False)
        self.apply(_init_weights)

    def logits(self, codes: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """``codes (B, Q, T)`` (levels >= ``level`` are ignored), ``level (B,)`` -> ``(B, T, K)``."""
        c = self.config
        visible = torch.arange(c.num_levels, device=codes.device)[None] < level[:, None]  # (B, Q)
        x = (self.embed(codes + self.offsets[:, None]) * visible[:, :, None, None]).sum(1)  # (B, T, d)
        h = self.body(x)
        return torch.einsum("btd,bkd->btk", h, self.heads[level - c.first_level])

    @classmethod
    def config_for(cls, spec: StageSpec, size: StageSize) -> ParallelFineConfig:
        check_flat_only("parallel", size)
        return ParallelFineConfig(
            name=spec.name, num_levels=spec.cond_levels + spec.target_levels, first_level=spec.cond_levels,
            codebook=spec.target_codebook, window_frames=size.window_frames,
            transformer=TransformerConfig(d_model=size.d_model, n_layers=size.n_layers, n_heads=size.n_heads,
                                          n_kv_heads=size.n_kv_heads, max_seq_len=size.window_frames, causal=False))

    def mismatches(self, spec: StageSpec) -> list[tuple[str, object, object]]:
        """Only a fine role fits: cond and target are levels of one codec at one rate."""
        c = self.config
        got = {"num_levels (Q)": c.num_levels, "first_level (Q')": c.first_level, "codebook": c.codebook,
               "cond codebook": c.codebook, "cond rate = target rate": True}
        want = {"num_levels (Q)": spec.cond_levels + spec.target_levels, "first_level (Q')": spec.cond_levels,
                "codebook": spec.target_codebook, "cond codebook": spec.cond_codebook,
                "cond rate = target rate": spec.cond_rate == spec.target_rate}
        return [(k, got[k], want[k]) for k in got if got[k] != want[k]]

    def loss(self, cond: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of one random fine level of ``target (B, Q-Q', T)`` per example, predicted from
        the levels below (``cond (B, Q', T)``, the coarse levels, and the fine levels under it)."""
        c, codes = self.config, torch.cat([cond, target], 1)
        if codes.dim() != 3 or codes.shape[1] != c.num_levels:
            raise ValueError(f"codes must be (B, {c.num_levels}, T), got {tuple(codes.shape)}")
        level = torch.randint(c.first_level, c.num_levels, (codes.shape[0],), generator=generator).to(codes.device)
        logits = self.logits(codes, level)
        target = codes.gather(1, level[:, None, None].expand(-1, 1, codes.shape[2]))[:, 0]
        return F.cross_entropy(logits.reshape(-1, c.codebook).float(), target.reshape(-1))

    def generate(self, cond: torch.Tensor, prefix: torch.Tensor, total_frames: int,
                 sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
                 progress: ProgressFn | None = None, bias: TokenBias | None = None) -> torch.Tensor:
        """coarse levels ``cond (B, Q', T >= total_frames)`` + known fine ``prefix (B, Q-Q', P)`` -> fine
        ``(B, Q-Q', total_frames)``."""
        for _, fine in self.stream(cond, prefix, total_frames, sampling, generator, progress, bias=bias):
            pass
        return fine

    @torch.inference_mode()
    def stream(self, cond: torch.Tensor, prefix: torch.Tensor, total_frames: int,
               sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
               progress: ProgressFn | None = None, cond_ready: Callable[[int], None] | None = None,
               bias: TokenBias | None = None):
        """``generate`` window by window: yields ``(known, fine)`` at the start and after every window.
        ``cond`` may still be filling: ``cond_ready(end)`` is called before its frames ``< end`` are read."""
        c, sampling = self.config, sampling or SamplingConfig()
        self.guidance(sampling)  # these layouts take no guidance: an error unless 1
        self.style_guidance(sampling)
        B, T = cond.shape[0], total_frames
        known = prefix.shape[2]
        codes = torch.zeros(B, c.num_levels, T, dtype=torch.long, device=cond.device)
        codes[:, c.first_level:, :known] = prefix[:, :, :T]
        yield known, codes[:, c.first_level:]
        windows = list(plan_windows(known, T, c.window_frames))
        copied = 0  # coarse frames copied into codes
        for i, (start, end) in enumerate(windows):
            if cond_ready is not None:
                cond_ready(end)
            codes[:, :c.first_level, copied:end] = cond[:, :, copied:end]
            copied = end
            for q in range(c.first_level, c.num_levels):
                level = torch.full((B,), q, dtype=torch.long, device=cond.device)
                logits = self.logits(codes[:, :, start:end], level)[:, known - start:]
                if bias is not None:  # its levels are the fine ones, from 0
                    logits = logits + bias.logits(q - c.first_level, known, end, c.codebook)
                codes[:, q, known:end] = sample(logits, sampling, generator)
            known = end
            if progress is not None:
                progress(i + 1, len(windows))
            yield known, codes[:, c.first_level:]
