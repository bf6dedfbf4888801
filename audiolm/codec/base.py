"""The acoustic tokenizer interface that every codec implements (as audiocraft's ``CompressionModel``)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


class Codec(nn.Module, ABC):
    """``encode(wav) -> ids (B, Q, T)`` at ``frame_rate``; ``decode(ids) -> wav (B, samples)``.

    ``type_name`` is the ``type`` its ``save_pretrained`` writes into ``config.json``, which
    ``load_codec`` reads to pick the class (its ``from_folder``)."""

    type_name: ClassVar[str]
    sample_rate: int
    frame_rate: float
    num_quantizers: int
    codebook_size: int
    # frames of context either side with which decoding a span of frames gives exactly the samples of a whole
    # decode (a streaming decode crops such chunks); None: not chunk-exact, decode everything at once
    decode_context: int | None = None
    # whether ``latent`` / ``quantize_residual`` work: the levels are residual quantizers of one latent
    residual_latent: ClassVar[bool] = False
    # levels that ``decode_in_voice`` reads (0: the codec cannot render ids in a reference's voice)
    voice_levels: int = 0

    @abstractmethod
    def encode(self, wav: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """``wav (B, samples)`` float at ``sample_rate`` -> ids ``(B, num_quantizers, frames)``."""

    @abstractmethod
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, q, frames)`` for any ``q <= num_quantizers`` -> wav ``(B, frames * hop)``."""

    @abstractmethod
    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        """Write the codec's config (with ``type``) and weights into ``folder``."""

    @classmethod
    @abstractmethod
    def from_folder(cls, folder: str | Path) -> "Codec":
        """Load what ``save_pretrained`` wrote."""

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate / self.frame_rate)

    def num_frames(self, num_samples: int) -> int:
        return -(-num_samples // self.hop_length)

    def pad(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav (..., L)`` zero-padded to whole frames."""
        return F.pad(wav, (0, self.num_frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]))

    def decode_in_voice(self, ids: torch.Tensor, reference: torch.Tensor, known: int = 0) -> torch.Tensor:
        """As ``decode``, the frames from ``known`` on rendered from their first ``voice_levels`` levels in the voice
        of ``reference`` (ids ``(1 or B, Q, P)``), where ``voice_levels``."""
        raise NotImplementedError(f"the {self.type_name} codec has no voice decoder")

    def latent(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, q, frames)`` of the first ``q`` levels -> their quantized latent ``(B, d, frames)`` (the sum
        of their codes), where ``residual_latent``."""
        raise NotImplementedError(f"the {self.type_name} codec does not expose a residual latent")

    def quantize_residual(self, residual: torch.Tensor, first_level: int) -> torch.Tensor:
        """What levels ``first_level..`` encode a residual ``(B, d, frames)`` as (greedy, level by level):
        ids ``(B, num_quantizers - first_level, frames)``, where ``residual_latent``."""
        raise NotImplementedError(f"the {self.type_name} codec does not expose a residual latent")

    def synthesis_ceiling(self, wav: torch.Tensor) -> torch.Tensor | None:
        """What the decoder's synthesis makes of ``wav`` with nothing quantized, when that is a separate
        step (Griffin-Lim from the true magnitudes); None otherwise."""
        return None
