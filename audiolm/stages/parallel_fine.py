"""Fine stage with per-level parallel decoding (as Bark's fine model).

A bidirectional transformer sees the sum of the embeddings of levels ``< q`` at every frame
and predicts level ``q`` for all frames of a window at once, so generating the fine levels
costs ``Q - Q'`` forward passes per window instead of ``(Q - Q') * frames`` decoding steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..sampling import SamplingConfig, sample
from ..serialization import config_from_dict, load_weights, read_config, save_module
from ..transformer import Transformer, TransformerConfig, _init_weights
from .flat import ProgressFn
from .windows import plan_windows


@dataclass
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


class ParallelFineStage(nn.Module):
    def __init__(self, config: ParallelFineConfig):
        super().__init__()
        self.config = config
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

    def loss(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of one random fine level per example, predicted from the levels below."""
        c = self.config
        if codes.dim() != 3 or codes.shape[1] != c.num_levels:
            raise ValueError(f"codes must be (B, {c.num_levels}, T), got {tuple(codes.shape)}")
        level = torch.randint(c.first_level, c.num_levels, (codes.shape[0],), generator=generator).to(codes.device)
        logits = self.logits(codes, level)
        target = codes.gather(1, level[:, None, None].expand(-1, 1, codes.shape[2]))[:, 0]
        return F.cross_entropy(logits.reshape(-1, c.codebook).float(), target.reshape(-1))

    @torch.inference_mode()
    def generate(self, coarse: torch.Tensor, prefix: torch.Tensor, sampling: SamplingConfig = SamplingConfig(),
                 generator: torch.Generator | None = None, progress: ProgressFn | None = None) -> torch.Tensor:
        """``coarse (B, Q', T)`` + known fine ``prefix (B, Q-Q', P)`` -> fine ``(B, Q-Q', T)``."""
        c = self.config
        B, _, T = coarse.shape
        known = prefix.shape[2]
        codes = torch.zeros(B, c.num_levels, T, dtype=torch.long, device=coarse.device)
        codes[:, :c.first_level] = coarse
        codes[:, c.first_level:, :known] = prefix[:, :, :T]
        windows = list(plan_windows(known, T, c.window_frames))
        for i, (start, end) in enumerate(windows):
            for q in range(c.first_level, c.num_levels):
                level = torch.full((B,), q, dtype=torch.long, device=coarse.device)
                logits = self.logits(codes[:, :, start:end], level)[:, known - start:]
                codes[:, q, known:end] = sample(logits, sampling, generator)
            known = end
            if progress is not None:
                progress(i + 1, len(windows))
        return codes[:, c.first_level:]

    def save_pretrained(self, folder, dtype: torch.dtype | None = None) -> None:
        save_module(self, self.config, folder, "parallel_fine", dtype)

    @classmethod
    def from_folder(cls, folder) -> "ParallelFineStage":
        return load_weights(cls(config_from_dict(ParallelFineConfig, read_config(folder))), folder).eval()
