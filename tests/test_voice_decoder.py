"""The codec's voice decoder: the first levels rendered in a reference's voice, in the pipeline and its training."""
import numpy as np
import pytest
import torch
from torch import nn

from audiolm.codec import NeuralCodec, NeuralCodecConfig, RVQConfig, load_codec
from audiolm.codec.voice_decoder import VoiceDecoderConfig
from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import AudioLM, GenerationSettings
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from audiolm.training.loop import TrainConfig
from audiolm.training.voice_decoder import SessionCrops, train_voice_decoder

VOICE = VoiceDecoderConfig(levels=2, attention=(0, 1), reference_blocks=1, heads=2)


def tiny_codec(voice: VoiceDecoderConfig | None = VOICE, seed: int = 0) -> NeuralCodec:
    """A tiny griffin_lim codec (4 x 64 codes); its voice decoder's cross-attention made to matter (a trained one's
    output projections are not zero)."""
    config = NeuralCodecConfig(dim=32, encoder_blocks=1, decoder_blocks=2, encoder_input_kernel=1,
                               synthesis="griffin_lim", encoder_input="log_magnitude",
                               rvq=RVQConfig(dim=16, num_quantizers=4, codebook_size=64), voice_decoder=voice)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        codec = NeuralCodec(config)
        for block in getattr(codec, "voice_decoder", nn.Module()).modules():
            if isinstance(block, nn.MultiheadAttention):
                nn.init.normal_(block.out_proj.weight, std=0.5)
    return codec.eval()


@pytest.fixture(scope="module")
def voiced():
    """A tiny random AudioLM whose codec has a voice decoder, the voice decoder on by default."""
    model = random_audiolm(tiny_bundle_config(), "tiny", seed=0)
    return AudioLM(model.config, tiny_codec(), model.semantic_tokenizer, model.semantic_stage, model.coarse_stage,
                   model.fine_stage, default_settings=GenerationSettings(voice_decoder=True))


def ids_of(codec, seconds=1.0, seed=0):
    return codec.encode(torch.from_numpy(synthetic_voice(seconds, 16000, seed=seed))[None])


def test_a_new_voice_decoder_decodes_as_the_codec_decoder_from_the_same_levels():
    codec = tiny_codec()
    for attention in codec.voice_decoder.attention:  # as training starts: no cross-attention output
        nn.init.zeros_(attention.attn.out_proj.weight)
    codec.voice_decoder.base.load_state_dict(codec.decoder.state_dict())
    ids, reference = ids_of(codec), ids_of(codec, 0.5, seed=1)
    assert torch.allclose(codec.decode_in_voice(ids, reference), codec.decode(ids[:, :VOICE.levels]), atol=1e-6)


def test_the_reference_voices_the_frames_after_the_known_ones_only():
    codec = tiny_codec()
    ids, one, other = ids_of(codec), ids_of(codec, 0.5, seed=1), ids_of(codec, 0.5, seed=2)
    first, second = codec.decode_in_voice(ids, one), codec.decode_in_voice(ids, other)
    assert first.shape == codec.decode(ids).shape and (first - second).abs().max() > 1e-3
    # the levels above ``levels`` are not read: the reference stands in for them
    changed = ids.clone()
    changed[:, VOICE.levels:] = (changed[:, VOICE.levels:] + 1) % 64
    T = ids.shape[2]
    assert torch.equal(codec.decode_in_voice(changed, one), first)
    # every frame known: the plain decode of all levels, whatever the reference
    assert torch.equal(codec.decode_in_voice(ids, one, known=T), codec.decode(ids))
    # some known: those frames' spectrum is the plain decoder's (Griffin-Lim spreads the difference a little)
    half = codec.decode_in_voice(ids, one, known=T // 2)
    hop, edge = codec.hop_length, codec.decode_context
    assert (half[:, :(T // 2 - edge) * hop] - codec.decode(ids)[:, :(T // 2 - edge) * hop]).abs().max() < \
        (first[:, :(T // 2 - edge) * hop] - codec.decode(ids)[:, :(T // 2 - edge) * hop]).abs().max()


def test_a_codec_without_one_refuses_and_the_voice_decoder_needs_griffin_lim():
    plain = tiny_codec(voice=None)
    assert plain.voice_levels == 0 and tiny_codec().voice_levels == VOICE.levels
    with pytest.raises(ValueError, match="no voice decoder"):
        plain.decode_in_voice(ids_of(plain), ids_of(plain))
    with pytest.raises(ValueError, match="griffin_lim"):
        NeuralCodec(NeuralCodecConfig(dim=32, rvq=RVQConfig(dim=16, num_quantizers=4), voice_decoder=VOICE))
    with pytest.raises(ValueError, match="levels"):
        tiny_codec(VoiceDecoderConfig(levels=5))
    with pytest.raises(ValueError, match="attention blocks"):
        tiny_codec(VoiceDecoderConfig(levels=2, attention=(2,)))


def test_the_voice_decoder_is_saved_and_loaded_with_the_codec(tmp_path):
    codec = tiny_codec()
    codec.save_pretrained(tmp_path / "codec")
    loaded = load_codec(tmp_path / "codec")
    assert loaded.config.voice_decoder == VOICE
    ids, reference = ids_of(codec), ids_of(codec, 0.5, seed=1)
    assert torch.equal(loaded.decode_in_voice(ids, reference, known=10), codec.decode_in_voice(ids, reference, 10))


def test_continuations_only_are_decoded_in_the_prompts_voice(voiced):
    prompt, other = synthetic_voice(1.0, 16000), synthetic_voice(1.0, 16000, seed=3, f0=220.0)
    off = GenerationSettings(voice_decoder=False)
    on, plain = voiced.continuation(prompt, 1.0, seed=2), voiced.continuation(prompt, 1.0, seed=2, settings=off)
    assert torch.equal(on.acoustic_ids, plain.acoustic_ids)  # the same tokens, another rendering
    P = on.prompt_samples
    assert np.abs(on.audio[:, P:] - plain.audio[:, P:]).max() > 1e-3
    plan = voiced.continuation_plan(prompt, 1.0)
    expected = voiced.codec.decode_in_voice(on.acoustic_ids, plan.acoustic[:1], plan.acoustic.shape[2])
    assert np.abs(on.audio - expected.numpy()[:, :on.audio.shape[1]].clip(-1, 1)).max() < 1e-6
    # acoustic generation, with a voice prompt (another recording) or without: the plain decoder
    for voice in (other, None):
        assert np.array_equal(voiced.acoustic_generation(prompt, voice=voice, seed=1).audio,
                              voiced.acoustic_generation(prompt, voice=voice, seed=1, settings=off).audio)
    assert np.array_equal(voiced.unconditional(1.0, seed=4).audio, voiced.unconditional(1.0, seed=4, settings=off).audio)


def test_the_stream_decodes_in_the_references_voice_too(voiced):
    prompt = synthetic_voice(1.0, 16000)
    stream = stream_continuation(voiced, prompt, 2.5, seed=5)
    chunks = [chunk for chunk in stream]
    whole = voiced.continuation(prompt, 2.5, seed=5)
    assert len(chunks) >= 2 and torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-6


def test_the_setting_needs_a_voice_decoder_and_is_a_bool(tiny_model, tmp_path):
    with pytest.raises(SettingsError, match="voice decoder"):
        tiny_model.continuation(synthetic_voice(1.0, 16000), 1.0, settings=GenerationSettings(voice_decoder=True))
    with pytest.raises(SettingsError, match="voice_decoder"):
        GenerationSettings(voice_decoder=1)
    GenerationSettings(voice_decoder=True).save(tmp_path)
    assert GenerationSettings.load(tmp_path).voice_decoder is True
    assert GenerationSettings(voice_decoder=True).with_overrides(voice_prior=3.0).voice_decoder is True


def test_session_crops_take_the_reference_from_the_same_session():
    # every session's audio is one constant value: a crop and its reference must carry the same one
    sessions = [[np.full(n, k / 10, np.float32) for n in (40000, 30000, 12000)] for k in range(1, 6)]
    crops = SessionCrops(sessions, 16000)
    wav, reference = crops.batch(32, 32000, 48000, torch.Generator().manual_seed(0))
    assert wav.shape == (32, 32000) and reference.shape == (32, 48000)
    assert torch.equal(reference[:, 0], wav[:, 0])
    assert torch.equal(reference, reference[:, :1].expand(-1, 48000))  # short references repeat, never pad
    with pytest.raises(ValueError, match="references"):
        SessionCrops([[np.zeros(20000, np.float32)]], 16000).batch(2, 16000, 48000, torch.Generator())


def test_training_moves_the_voice_decoder_only_and_exports_the_codec(tmp_path):
    codec = tiny_codec(voice=None)
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    sessions = [[synthetic_voice(2.5, 16000, seed=3 * k + j, f0=100.0 + 30 * k) for j in range(2)] for k in range(3)]
    train = TrainConfig(steps=6, batch_size=4, lr=3e-3, warmup=1, save_every=3, device="cpu", precision="float32")
    voiced = train_voice_decoder(SessionCrops(sessions, 16000), codec, VOICE, tmp_path / "run", train,
                                 segment_seconds=1.0, reference_seconds=1.0)
    after = voiced.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # the codec itself is frozen
    attention = [k for k in after if k.startswith("voice_decoder.attention") and k.endswith("out_proj.weight")]
    assert attention and all(after[k].abs().max() > 0 for k in attention)  # it learnt to read the reference
    exported = load_codec(tmp_path / "run" / "model")
    assert exported.config.voice_decoder == VOICE
    assert all(torch.equal(exported.state_dict()[k], v) for k, v in after.items())
