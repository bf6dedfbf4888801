"""STFT front end / iSTFT back end with "same" padding (frames = samples / hop), as in Vocos,
and the multi-resolution spectral losses the codec trains on."""
from __future__ import annotations

import librosa
import torch
import torch.nn.functional as F
from torch import nn


class STFT(nn.Module):
    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        assert (n_fft - hop_length) % 2 == 0, "n_fft - hop_length must be even"
        self.n_fft, self.hop, self.pad = n_fft, hop_length, (n_fft - hop_length) // 2
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav (B, L)``, L a multiple of hop -> complex ``(B, n_fft/2+1, L/hop)``."""
        wav = F.pad(wav[:, None], (self.pad, self.pad), mode="reflect")[:, 0]
        window = self.window.to(wav.dtype)  # float64 in the codec's chunk-exact synthesis
        return torch.stft(wav, self.n_fft, self.hop, window=window, center=False, return_complex=True)

    def inverse(self, spec: torch.Tensor, envelope: torch.Tensor | None = None) -> torch.Tensor:
        """complex ``(B, n_fft/2+1, T)`` -> ``(B, T*hop)`` by windowed overlap-add; ``envelope``: ``self.envelope``
        of the same ``T`` and dtype, where the caller inverts many spectrograms of one length (Griffin-Lim)."""
        T = spec.shape[-1]
        frames = torch.fft.irfft(spec, self.n_fft, dim=1)  # (B, n_fft, T)
        frames = frames * self.window.to(frames.dtype)[None, :, None]
        if envelope is None:
            envelope = self.envelope(T, frames.dtype)
        return self._fold(frames)[:, self.pad:-self.pad or None] / envelope

    def envelope(self, frames: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The overlap-added squared window of ``frames`` frames, what ``inverse`` divides by: ``(1, frames*hop)``."""
        window = self.window.to(dtype)
        return self._fold(window.square()[None, :, None].expand(1, -1, frames))[:, self.pad:-self.pad or None] \
            .clamp(min=1e-8)

    def _fold(self, frames: torch.Tensor) -> torch.Tensor:
        """Overlap-add of ``(B, n_fft, T)`` windowed frames -> ``(B, (T-1)*hop + n_fft)``. Where ``hop`` divides
        ``n_fft`` (the codecs' STFTs), as ``n_fft / hop`` shifted adds of whole hops: several times faster than
        ``F.fold`` (col2im) on CPU, in the same order of summation."""
        B, n, T = frames.shape
        overlap = n // self.hop
        if overlap * self.hop != n:
            return F.fold(frames, (1, (T - 1) * self.hop + n), (1, n), stride=(1, self.hop))[:, 0, 0]
        hops = frames.view(B, overlap, self.hop, T).transpose(2, 3)  # (B, overlap, T, hop)
        out = frames.new_zeros(B, T + overlap - 1, self.hop)
        for k in range(overlap):
            out[:, k:k + T] += hops[:, k]
        return out.reshape(B, -1)


class MelScale(nn.Module):
    """librosa's mel filterbank as a (non-persistent) buffer."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int = 80):
        super().__init__()
        mel = torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)).float()
        self.register_buffer("filters", mel, persistent=False)


def griffin_lim(magnitude: torch.Tensor, stft: STFT, iterations: int = 32, momentum: float = 0.99) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013, librosa's default momentum) from zero phase:
    ``magnitude (B, bins, T)`` -> ``(B, T*hop)``. Deterministic: no random initial phase.

    The phase is kept as real (re, im) pairs: complex division and ``abs`` cost several times the same real
    arithmetic in torch on CPU (the codec synthesizes in float64, where this was most of its decoding time)."""
    envelope = stft.envelope(magnitude.shape[-1], magnitude.dtype)  # the same for every iteration
    magnitude = magnitude[..., None]
    phase = torch.zeros(*magnitude.shape[:-1], 2, dtype=magnitude.dtype, device=magnitude.device)
    phase[..., 0] = 1  # zero phase: unit (re, im) pairs
    previous = torch.zeros_like(phase)
    keep = momentum / (1 + momentum)
    for _ in range(iterations):
        rebuilt = torch.view_as_real(stft(stft.inverse(torch.view_as_complex(magnitude * phase), envelope)))
        phase = rebuilt - keep * previous
        phase = phase / torch.linalg.vector_norm(phase, dim=-1, keepdim=True).clamp_(min=1e-8)
        previous = rebuilt
    return stft.inverse(torch.view_as_complex(magnitude * phase), envelope)


class MultiResolutionLoss(nn.Module):
    """Log-mel L1 and log-magnitude L1 + spectral convergence over several STFT sizes."""

    def __init__(self, sample_rate: int, resolutions=((256, 64, 32), (512, 128, 64), (1024, 256, 80), (2048, 512, 128))):
        super().__init__()
        self.resolutions = [(n_fft, hop) for n_fft, hop, _ in resolutions]
        for i, (n_fft, hop, n_mels) in enumerate(resolutions):
            mel = torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)).float()
            self.register_buffer(f"mel_{i}", mel, persistent=False)
            self.register_buffer(f"window_{i}", torch.hann_window(n_fft), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        mel_loss, stft_loss = pred.new_zeros(()), pred.new_zeros(())
        for i, (n_fft, hop) in enumerate(self.resolutions):
            window = getattr(self, f"window_{i}")
            mags = [torch.stft(x.float(), n_fft, hop, window=window, return_complex=True).abs() for x in (pred, target)]
            mel = getattr(self, f"mel_{i}")
            mel_loss = mel_loss + F.l1_loss(torch.log(mel @ mags[0] + 1e-5), torch.log(mel @ mags[1] + 1e-5))
            convergence = torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(mags[1]).clamp(min=1e-8)
            stft_loss = stft_loss + convergence + F.l1_loss(torch.log(mags[0] + 1e-5), torch.log(mags[1] + 1e-5))
        n = len(self.resolutions)
        return {"mel": mel_loss / n, "stft": stft_loss / n}
