"""The project's own codec: STFT in, ConvNeXt blocks at frame rate, residual VQ, iSTFT out.

Encoder and decoder run at the 50 Hz frame rate (Vocos / WavTokenizer style), which trains
several times faster on a CPU than a waveform-rate SEANet of similar quality budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..serialization import config_from_dict, load_weights, read_config, save_module
from .base import Codec
from .rvq import ResidualVQ, RVQConfig
from .spectral import STFT, MultiResolutionLoss


@dataclass
class NeuralCodecConfig:
    sample_rate: int = 16000
    hop_length: int = 320  # 50 Hz frames at 16 kHz
    n_fft: int = 1280
    dim: int = 256
    encoder_blocks: int = 4
    decoder_blocks: int = 6
    encoder_input_kernel: int = 7  # 1 = a per-frame projection of the STFT (far fewer weights)
    rvq: RVQConfig = field(default_factory=RVQConfig)
    mel_weight: float = 1.0
    stft_weight: float = 1.0


@dataclass
class CodecOutput:
    wav: torch.Tensor  # (B, L) reconstruction
    ids: torch.Tensor  # (B, Q, T)
    losses: dict[str, torch.Tensor]
    loss: torch.Tensor  # weighted total


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 3 * dim), nn.GELU(), nn.Linear(3 * dim, dim))
        self.scale = nn.Parameter(torch.full((dim,), 1e-2))

    def forward(self, x):  # (B, C, T)
        h = self.dwconv(x).transpose(1, 2)
        return x + (self.scale * self.mlp(self.norm(h))).transpose(1, 2)


class FrameNet(nn.Module):
    """``(B, in, T) -> (B, out, T)`` through ConvNeXt blocks at frame rate."""

    def __init__(self, in_dim: int, dim: int, out_dim: int, blocks: int, input_kernel: int = 7):
        super().__init__()
        self.inp = nn.Conv1d(in_dim, dim, kernel_size=input_kernel, padding=input_kernel // 2)
        self.blocks = nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(blocks)))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, out_dim)

    def forward(self, x):
        h = self.blocks(self.inp(x))
        return self.out(self.norm(h.transpose(1, 2))).transpose(1, 2)


class NeuralCodec(nn.Module, Codec):
    def __init__(self, config: NeuralCodecConfig = NeuralCodecConfig()):
        super().__init__()
        self.config = config
        bins = config.n_fft // 2 + 1
        self.stft = STFT(config.n_fft, config.hop_length)
        self.encoder = FrameNet(2 * bins, config.dim, config.rvq.dim, config.encoder_blocks,
                               config.encoder_input_kernel)
        self.quantizer = ResidualVQ(config.rvq)
        self.decoder = FrameNet(config.rvq.dim, config.dim, 2 * bins, config.decoder_blocks)
        self.spectral_loss = MultiResolutionLoss(config.sample_rate)

    # Codec interface
    sample_rate = property(lambda self: self.config.sample_rate)
    frame_rate = property(lambda self: self.config.sample_rate / self.config.hop_length)
    num_quantizers = property(lambda self: self.config.rvq.num_quantizers)
    codebook_size = property(lambda self: self.config.rvq.codebook_size)

    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        return F.pad(wav, (0, self.num_frames(wav.shape[-1]) * self.config.hop_length - wav.shape[-1]))

    def _latent(self, wav: torch.Tensor) -> torch.Tensor:
        spec = self.stft(self._pad(wav))
        mag = spec.abs().clamp(min=1e-7)
        compressed = spec * (mag.pow(0.3) / mag)  # magnitude compression keeps phase
        return self.encoder(torch.cat([compressed.real, compressed.imag], 1))  # (B, d, T)

    def _synthesize(self, z: torch.Tensor) -> torch.Tensor:
        log_mag, phase = self.decoder(z).chunk(2, dim=1)
        spec = torch.polar(log_mag.clamp(max=6.0).exp(), phase)
        return self.stft.inverse(spec)

    def forward(self, wav: torch.Tensor) -> CodecOutput:
        """Training pass: ``wav (B, L)`` -> reconstruction, ids and losses."""
        wav = self._pad(wav)
        quantized, ids, commitment = self.quantizer(self._latent(wav))
        recon = self._synthesize(quantized)
        losses = {**self.spectral_loss(recon, wav), "commitment": commitment}
        c = self.config
        total = c.mel_weight * losses["mel"] + c.stft_weight * losses["stft"] + commitment
        return CodecOutput(recon, ids, losses, total)

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        return self.quantizer.encode(self._latent(wav), num_quantizers)

    @torch.inference_mode()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return self._synthesize(self.quantizer.decode(ids))

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        save_module(self, self.config, folder, "neural", dtype)

    @classmethod
    def from_folder(cls, folder: str | Path) -> "NeuralCodec":
        config = config_from_dict(NeuralCodecConfig, read_config(folder))
        return load_weights(cls(config), folder).eval()
