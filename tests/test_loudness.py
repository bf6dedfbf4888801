"""Inputs outside a bundle's loudness range are tokenized as if given at the range's nearest edge, and the output
comes back at the input's own level; inputs inside it, and bundles without a range, are left as they are."""
import numpy as np
import pyloudnorm
import pytest
import torch

from audiolm.bundle import BundleConfig
from audiolm.errors import BundleError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.loudness import loudness_gain
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice

SR = 16000
RANGE = (-30.0, -20.0)


def loudness(wav):
    return pyloudnorm.Meter(SR).integrated_loudness(np.asarray(wav, dtype=np.float64))


def at_level(wav, lufs):
    return (wav * 10 ** ((lufs - loudness(wav)) / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def voice2s():
    return synthetic_voice(2.0, SR)  # 50 whole alignment units of 640 samples


@pytest.fixture(scope="module")
def ranged():
    """The conftest's tiny model (same seed, same weights) with a loudness range."""
    return random_audiolm(tiny_bundle_config(input_loudness=RANGE), "tiny", seed=0)


@pytest.mark.parametrize("lufs, edge", [(-50.0, -30.0), (-10.0, -20.0)])
def test_gain_brings_a_quiet_or_loud_input_to_the_nearest_edge(voice2s, lufs, edge):
    wav = at_level(voice2s, lufs)
    gain = loudness_gain(wav, SR, RANGE)
    assert (gain > 1) == (lufs < edge)
    assert loudness(wav * gain) == pytest.approx(edge, abs=0.05)


@pytest.mark.parametrize("wav, lufs_range", [
    ("inside", RANGE), ("quiet", ()), ("silence", RANGE), ("short", RANGE)])
def test_gain_is_one_inside_the_range_without_one_for_silence_and_short_audio(voice2s, wav, lufs_range):
    wav = {"inside": at_level(voice2s, -25.0), "quiet": at_level(voice2s, -50.0),
           "silence": np.zeros(SR, np.float32), "short": at_level(voice2s, -50.0)[:int(0.3 * SR)]}[wav]
    assert loudness_gain(wav, SR, lufs_range) == 1.0


def test_a_raising_gain_never_makes_the_input_clip(voice2s):
    wav = at_level(voice2s, -50.0)
    wav[1000] = 0.5  # one click near full scale: the range's edge would push it far past 1
    gain = loudness_gain(wav, SR, RANGE)
    assert gain == pytest.approx(0.99 / 0.5)
    assert loudness(wav * gain) < RANGE[0]


@pytest.mark.parametrize("bad", [(-20.0, -30.0), (-20.0,), (-30.0, -25.0, -20.0)])
def test_a_bundle_refuses_a_malformed_range(bad):
    with pytest.raises(BundleError, match="input_loudness"):
        BundleConfig(input_loudness=bad)


def test_the_range_survives_a_save_and_load(tmp_path):
    BundleConfig(input_loudness=RANGE).save(tmp_path)
    assert BundleConfig.load(tmp_path).input_loudness == RANGE


@pytest.mark.parametrize("lufs", [-50.0, -8.0])
def test_continuation_tokenizes_the_prompt_at_the_edge_and_returns_the_prompts_level(ranged, tiny_model, voice2s,
                                                                                      lufs):
    prompt = at_level(voice2s, lufs)
    gain = loudness_gain(prompt, SR, RANGE)
    assert gain != 1
    got = ranged.continuation(prompt, 0.5, seed=3)
    edge = tiny_model.continuation((prompt * gain).astype(np.float32), 0.5, seed=3)
    assert torch.equal(got.acoustic_ids, edge.acoustic_ids) and torch.equal(got.semantic_ids, edge.semantic_ids)
    unclipped = np.abs(edge.audio) < 1
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(got.audio[unclipped], np.clip(edge.audio / gain, -1, 1)[unclipped], rtol=1e-5,
                               atol=1e-7)


def test_a_prompt_inside_the_range_is_continued_exactly_as_without_one(ranged, tiny_model, voice2s):
    prompt = at_level(voice2s, -25.0)
    got, plain = ranged.continuation(prompt, 0.5, seed=3), tiny_model.continuation(prompt, 0.5, seed=3)
    assert torch.equal(got.acoustic_ids, plain.acoustic_ids)
    assert np.array_equal(got.audio, plain.audio)


def test_acoustic_generation_brings_input_and_voice_prompt_in_on_their_own(ranged, tiny_model, voice2s):
    wav, voice = at_level(voice2s, -50.0), at_level(synthetic_voice(1.28, SR, seed=1), -12.0)
    g_wav, g_voice = loudness_gain(wav, SR, RANGE), loudness_gain(voice, SR, RANGE)
    assert g_wav > 1 > g_voice
    got = ranged.acoustic_generation(wav, voice, seed=2)
    edge = tiny_model.acoustic_generation((wav * g_wav).astype(np.float32), (voice * g_voice).astype(np.float32),
                                          seed=2)
    assert torch.equal(got.acoustic_ids, edge.acoustic_ids)
    unclipped = np.abs(edge.audio) < 1
    np.testing.assert_allclose(got.audio[unclipped], np.clip(edge.audio / g_wav, -1, 1)[unclipped], rtol=1e-5,
                               atol=1e-7)


def test_a_stream_comes_at_the_prompts_level_like_the_whole_result(ranged, voice2s):
    prompt = at_level(voice2s, -50.0)
    stream = stream_continuation(ranged, prompt, 0.5, seed=3)
    chunks = np.concatenate([chunk.copy() for chunk in stream], 1)
    np.testing.assert_allclose(chunks, ranged.continuation(prompt, 0.5, seed=3).audio, atol=1e-6)


def test_the_model_card_states_the_range_where_the_bundle_has_one():
    from dataclasses import replace
    from types import SimpleNamespace

    from audiolm.pipeline import GenerationSettings
    from audiolm.training.model_card import model_card
    from audiolm.training.recipes import RECIPES

    part = torch.nn.Linear(2, 2)
    model = SimpleNamespace(codec=part, semantic_tokenizer=part, semantic_stage=part, coarse_stage=part,
                            fine_stage=part, default_settings=GenerationSettings())
    recipe = RECIPES["speech-mixed"]()
    low, high = recipe.bundle.input_loudness
    assert f"loudness range, {low:g} to {high:g} LUFS" in model_card(recipe, model, {}, None)
    plain = replace(recipe, bundle=replace(recipe.bundle, input_loudness=()))
    assert "LUFS" not in model_card(plain, model, {}, None)
