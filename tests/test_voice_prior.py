"""The voice prior: which reference frames it picks, how stages apply a token bias, and the modes that use it."""

import numpy as np
import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import GenerationSettings
from audiolm.sampling import SamplingConfig, TokenBias
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from audiolm.voice_prior import FineByExample, fine_by_example, voice_bias

STRONG = 1e4  # a weight no logit of a tiny random model comes near: the candidates are all that can be drawn


def test_token_bias_adds_its_weight_once_per_candidate_and_nothing_past_its_frames():
    tokens = torch.tensor([[[[1, 1], [2, 3], [0, 4]], [[5, 5], [6, 7], [7, 0]]]])  # (B 1, L 2, T 3, k 2)
    bias = TokenBias(tokens, 2.5)
    got = bias.logits(1, 1, 5, codebook=8)
    assert got.shape == (1, 4, 8)
    expected = torch.zeros(1, 4, 8)
    expected[0, 0, [6, 7]] = 2.5
    expected[0, 1, [7, 0]] = 2.5
    assert torch.equal(got, expected)
    assert torch.equal(bias.logits(0, 0, 1, 8)[0, 0], torch.tensor([0, 2.5, 0, 0, 0, 0, 0, 0]))
    assert not bias.logits(0, 3, 6, 8).any()


def test_voice_bias_takes_the_codes_of_the_reference_frames_nearest_each_semantic_id():
    centroids = torch.eye(3)
    reference_features = centroids[[2, 0, 1]] + 0.01  # reference frame j says id [2, 0, 1][j]
    reference_ids = torch.arange(12).view(2, 6)  # (Q 2, P 6): 2 codec frames per semantic frame
    bias = voice_bias(centroids, reference_features, reference_ids, torch.tensor([[0, 1, 1]]), 5, 3.0,
                      neighbours=1)
    assert bias.tokens.shape == (1, 2, 5, 1) and bias.weight == 3.0
    # id 0 is reference frame 1 (codec frames 2, 3), id 1 is frame 2 (codec frames 4, 5)
    assert bias.tokens[0, 0, :, 0].tolist() == [2, 3, 4, 5, 4]
    assert bias.tokens[0, 1, :, 0].tolist() == [8, 9, 10, 11, 10]
    assert voice_bias(centroids, reference_features, reference_ids, torch.tensor([[2]]), 2, 1.0).tokens.shape \
        == (1, 2, 2, 3)  # k is capped at the reference's frames
    with pytest.raises(ValueError, match="alignment"):
        voice_bias(centroids, reference_features, reference_ids[:, :5], torch.tensor([[0]]), 2, 1.0)


LAYOUTS = {"flat coarse, parallel fine": {}, "autoregressive fine": {"fine_layout": "autoregressive"},
           "delay coarse": {"coarse_layout": "delay"}, "interleaved coarse": {"coarse_layout": "interleaved"}}


@pytest.fixture(scope="module", params=list(LAYOUTS))
def model(request):
    return random_audiolm(tiny_bundle_config(**LAYOUTS[request.param]), "tiny", seed=0)


def candidates(model, plan, result):
    """The voice prior's candidate ids ``(N, Q, frames, k)`` of a result's semantic ids."""
    settings = GenerationSettings(voice_prior=1.0)
    coarse, fine = plan.biases(model, result.semantic_ids[:, None].to(model.device), settings)
    return torch.cat([coarse.tokens, fine.tokens], 1)


def drawn_from(ids, tokens, first):
    """Whether every id of frames ``>= first`` is one of its frame's candidates."""
    generated = ids[:, :, first:]
    return bool((generated[..., None] == tokens[:, :, first:generated.shape[2] + first]).any(-1).all())


def test_a_strong_voice_prior_draws_every_generated_code_from_the_prompts_frames(model):
    prompt = synthetic_voice(1.0, 16000)
    strong = GenerationSettings(voice_prior=STRONG)
    result = model.continuation(prompt, 2.0, num_samples=2, seed=1, settings=strong)
    plan = model.continuation_plan(prompt, 2.0, 2)
    prompt_frames = plan.acoustic.shape[2]
    assert drawn_from(result.acoustic_ids, candidates(model, plan, result), prompt_frames)
    assert torch.equal(result.acoustic_ids[:, :, :prompt_frames], plan.acoustic)
    plain = model.continuation(prompt, 2.0, num_samples=2, seed=1)
    off = model.continuation(prompt, 2.0, num_samples=2, seed=1, settings=GenerationSettings(voice_prior=0.0))
    assert torch.equal(plain.acoustic_ids, off.acoustic_ids)  # the default settings have it off
    assert not drawn_from(plain.acoustic_ids, candidates(model, plan, plain), prompt_frames)


def test_acoustic_generation_takes_the_prior_from_the_voice_prompt_only(tiny_model):
    wav, voice = synthetic_voice(1.5, 16000, seed=1), synthetic_voice(1.0, 16000, seed=2, f0=220.0)
    strong = GenerationSettings(voice_prior=STRONG)
    voiced = tiny_model.acoustic_generation(wav, voice, seed=4, settings=strong)
    voice_ids = tiny_model.tokenize(tiny_model.aligned(voice))[1][0]  # (Q, P)
    assert set(voiced.acoustic_ids.unique().tolist()) <= set(voice_ids.unique().tolist())
    # no voice prompt: no reference, the prior is off
    assert torch.equal(tiny_model.acoustic_generation(wav, seed=4, settings=strong).acoustic_ids,
                       tiny_model.acoustic_generation(wav, seed=4).acoustic_ids)


def test_the_stream_applies_the_same_prior(tiny_model):
    prompt = synthetic_voice(1.0, 16000)
    settings = GenerationSettings(coarse=SamplingConfig(0.9), voice_prior=3.0)
    stream = stream_continuation(tiny_model, prompt, 2.0, seed=5, settings=settings)
    chunks = [chunk for chunk in stream]
    whole = tiny_model.continuation(prompt, 2.0, seed=5, settings=settings)
    assert torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert not torch.equal(whole.acoustic_ids, tiny_model.continuation(
        prompt, 2.0, seed=5, settings=GenerationSettings(coarse=SamplingConfig(0.9))).acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-6


@pytest.mark.parametrize("weight", [-1.0, float("inf"), float("nan"), True, "2"])
def test_bad_voice_prior_weights_are_refused(weight):
    with pytest.raises(SettingsError, match="voice_prior"):
        GenerationSettings(voice_prior=weight)


def test_the_weight_is_saved_with_the_bundles_settings_and_older_files_mean_off(tmp_path, settings_without):
    GenerationSettings(voice_prior=6.0).save(tmp_path)
    assert GenerationSettings.load(tmp_path).voice_prior == 6.0
    assert settings_without(tmp_path, "voice_prior").voice_prior == 0.0
    assert GenerationSettings().with_overrides(voice_prior=2.0).voice_prior == 2.0
    assert GenerationSettings(voice_prior=2.0).with_overrides(guidance=1.0).voice_prior == 2.0
    assert GenerationSettings(fine_by_example=4).with_overrides(voice_prior=1.0).fine_by_example == 4
    assert settings_without(tmp_path, "fine_by_example").fine_by_example == 0  # a file written before it: off


def test_fine_by_example_gives_each_frame_the_fine_residual_of_the_reference_frames_like_it(tiny_model):
    codec = tiny_model.codec
    reference = codec.encode(torch.from_numpy(synthetic_voice(1.0, 16000))[None])[0]  # (Q, P)
    Qc, P = tiny_model.config.num_coarse, reference.shape[1]
    order = torch.randperm(P, generator=torch.Generator().manual_seed(0))
    coarse = reference[None, :Qc, order]  # every output frame's coarse codes are a reference frame's
    fine = fine_by_example(codec, coarse, reference, neighbours=1)
    assert fine.shape == (1, reference.shape[0] - Qc, P) and fine.dtype == torch.long
    # with one neighbour, a frame whose coarse codes no other reference frame shares takes its twin's fine
    # residual, re-encoded by the fine levels: nearer the twin's than to another frame's
    wanted = (codec.latent(reference[None]) - codec.latent(reference[None, :Qc]))[..., order]
    unique = torch.tensor([(coarse[0, :, t:t + 1] == coarse[0]).all(0).sum() == 1 for t in range(P)])
    assert unique.sum() >= P // 2
    assert torch.equal(fine[..., unique], codec.quantize_residual(wanted, Qc)[..., unique])
    got = codec.latent(torch.cat([coarse, fine], 1)) - codec.latent(coarse)
    shuffled = wanted[..., torch.roll(torch.arange(P), 1)]
    assert (got - wanted)[..., unique].norm() < 0.75 * (shuffled - wanted)[..., unique].norm()
    # more neighbours: a mean of residuals, still deterministic and within the codebooks
    many = fine_by_example(codec, coarse, reference, neighbours=P + 5)  # capped at the reference's frames
    assert torch.equal(many, fine_by_example(codec, coarse, reference, neighbours=P))
    assert bool((many[0] == many[0, :, :1]).all())  # every frame: the mean of all frames, the same ids


def test_fine_by_example_replaces_the_fine_stage_only_where_there_is_a_reference(model):
    prompt = synthetic_voice(1.0, 16000)
    by_example = GenerationSettings(fine_by_example=2)
    result = model.continuation(prompt, 2.0, num_samples=2, seed=1, settings=by_example)
    plain = model.continuation(prompt, 2.0, num_samples=2, seed=1)
    plan = model.continuation_plan(prompt, 2.0, 2)
    Qc, P = model.config.num_coarse, plan.acoustic.shape[2]
    assert torch.equal(result.acoustic_ids[:, :Qc], plain.acoustic_ids[:, :Qc])  # the coarse stage's, untouched
    assert torch.equal(result.acoustic_ids[:, :, :P], plan.acoustic)  # the prompt's frames kept
    expected = fine_by_example(model.codec, result.acoustic_ids[:, :Qc, P:], plan.acoustic[0], 2)
    assert torch.equal(result.acoustic_ids[:, Qc:, P:], expected)
    assert not torch.equal(result.acoustic_ids[:, Qc:, P:], plain.acoustic_ids[:, Qc:, P:])
    # no reference (unconditional): the fine stage as before
    assert torch.equal(model.unconditional(1.0, seed=3, settings=by_example).acoustic_ids,
                       model.unconditional(1.0, seed=3).acoustic_ids)


def test_the_stream_takes_the_fine_levels_by_example_too(tiny_model):
    prompt = synthetic_voice(1.0, 16000)
    settings = GenerationSettings(coarse=SamplingConfig(0.9), voice_prior=3.0, fine_by_example=3)
    stream = stream_continuation(tiny_model, prompt, 2.5, seed=5, settings=settings)
    chunks = [chunk for chunk in stream]
    whole = tiny_model.continuation(prompt, 2.5, seed=5, settings=settings)
    assert len(chunks) >= 2 and torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-6


@pytest.mark.parametrize("neighbours", [-1, 1.5, True, "2"])
def test_bad_fine_by_example_counts_are_refused(neighbours):
    with pytest.raises(SettingsError, match="fine_by_example"):
        GenerationSettings(fine_by_example=neighbours)


def test_fine_by_example_needs_a_codec_with_a_residual_latent(tiny_model, monkeypatch):
    monkeypatch.setattr(type(tiny_model.codec), "residual_latent", False)
    with pytest.raises(SettingsError, match="residual latent"):
        tiny_model.continuation(synthetic_voice(1.0, 16000), 1.0, settings=GenerationSettings(fine_by_example=4))
    with pytest.raises(ValueError, match="at least one frame"):
        FineByExample(tiny_model.codec, torch.zeros(4, 0, dtype=torch.long), 2)
