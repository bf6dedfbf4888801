import numpy as np
import pytest
import torch

from audiolm.testing import synthetic_voice
from audiolm.semantic import BuiltinEncoderConfig, SemanticTokenizer, SemanticTokenizerConfig
from audiolm.transformer import TransformerConfig


def tiny_tokenizer(clusters=8):
    torch.manual_seed(0)
    encoder = BuiltinEncoderConfig(num_targets=10, transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=2, causal=False,
                                                                                 max_seq_len=256))
    return SemanticTokenizer(SemanticTokenizerConfig("builtin", 2, clusters, encoder)).eval()


@pytest.mark.parametrize("samples", [16000, 16001, 8000 + 640 * 3 - 1])
def test_builtin_frames_at_25_hz(samples):
    tok = tiny_tokenizer()
    wav = torch.from_numpy(synthetic_voice(samples / 16000, 16000))[None]
    assert tok.features(wav).shape == (1, -(-samples // 640), 32)
    ids = tok.tokenize(wav)
    assert ids.shape == (1, -(-samples // 640)) and ids.max() < 8


def test_kmeans_fit_finds_the_clusters():
    tok = tiny_tokenizer(clusters=4)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32)) * 10
    points = np.concatenate([c + rng.normal(size=(200, 32)) * 0.1 for c in centres]).astype(np.float32)
    tok.fit_kmeans(points, seed=0)
    found = tok.centroids.numpy()
    assert np.abs(np.sort(found[:, 0]) - np.sort(centres[:, 0])).max() < 0.5


def test_tokens_are_the_nearest_centroid():
    tok = tiny_tokenizer()
    wav = torch.from_numpy(synthetic_voice(1.0, 16000))[None]
    features = tok.features(wav)[0]
    tok.centroids.copy_(features[:8])  # each of the first 8 frames is its own centroid
    assert torch.equal(tok.tokenize(wav)[0, :8], torch.arange(8))


def test_save_load_gives_identical_tokens(tmp_path):
    tok = tiny_tokenizer()
    tok.centroids.normal_()
    tok.save_pretrained(tmp_path / "st")
    back = SemanticTokenizer.from_folder(tmp_path / "st")
    wav = torch.from_numpy(synthetic_voice(1.3, 16000))[None]
    assert torch.equal(tok.tokenize(wav), back.tokenize(wav))


def test_masked_prediction_loss_trains():
    tok = tiny_tokenizer()
    encoder = tok.encoder.train()
    encoder.config.mask_prob = 0.3
    wav = torch.from_numpy(np.stack([synthetic_voice(1.0, 16000, seed=i) for i in range(2)]))
    targets = torch.randint(0, 10, (2, 25), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(encoder.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        loss = encoder.masked_prediction_loss(wav, targets, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_hf_encoder_adapter_from_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                                       num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    transformers.HubertModel(config).save_pretrained(tmp_path / "hubert")
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path / "hubert")
    tok = SemanticTokenizer(SemanticTokenizerConfig("hf", 1, 8, hf_model=str(tmp_path / "hubert"), downsample=2))
    assert tok.frame_rate == 25.0 and tok.feature_dim() == 32
    wav = torch.from_numpy(synthetic_voice(1.0, 16000))[None]
    tok.centroids.normal_()
    ids = tok.tokenize(wav)
    assert ids.shape == (1, 25) and ids.max() < 8
    tok.save_pretrained(tmp_path / "st")  # centroids only; the encoder stays a reference
    back = SemanticTokenizer.from_folder(tmp_path / "st")
    assert torch.equal(back.tokenize(wav), ids)
    with pytest.raises(ValueError, match="layer"):
        tok.encoder.features(wav, 9)


def test_truncated_encoder_gives_the_same_features():
    from audiolm.semantic import BuiltinEncoderConfig, BuiltinSpeechEncoder
    from audiolm.training.semantic_encoder import truncate_encoder
    from audiolm.transformer import TransformerConfig

    torch.manual_seed(0)
    full = BuiltinSpeechEncoder(BuiltinEncoderConfig(transformer=TransformerConfig(
        d_model=32, n_layers=4, n_heads=2, causal=False, max_seq_len=256))).eval()
    small = truncate_encoder(full, 2)
    wav = torch.from_numpy(synthetic_voice(1.0, 16000))[None]
    assert len(small.body.blocks) == 2
    torch.testing.assert_close(small.features(wav, 2), full.features(wav, 2))
    with pytest.raises(ValueError):
        small.features(wav, 3)


def test_inputs_longer_than_the_position_table_are_encoded_in_chunks():
    tok = tiny_tokenizer()  # max_seq_len 256 frames: 10.24 s
    wav = torch.from_numpy(synthetic_voice(12.0, 16000))[None]
    feats = tok.features(wav)
    assert feats.shape == (1, 300, 32)
    first, rest = wav[:, :256 * 640], wav[:, 256 * 640:]
    assert torch.allclose(feats, torch.cat([tok.features(first), tok.features(rest)], 1))
