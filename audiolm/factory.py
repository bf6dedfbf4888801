"""Randomly initialised bundles of any geometry: the 'debug' models every test builds, and
the default-size bundle that ``bench`` times before trained weights exist."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .bundle import BundleConfig
from .codec import NeuralCodec, NeuralCodecConfig, RVQConfig
from .pipeline import AudioLM
from .semantic import BuiltinEncoderConfig, SemanticTokenizer, SemanticTokenizerConfig
from .stages import FlatStage, FlatStageConfig, ParallelFineConfig, ParallelFineStage
from .transformer import TransformerConfig


@dataclass
class ModelSizes:
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 6
    codec_dim: int = 256
    encoder_d_model: int = 256
    encoder_layers: int = 6
    encoder_heads: int = 4
    codec_latent_dim: int = 64
    semantic_window: int = 750  # semantic frames per window (30 s)
    coarse_window: int = 500  # acoustic frames per window (10 s)
    fine_window: int = 150  # acoustic frames per window (3 s)


SIZES = {
    "default": ModelSizes(),
    "tiny": ModelSizes(d_model=32, n_layers=2, n_heads=2, codec_dim=32, encoder_d_model=32, encoder_layers=2,
                       encoder_heads=2, codec_latent_dim=16,
                       semantic_window=64, coarse_window=48, fine_window=32),
}


def stage_configs(bundle: BundleConfig, sizes: ModelSizes) -> tuple[FlatStageConfig, FlatStageConfig, object]:
    """Semantic, coarse and fine stage configs that fit ``bundle`` at the given sizes."""
    def transformer(tokens: int, causal: bool = True) -> TransformerConfig:
        return TransformerConfig(sizes.d_model, sizes.n_layers, sizes.n_heads, max_seq_len=tokens, causal=causal)

    b = bundle
    semantic = FlatStageConfig("semantic", 0, 0, b.semantic_rate, 1, b.semantic_vocab, b.semantic_rate, 0,
                               sizes.semantic_window, transformer(sizes.semantic_window + 2))
    coarse_tokens = 2 + math.ceil(sizes.coarse_window * b.semantic_rate / b.acoustic_rate) \
        + b.num_coarse * sizes.coarse_window
    coarse = FlatStageConfig("coarse", 1, b.semantic_vocab, b.semantic_rate, b.num_coarse, b.codebook_size,
                             b.acoustic_rate, 0, sizes.coarse_window, transformer(coarse_tokens))
    if b.fine_layout == "parallel":
        fine = ParallelFineConfig("fine", b.num_quantizers, b.num_coarse, b.codebook_size, sizes.fine_window,
                                  transformer(sizes.fine_window, causal=False))
    else:
        fine = FlatStageConfig("fine", b.num_coarse, b.codebook_size, b.acoustic_rate,
                               b.num_quantizers - b.num_coarse, b.codebook_size, b.acoustic_rate, b.num_coarse,
                               sizes.fine_window, transformer(2 + b.num_quantizers * sizes.fine_window))
    return semantic, coarse, fine


def random_audiolm(bundle: BundleConfig = BundleConfig(), size: str | ModelSizes = "tiny", seed: int = 0,
                   device: str = "cpu") -> AudioLM:
    """An ``AudioLM`` with random weights (random codebooks and centroids too)."""
    sizes = SIZES[size] if isinstance(size, str) else size
    with torch.random.fork_rng():  # seeded initialisation that leaves the caller's RNG state alone
        torch.manual_seed(seed)
        return _build(bundle, sizes, device)


def _build(bundle: BundleConfig, sizes: ModelSizes, device: str) -> AudioLM:
    hop = round(bundle.sample_rate / bundle.acoustic_rate)
    codec = NeuralCodec(NeuralCodecConfig(
        sample_rate=bundle.sample_rate, hop_length=hop, n_fft=4 * hop, dim=sizes.codec_dim, encoder_blocks=2,
        decoder_blocks=2, rvq=RVQConfig(dim=sizes.codec_latent_dim, num_quantizers=bundle.num_quantizers,
                                        codebook_size=bundle.codebook_size)))
    stack = round(bundle.sample_rate / bundle.semantic_rate / 160)
    encoder = BuiltinEncoderConfig(sample_rate=bundle.sample_rate, stack=stack, transformer=TransformerConfig(
        sizes.encoder_d_model, sizes.encoder_layers, sizes.encoder_heads, causal=False, max_seq_len=2048))
    tokenizer = SemanticTokenizer(SemanticTokenizerConfig("builtin", min(4, sizes.encoder_layers),
                                                          bundle.semantic_vocab, encoder))
    tokenizer.centroids.normal_()
    semantic, coarse, fine = stage_configs(bundle, sizes)
    fine_stage = ParallelFineStage(fine) if bundle.fine_layout == "parallel" else FlatStage(fine)
    return AudioLM(bundle, codec, tokenizer, FlatStage(semantic), FlatStage(coarse), fine_stage, device=device)


def tiny_bundle_config(**overrides) -> BundleConfig:
    """A small geometry for tests: 4 levels x 64 codes, Q' = 2, 32 semantic ids."""
    return BundleConfig(**{"num_quantizers": 4, "num_coarse": 2, "codebook_size": 64, "semantic_vocab": 32,
                           **overrides})
