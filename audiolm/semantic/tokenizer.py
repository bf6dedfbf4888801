"""Semantic tokens: encoder features at one layer -> nearest k-means centroid."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import BundleError
from ..serialization import CONFIG_NAME, WEIGHTS_NAME, config_from_dict, config_to_dict, load_weights, read_config
from .base import SpeechEncoder
from .builtin import BuiltinEncoderConfig, BuiltinSpeechEncoder
from .hf import HFSpeechEncoder

# encoder name (``SemanticTokenizerConfig.encoder``) -> builder from the tokenizer config
ENCODERS = {"builtin": BuiltinSpeechEncoder.from_tokenizer_config, "hf": HFSpeechEncoder.from_tokenizer_config}


@dataclass
class SemanticTokenizerConfig:
    encoder: str = "builtin"  # "builtin" (weights in this folder) or "hf" (a transformers encoder)
    layer: int = 4
    num_clusters: int = 512
    builtin: BuiltinEncoderConfig = field(default_factory=BuiltinEncoderConfig)
    hf_model: str | None = None  # repo id or folder, for encoder="hf"
    hf_revision: str | None = None
    downsample: int = 1  # average-pool hf features by this factor (50 Hz -> 25 Hz with 2)


class SemanticTokenizer(nn.Module):
    def __init__(self, config: SemanticTokenizerConfig, encoder: SpeechEncoder | None = None):
        super().__init__()
        self.config = config
        if encoder is None:
            if config.encoder not in ENCODERS:
                raise BundleError(f"unknown semantic encoder {config.encoder!r}; one of {', '.join(ENCODERS)}")
            encoder = ENCODERS[config.encoder](config)
        self.encoder = encoder
        self.register_buffer("centroids", torch.zeros(config.num_clusters, self.feature_dim()))

    def feature_dim(self) -> int:
        return int(self.encoder.feature_dim)

    @property
    def frame_rate(self) -> float:
        return float(self.encoder.frame_rate)

    @property
    def sample_rate(self) -> int:
        return int(self.encoder.sample_rate)

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples * self.frame_rate / self.sample_rate)

    @torch.inference_mode()
    def features(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav (B, L)`` -> ``(B, num_frames(L), d)`` (padded/trimmed so every encoder aligns alike)."""
        x = self.encoder.features(wav, self.config.layer)
        T = self.num_frames(wav.shape[-1])
        if x.shape[1] < T:
            x = F.pad(x.transpose(1, 2), (0, T - x.shape[1]), mode="replicate").transpose(1, 2)
        return x[:, :T]

    @torch.inference_mode()
    def tokenize(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav (B, L)`` -> semantic ids ``(B, T)``."""
        x = self.features(wav).float()
        return torch.cdist(x, self.centroids.float()[None].expand(x.shape[0], -1, -1)).argmin(-1)

    def fit_kmeans(self, features: np.ndarray, seed: int = 0, batch_size: int = 4096) -> float:
        """Fit the centroids on ``features (N, d)`` with scikit-learn's MiniBatchKMeans; returns inertia."""
        from sklearn.cluster import MiniBatchKMeans

        if len(features) < self.config.num_clusters:
            raise ValueError(f"need at least {self.config.num_clusters} feature vectors, got {len(features)}")
        kmeans = MiniBatchKMeans(self.config.num_clusters, batch_size=batch_size, random_state=seed, n_init=3)
        kmeans.fit(features)
        self.centroids.copy_(torch.from_numpy(kmeans.cluster_centers_).float())
        return float(kmeans.inertia_)

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps({"type": "semantic_tokenizer", **config_to_dict(self.config)},
                                                     indent=2))
        state = {"centroids": self.centroids}  # centroids stay fp32: tokens depend on exact distances
        if dtype is torch.int8:  # the encoder is small and its features pick the tokens: float16 at least
            dtype = torch.float16
        if self.encoder.stores_weights:
            state.update({f"encoder.{k}": v.to(dtype) if dtype and v.is_floating_point() else v
                          for k, v in self.encoder.state_dict().items()})
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(folder / WEIGHTS_NAME))

    @classmethod
    def from_folder(cls, folder: str | Path) -> "SemanticTokenizer":
        config = config_from_dict(SemanticTokenizerConfig, read_config(folder))
        tokenizer = cls(config)
        if tokenizer.encoder.stores_weights:  # the file holds exactly this module's state: centroids + encoder.*
            return load_weights(tokenizer, folder).eval()
        tokenizer.centroids.copy_(load_file(str(Path(folder) / WEIGHTS_NAME))["centroids"])
        return tokenizer.eval()
