"""The acoustic tokenizer interface that every codec implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import torch


class Codec(ABC):
    """``encode(wav) -> ids (B, Q, T)`` at ``frame_rate``; ``decode(ids) -> wav (B, samples)``."""

    sample_rate: int
    frame_rate: float
    num_quantizers: int
    codebook_size: int

    @abstractmethod
    def encode(self, wav: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """``wav (B, samples)`` float at ``sample_rate`` -> ids ``(B, num_quantizers, frames)``."""

    @abstractmethod
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, q, frames)`` for any ``q <= num_quantizers`` -> wav ``(B, frames * hop)``."""

    @abstractmethod
    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        """Write the codec's config and weights into ``folder``."""

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate / self.frame_rate)

    def num_frames(self, num_samples: int) -> int:
        return -(-num_samples // self.hop_length)
