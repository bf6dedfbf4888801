"""Pretrained DAC (e.g. ``descript/dac_16khz``: 16 kHz, 50 Hz, 12 x 1024) through ``transformers``."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from .base import Codec


class DacCodec(Codec):
    type_name = "dac"

    def __init__(self, model):
        super().__init__()
        self.model = model.eval()
        cfg = model.config
        self.sample_rate = int(cfg.sampling_rate)
        self.frame_rate = cfg.sampling_rate / cfg.hop_length
        self.num_quantizers = int(cfg.n_codebooks)
        self.codebook_size = int(cfg.codebook_size)

    @classmethod
    def from_pretrained(cls, repo_or_folder: str | Path, revision: str | None = None, **kwargs) -> "DacCodec":
        """Load a ``transformers`` DAC checkpoint from a hub repo id or a local folder."""
        from transformers import DacModel

        return cls(DacModel.from_pretrained(str(repo_or_folder), revision=revision, **kwargs))

    @classmethod
    def from_folder(cls, folder: str | Path) -> "DacCodec":
        return cls.from_pretrained(folder)

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        frames = self.num_frames(wav.shape[-1])
        wav = self.pad(wav)
        codes = self.model.encode(wav[:, None], n_quantizers=num_quantizers).audio_codes
        return codes[:, :num_quantizers or self.num_quantizers, :frames]

    @torch.inference_mode()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        wav = self.model.decode(audio_codes=ids).audio_values.reshape(ids.shape[0], -1)
        samples = ids.shape[-1] * self.hop_length  # DAC's convolutions may lose a few edge samples
        return F.pad(wav, (0, max(0, samples - wav.shape[-1])))[:, :samples]

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        if dtype is torch.int8:  # transformers' checkpoints hold floats only
            dtype = torch.float16
        model = self.model if dtype is None else self.model.to(dtype)
        model.save_pretrained(str(folder))
        if dtype is not None:
            self.model.float()
