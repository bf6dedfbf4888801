import pytest
import torch

from audiolm.testing import synthetic_voice
from audiolm.codec import NeuralCodec, NeuralCodecConfig, RVQConfig, ResidualVQ, load_codec


def tiny_codec(**rvq):
    return NeuralCodec(NeuralCodecConfig(dim=32, encoder_blocks=1, decoder_blocks=1,
                                         rvq=RVQConfig(dim=8, num_quantizers=4, codebook_size=32, **rvq)))


@pytest.mark.parametrize("samples", [16000, 16001, 15999, 4000])
def test_round_trip_lengths(samples):
    codec = tiny_codec().eval()
    ids = codec.encode(torch.randn(2, samples) * 0.1)
    frames = -(-samples // 320)
    assert ids.shape == (2, 4, frames) and ids.dtype == torch.long
    assert ids.min() >= 0 and ids.max() < 32
    assert codec.decode(ids).shape == (2, frames * 320)
    assert codec.decode(ids[:, :2]).shape == (2, frames * 320)  # fewer levels decode too


def test_stft_istft_is_identity():
    codec = tiny_codec()
    x = torch.randn(3, 320 * 20)
    assert torch.allclose(codec.stft.inverse(codec.stft(x)), x, atol=1e-5)


def test_straight_through_gradient_reaches_encoder():
    codec = tiny_codec().train()
    out = codec(torch.randn(2, 3200) * 0.1)
    (out.losses["mel"] + out.losses["stft"]).backward()  # no commitment term: only the ST path
    grad = codec.encoder.inp.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert all(torch.isfinite(v) for v in out.losses.values())
    assert out.wav.shape == (2, 3200) and out.ids.shape == (2, 4, 10)


def test_rvq_straight_through_is_identity_gradient():
    rvq = ResidualVQ(RVQConfig(dim=4, num_quantizers=2, codebook_size=8, quantizer_dropout=0)).train()
    z = torch.randn(2, 4, 5, requires_grad=True)
    quantized, ids, _ = rvq(z)
    quantized.sum().backward()
    assert torch.allclose(z.grad, torch.ones_like(z))
    assert torch.allclose(rvq.decode(ids), quantized.detach(), atol=1e-5)


def test_rvq_trains_in_float32_under_bfloat16_autocast():
    """The training loop's bfloat16 autocast leaves quantization alone: same codes, float32 EMA statistics."""
    def step(autocast):
        torch.manual_seed(0)
        rvq = ResidualVQ(RVQConfig(dim=4, num_quantizers=3, codebook_size=8, quantizer_dropout=0)).train()
        z = torch.randn(2, 4, 50).to(torch.bfloat16)  # as a bfloat16 conv's output, given as float32 without autocast
        z = z if autocast else z.float()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            quantized, ids, loss = rvq(z)
        return rvq, quantized, ids
    (plain, q32, ids32), (mixed, q16, ids16) = step(False), step(True)
    assert q16.dtype == q32.dtype == torch.float32 and mixed.levels[0].ema_sum.dtype == torch.float32
    assert torch.equal(ids16, ids32) and torch.equal(mixed.levels[0].codebook, plain.levels[0].codebook)


def test_codebooks_stay_in_use_while_training():
    """A few training steps on a toy signal: data init + EMA + restarts keep most codes alive."""
    torch.manual_seed(0)
    codec = tiny_codec()
    opt = torch.optim.Adam(codec.parameters(), 3e-3)
    batch = torch.stack([torch.from_numpy(synthetic_voice(0.5, 16000, seed=i)) for i in range(6)])
    losses = []
    for _ in range(12):
        out = codec(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.losses["mel"].item())
    codec.eval()
    ids = codec.encode(batch)
    used = [len(torch.unique(ids[:, q])) for q in range(4)]
    assert min(used) >= 16, f"codes used per level: {used}"  # of 32
    assert losses[-1] < losses[0]


def test_quantizer_dropout_changes_level_count():
    rvq = ResidualVQ(RVQConfig(dim=4, num_quantizers=6, codebook_size=8, quantizer_dropout=1.0)).train()
    torch.manual_seed(1)
    z = torch.randn(16, 4, 3)
    quantized, _, _ = rvq(z)
    full = rvq.eval().decode(rvq.encode(z))
    # with dropout every example uses a random number of levels: some differ from the full sum
    assert not torch.allclose(quantized, full, atol=1e-5)


def test_save_load_identical(tmp_path):
    codec = tiny_codec().eval()
    codec.quantizer.levels[0].codebook.normal_()
    codec.save_pretrained(tmp_path / "codec")
    back = load_codec(tmp_path / "codec")
    x = torch.randn(1, 8000) * 0.1
    assert torch.equal(codec.encode(x), back.encode(x))
    assert torch.allclose(codec.decode(codec.encode(x)), back.decode(back.encode(x)))


def test_dac_adapter_from_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4, 5, 8], decoder_hidden_size=32,
                                    n_codebooks=3, codebook_size=16, codebook_dim=4, sampling_rate=16000)
    transformers.DacModel(config).save_pretrained(tmp_path / "dac")
    codec = load_codec(tmp_path / "dac")
    assert (codec.sample_rate, codec.frame_rate, codec.num_quantizers, codec.codebook_size) == (16000, 50, 3, 16)
    ids = codec.encode(torch.randn(1, 16100) * 0.1)
    assert ids.shape == (1, 3, 51) and ids.max() < 16
    assert codec.decode(ids).shape == (1, 51 * 320)
    assert codec.encode(torch.randn(1, 16000), num_quantizers=2).shape == (1, 2, 50)


def test_griffin_lim_recovers_a_signal_from_its_magnitudes():
    from audiolm.codec.spectral import STFT, griffin_lim

    stft = STFT(640, 160)
    x = torch.from_numpy(synthetic_voice(1.0, 16000))[None]
    y = griffin_lim(stft(x).abs(), stft, 32)
    assert y.shape == x.shape
    target, got = stft(x).abs(), stft(y).abs()
    convergence = torch.linalg.norm(target - got) / torch.linalg.norm(target)
    assert convergence < 0.15
    assert torch.equal(y, griffin_lim(stft(x).abs(), stft, 32))  # deterministic: zero initial phase


@pytest.mark.parametrize("n_fft,hop", [(64, 16), (60, 16)])  # hop divides n_fft (shifted adds), or not (F.fold)
def test_overlap_add_equals_fold_and_inverse_round_trips(n_fft, hop):
    from audiolm.codec.spectral import STFT

    stft = STFT(n_fft, hop)
    frames = torch.randn(2, n_fft, 30, dtype=torch.float64)
    reference = torch.nn.functional.fold(frames, (1, 29 * hop + n_fft), (1, n_fft), stride=(1, hop))[:, 0, 0]
    assert torch.allclose(stft._fold(frames), reference, atol=1e-12)
    x = torch.randn(2, 30 * hop, dtype=torch.float64)
    assert torch.allclose(stft.inverse(stft(x)), x, atol=1e-9)
    assert torch.equal(stft.inverse(stft(x), stft.envelope(30, torch.float64)), stft.inverse(stft(x)))


def test_griffin_lim_codec_trains_on_magnitudes_and_decodes():
    torch.manual_seed(0)
    codec = NeuralCodec(NeuralCodecConfig(dim=32, encoder_blocks=1, decoder_blocks=1, synthesis="griffin_lim",
                                          rvq=RVQConfig(dim=8, num_quantizers=4, codebook_size=32)))
    x = torch.from_numpy(synthetic_voice(0.4, 16000))[None].repeat(2, 1)
    opt = torch.optim.Adam(codec.parameters(), 3e-3)
    first = None
    for _ in range(40):
        out = codec(x)
        assert out.wav.numel() == 0 and set(out.losses) == {"mag", "mel", "commitment"}
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.losses["mag"].item()
    assert out.losses["mag"].item() < 0.6 * first
    codec.eval()
    assert codec(x).wav.shape == x.shape
    ids = codec.encode(x)
    assert codec.decode(ids).shape == (2, ids.shape[2] * 320)


def test_unknown_synthesis_is_refused():
    with pytest.raises(ValueError, match="synthesis"):
        NeuralCodec(NeuralCodecConfig(synthesis="vocoder"))
