"""A small speech encoder trainable here: log-mel at 100 Hz, 4 frames stacked to 25 Hz,
a bidirectional transformer, and a masked-prediction head (HuBERT's first iteration:
predict k-means-of-MFCC classes of masked frames)."""
from __future__ import annotations

from dataclasses import dataclass, field

import librosa
import torch
import torch.nn.functional as F
from torch import nn

from ..codec.spectral import STFT
from ..transformer import Transformer, TransformerConfig


@dataclass
class BuiltinEncoderConfig:
    sample_rate: int = 16000
    n_fft: int = 400
    mel_hop: int = 160  # 100 Hz mel frames
    n_mels: int = 80
    stack: int = 4  # mel frames per token: 25 Hz
    num_targets: int = 100  # classes of the masked-prediction targets
    mask_prob: float = 0.08  # probability that a frame starts a masked span
    mask_span: int = 5
    # log-mel normalisation per utterance: "utterance" (one mean and deviation) or "band" (each mel band's
    # own mean removed, cepstral-mean style: a fixed EQ, a microphone, part of a voice's timbre cancel out)
    normalization: str = "utterance"
    transformer: TransformerConfig = field(
        default_factory=lambda: TransformerConfig(d_model=256, n_layers=6, n_heads=4, causal=False, max_seq_len=1024))

    @property
    def hop_length(self) -> int:
        return self.mel_hop * self.stack


class BuiltinSpeechEncoder(nn.Module):
    stores_weights = True  # in the bundle's semantic_tokenizer/ folder

    def __init__(self, config: BuiltinEncoderConfig | None = None):
        super().__init__()
        self.config = config = config or BuiltinEncoderConfig()
        d = config.transformer.d_model
        self.stft = STFT(config.n_fft, config.mel_hop)
        mel = librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels)
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)
        self.proj = nn.Linear(config.n_mels * config.stack, d)
        self.mask_embedding = nn.Parameter(torch.randn(d) * 0.02)
        self.body = Transformer(config.transformer)
        self.head = nn.Linear(d, config.num_targets)

    @classmethod
    def from_tokenizer_config(cls, config) -> "BuiltinSpeechEncoder":
        return cls(config.builtin)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.config.sample_rate / self.config.hop_length

    @property
    def feature_dim(self) -> int:
        return self.config.transformer.d_model

    def frames(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav (B, L)`` -> stacked, per-utterance normalised log-mel ``(B, ceil(L/hop), stack*n_mels)``."""
        hop = self.config.hop_length
        wav = F.pad(wav, (0, -(-wav.shape[-1] // hop) * hop - wav.shape[-1]))
        logmel = torch.log(self.mel @ self.stft(wav).abs().square() + 1e-6)  # (B, n_mels, 4T)
        if self.config.normalization == "band":
            logmel = logmel - logmel.mean(2, keepdim=True)
        elif self.config.normalization != "utterance":
            raise ValueError(f"unknown normalization {self.config.normalization!r}: utterance or band")
        logmel = (logmel - logmel.mean((1, 2), keepdim=True)) / logmel.std((1, 2), keepdim=True).clamp(min=1e-3)
        B, M, T4 = logmel.shape
        return logmel.transpose(1, 2).reshape(B, T4 // self.config.stack, self.config.stack * M)

    def forward(self, wav: torch.Tensor, mask: torch.Tensor | None = None):
        """-> final hidden ``(B, T, d)`` and the list of every layer's output."""
        x = self.proj(self.frames(wav))
        if mask is not None:
            x = torch.where(mask[..., None], self.mask_embedding.to(x.dtype), x)
        return self.body(x, return_layers=True)

    def features(self, wav: torch.Tensor, layer: int) -> torch.Tensor:
        """Output of transformer block ``layer`` (1-based), ``(B, T, d)``. Inputs longer than the
        position table (``max_seq_len`` frames) are encoded in consecutive chunks of that length."""
        if not 1 <= layer <= self.config.transformer.n_layers:
            raise ValueError(f"layer must be in [1, {self.config.transformer.n_layers}], got {layer}")
        chunk = self.config.transformer.max_seq_len * self.config.hop_length
        return torch.cat([self.forward(part)[1][layer - 1] for part in torch.split(wav, chunk, dim=-1)], 1)

    def random_mask(self, batch: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        c = self.config
        starts = torch.rand(batch, frames, generator=generator) < c.mask_prob
        mask = starts.clone()
        for shift in range(1, c.mask_span):
            mask[:, shift:] |= starts[:, :-shift]
        return mask.to(self.mask_embedding.device)

    def masked_prediction_loss(self, wav: torch.Tensor, targets: torch.Tensor,
                               generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of ``targets (B, T)`` (e.g. k-means-of-MFCC classes) at masked frames."""
        mask = self.random_mask(targets.shape[0], targets.shape[1], generator)
        hidden, _ = self.forward(wav, mask)
        if hidden.shape[1] != targets.shape[1]:
            raise ValueError(f"targets have {targets.shape[1]} frames, the encoder gives {hidden.shape[1]}")
        if not mask.any():
            mask[:, 0] = True
        return F.cross_entropy(self.head(hidden[mask]).float(), targets[mask])
