"""Any ``transformers`` speech encoder (HuBERT, WavLM, wav2vec 2.0, w2v-BERT 2.0) at one layer."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BundleError


class HFSpeechEncoder(nn.Module):
    stores_weights = False  # loaded from its Hub repo or folder (``hf_model``)

    def __init__(self, model, feature_extractor, downsample: int = 1):
        super().__init__()
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.downsample = downsample
        self.sample_rate = int(getattr(feature_extractor, "sampling_rate", 16000))
        strides = getattr(model.config, "conv_stride", None)
        native = self.sample_rate / math.prod(strides) if strides else 50.0  # w2v-BERT: 100 Hz fbank, stride 2
        self.frame_rate = native / downsample

    @classmethod
    def from_pretrained(cls, repo_or_folder: str, revision: str | None = None, downsample: int = 1,
                        **kwargs) -> "HFSpeechEncoder":
        from transformers import AutoFeatureExtractor, AutoModel

        model = AutoModel.from_pretrained(repo_or_folder, revision=revision, **kwargs)
        extractor = AutoFeatureExtractor.from_pretrained(repo_or_folder, revision=revision, **kwargs)
        return cls(model, extractor, downsample)

    @classmethod
    def from_tokenizer_config(cls, config) -> "HFSpeechEncoder":
        if not config.hf_model:
            raise BundleError("semantic tokenizer config has encoder='hf' but no hf_model repo id or folder")
        return cls.from_pretrained(config.hf_model, config.hf_revision, config.downsample)

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def features(self, wav: torch.Tensor, layer: int) -> torch.Tensor:
        """``wav (B, L)`` -> hidden states of ``layer`` (0 = embeddings), average-pooled by ``downsample``."""
        inputs = self.feature_extractor(list(wav.cpu().float().numpy()), sampling_rate=self.sample_rate,
                                        return_tensors="pt", padding=True)
        device = next(self.model.parameters()).device
        outputs = self.model(**{k: v.to(device) for k, v in inputs.items()}, output_hidden_states=True)
        hidden = outputs.hidden_states
        if not 0 <= layer < len(hidden):
            raise ValueError(f"layer must be in [0, {len(hidden) - 1}] for this encoder, got {layer}")
        x = hidden[layer]  # (B, T, d)
        if self.downsample > 1:
            x = F.avg_pool1d(x.transpose(1, 2), self.downsample, ceil_mode=True).transpose(1, 2)
        return x
