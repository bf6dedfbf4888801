"""Residual vector quantization that keeps its codebooks in use.

- codebooks initialised from the first batch's vectors (data init, as k-means++ seeds would),
- EMA updates of cluster sizes and sums (no codebook gradients),
- dead-code restarts: codes whose EMA usage falls below a threshold take a random vector
  from the current batch,
- quantizer dropout: a random number of levels per example during training, so that the
  first Q' levels alone decode to something meaningful,
- straight-through gradients to the encoder, plus a commitment loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class RVQConfig:
    dim: int = 64
    num_quantizers: int = 12
    codebook_size: int = 1024
    decay: float = 0.99
    dead_threshold: float = 0.05  # restart codes used less than this fraction of uniform usage
    quantizer_dropout: float = 0.5  # fraction of training examples with a random level count
    commitment_weight: float = 0.25


class VectorQuantizer(nn.Module):
    def __init__(self, dim: int, codebook_size: int, decay: float, dead_threshold: float):
        super().__init__()
        self.decay, self.dead_threshold = decay, dead_threshold
        self.register_buffer("codebook", torch.randn(codebook_size, dim))
        # EMA statistics only matter while training: the trainer checkpoints them, bundles omit them
        self.register_buffer("ema_count", torch.ones(codebook_size), persistent=False)
        self.register_buffer("ema_sum", self.codebook.clone(), persistent=False)
        self.register_buffer("initialized", torch.tensor(False))
        self.register_load_state_dict_post_hook(VectorQuantizer._restart_ema)

    @staticmethod
    @torch.no_grad()
    def _restart_ema(module: "VectorQuantizer", _incompatible) -> None:
        """A loaded codebook restarts its EMA from itself (count 1 per code), so that training on from
        saved weights (a warm start) moves it smoothly. A resumed run overwrites these right after."""
        module.ema_count.fill_(1.0)
        module.ema_sum.copy_(module.codebook)

    def indices(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, d) -> (N,)
        distances = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t()
                     + self.codebook.pow(2).sum(1)[None])
        return distances.argmin(1)

    @torch.no_grad()
    def init_from(self, x: torch.Tensor) -> None:
        """Seed the codebook with vectors of the first training batch (once)."""
        if bool(self.initialized):
            return
        K = self.codebook.shape[0]
        self.codebook.copy_(x[torch.randint(0, len(x), (K,), device=x.device)])
        self.ema_count.fill_(len(x) / K)
        self.ema_sum.copy_(self.codebook * (len(x) / K))
        self.initialized.fill_(True)

    @torch.no_grad()
    def update(self, x: torch.Tensor, idx: torch.Tensor) -> None:
        """EMA update on vectors ``x (N, d)`` assigned to ``idx``; restart dead codes."""
        K = self.codebook.shape[0]
        onehot_count = torch.bincount(idx, minlength=K).to(x.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, x)
        self.ema_count.mul_(self.decay).add_(onehot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-5)[:, None])
        uniform = len(x) / K  # expected uses per step if every code were used equally
        dead = self.ema_count < self.dead_threshold * uniform
        if dead.any():
            n = int(dead.sum())
            replacement = x[torch.randint(0, len(x), (n,), device=x.device)]
            self.codebook[dead] = replacement
            self.ema_count[dead] = uniform
            self.ema_sum[dead] = replacement * uniform


class ResidualVQ(nn.Module):
    def __init__(self, config: RVQConfig):
        super().__init__()
        self.config = config
        self.levels = nn.ModuleList(
            VectorQuantizer(config.dim, config.codebook_size, config.decay, config.dead_threshold)
            for _ in range(config.num_quantizers))

    def forward(self, z: torch.Tensor):
        """``z (B, d, T)`` -> quantized ``(B, d, T)`` (straight-through), ids ``(B, Q, T)``, loss. In float32
        even under bfloat16 autocast: the EMA statistics are float32, and bfloat16 distances pick other codes."""
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z.float())

    def _quantize(self, z: torch.Tensor):
        B, d, T = z.shape
        flat = z.transpose(1, 2).reshape(-1, d)
        n_levels = torch.full((B,), len(self.levels), device=z.device)
        if self.training and self.config.quantizer_dropout > 0:
            drop = torch.rand(B, device=z.device) < self.config.quantizer_dropout
            n_levels = torch.where(drop, torch.randint(1, len(self.levels) + 1, (B,), device=z.device), n_levels)
        active = n_levels.repeat_interleave(T)  # (B*T,)
        residual, quantized = flat, torch.zeros_like(flat)
        ids, commitment = [], flat.new_zeros(())
        for q, vq in enumerate(self.levels):
            if self.training:
                vq.init_from(residual.detach())
            idx = vq.indices(residual.detach())
            if self.training:
                vq.update(residual.detach(), idx)
            code = vq.codebook[idx]
            mask = (active > q).to(flat.dtype)[:, None]
            commitment = commitment + (F.mse_loss(residual, code.detach(), reduction="none") * mask).mean()
            quantized = quantized + code * mask
            residual = residual - code * mask
            ids.append(idx.view(B, T))
        quantized = flat + (quantized - flat).detach()  # straight-through estimator
        return (quantized.view(B, T, d).transpose(1, 2), torch.stack(ids, 1),
                commitment * self.config.commitment_weight)

    def encode(self, z: torch.Tensor, num_quantizers: int | None = None, first_level: int = 0) -> torch.Tensor:
        """``z (B, d, T)`` -> ids ``(B, q, T)`` of levels ``first_level..num_quantizers`` (``z`` is then the
        residual those levels are left with)."""
        B, d, T = z.shape
        residual, ids = z.transpose(1, 2).reshape(-1, d), []
        for vq in self.levels[first_level:num_quantizers or len(self.levels)]:
            idx = vq.indices(residual)
            residual = residual - vq.codebook[idx]
            ids.append(idx.view(B, T))
        return torch.stack(ids, 1)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, q, T)`` with ``q <= Q`` -> ``(B, d, T)``: the sum of the first q levels' codes."""
        if ids.shape[1] > len(self.levels):
            raise ValueError(f"got {ids.shape[1]} levels, the quantizer has {len(self.levels)}")
        return sum(self.levels[q].codebook[ids[:, q]] for q in range(ids.shape[1])).transpose(1, 2)
