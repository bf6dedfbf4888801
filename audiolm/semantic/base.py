"""What a semantic tokenizer needs of a speech encoder (a structural type: no base class to inherit)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class SpeechEncoder(Protocol):
    """``features(wav (B, L), layer) -> (B, T, feature_dim)`` at ``frame_rate``, from audio at ``sample_rate``.

    ``stores_weights``: whether the bundle holds the encoder's weights (its ``state_dict``, saved under
    ``encoder.``) or the encoder loads them itself from elsewhere (a Hub repo named in the config)."""

    sample_rate: int
    frame_rate: float
    feature_dim: int
    stores_weights: bool

    def features(self, wav: torch.Tensor, layer: int) -> torch.Tensor: ...
