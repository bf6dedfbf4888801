"""Randomly initialised bundles of any geometry: the 'debug' models every test builds, and
the default-size bundle that ``bench`` times before trained weights exist."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .bundle import BundleConfig
from .codec import NeuralCodec, NeuralCodecConfig, RVQConfig
from .pipeline import AudioLM
from .semantic import BuiltinEncoderConfig, SemanticTokenizer, SemanticTokenizerConfig
from .stages import ROLES, StageSize, layout_class, stage_specs
from .transformer import TransformerConfig


@dataclass(frozen=True, kw_only=True)
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

    def stage_size(self, role: str) -> StageSize:
        return StageSize(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
                         window_frames=getattr(self, f"{role}_window"))


SIZES = {
    "default": ModelSizes(),
    "tiny": ModelSizes(d_model=32, n_layers=2, n_heads=2, codec_dim=32, encoder_d_model=32, encoder_layers=2,
                       encoder_heads=2, codec_latent_dim=16,
                       semantic_window=64, coarse_window=48, fine_window=32),
}


def build_stages(bundle: BundleConfig, sizes: dict[str, StageSize]) -> dict:
    """Randomly initialised semantic, coarse and fine stages that fit ``bundle``, each of the layout the
    bundle gives its role (built fine first: the order every seeded random bundle was drawn in)."""
    specs = stage_specs(bundle)
    stages = {}
    for role in ("fine", "semantic", "coarse"):
        cls = layout_class(bundle.stage_layout(role))
        stages[role] = cls(cls.config_for(specs[role], sizes[role]))
    return {role: stages[role] for role in ROLES}


def random_audiolm(bundle: BundleConfig | None = None, size: str | ModelSizes = "tiny", seed: int = 0,
                   device: str = "cpu") -> AudioLM:
    """An ``AudioLM`` with random weights (random codebooks and centroids too)."""
    bundle = bundle or BundleConfig()
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
        d_model=sizes.encoder_d_model, n_layers=sizes.encoder_layers, n_heads=sizes.encoder_heads, causal=False,
        max_seq_len=2048))
    tokenizer = SemanticTokenizer(SemanticTokenizerConfig(encoder="builtin", layer=min(4, sizes.encoder_layers),
                                                          num_clusters=bundle.semantic_vocab, builtin=encoder))
    tokenizer.centroids.normal_()
    stages = build_stages(bundle, {role: sizes.stage_size(role) for role in ROLES})
    return AudioLM(bundle, codec, tokenizer, stages["semantic"], stages["coarse"], stages["fine"], device=device)


def tiny_bundle_config(**overrides) -> BundleConfig:
    """A small geometry for tests: 4 levels x 64 codes, Q' = 2, 32 semantic ids."""
    return BundleConfig(**{"num_quantizers": 4, "num_coarse": 2, "codebook_size": 64, "semantic_vocab": 32,
                           **overrides})
