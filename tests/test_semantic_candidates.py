"""``GenerationSettings.semantic_candidates``: the semantic plan each sample keeps of the K it draws (the one whose
ids change most often), that the candidates are the plans their own seeds would draw, and the settings."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import GenerationSettings
from audiolm.sampling import SamplingConfig, candidate_seed, sample_seed
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice

HOT = GenerationSettings(semantic=SamplingConfig(1.0), coarse=SamplingConfig(1.0))


@pytest.fixture(scope="module")
def model():
    return random_audiolm(tiny_bundle_config(coarse_layout="interleaved"), "tiny", seed=0)


@pytest.fixture(scope="module")
def prompt():
    return synthetic_voice(1.0, 16000)


def changes(ids: torch.Tensor, known: int) -> int:
    new = ids[known - 1:]
    return int((new[1:] != new[:-1]).sum())


@pytest.mark.parametrize("seed", [3, 11])
def test_each_sample_keeps_the_plan_that_changes_most_of_those_its_candidate_seeds_draw(model, prompt, seed):
    known = model.tokenize(model.aligned(prompt))[0].shape[1]
    picked = model.continuation(prompt, 2.0, num_samples=2, seed=seed, settings=replace(HOT, semantic_candidates=4))
    for row in range(2):
        own = sample_seed(seed, row)
        plans = [model.continuation(prompt, 2.0, seed=s, settings=HOT).semantic_ids[0]
                 for s in [own] + [candidate_seed(own, j) for j in (1, 2, 3)]]
        assert len({tuple(p.tolist()) for p in plans}) == 4  # four different plans to choose from
        best = int(np.argmax([changes(p, known) for p in plans]))
        assert torch.equal(picked.semantic_ids[row], plans[best])
        assert torch.equal(picked.semantic_ids[row, :known], plans[0][:known])  # the prompt's own ids


def test_one_candidate_is_the_plain_generation_and_more_change_more(model, prompt):
    plain = model.continuation(prompt, 2.0, num_samples=3, seed=5, settings=HOT)
    one = model.continuation(prompt, 2.0, num_samples=3, seed=5, settings=replace(HOT, semantic_candidates=1))
    assert torch.equal(plain.acoustic_ids, one.acoustic_ids) and np.array_equal(plain.audio, one.audio)
    known = model.tokenize(model.aligned(prompt))[0].shape[1]
    eight = model.continuation(prompt, 2.0, num_samples=3, seed=5, settings=replace(HOT, semantic_candidates=8))
    assert all(changes(e, known) >= changes(p, known) for e, p in zip(eight.semantic_ids, plain.semantic_ids))
    assert sum(changes(e, known) for e in eight.semantic_ids) > sum(changes(p, known) for p in plain.semantic_ids)


def test_unconditional_generation_keeps_a_plan_too(model):
    plain = model.unconditional(2.0, seed=4, settings=HOT)
    picked = model.unconditional(2.0, seed=4, settings=replace(HOT, semantic_candidates=6))
    assert changes(picked.semantic_ids[0], 1) >= changes(plain.semantic_ids[0], 1)


def test_acoustic_generation_has_no_plan_to_choose(model, prompt):
    voice = synthetic_voice(1.0, 16000, f0=180.0)
    plain = model.acoustic_generation(prompt, voice=voice, seed=2, settings=HOT)
    more = model.acoustic_generation(prompt, voice=voice, seed=2, settings=replace(HOT, semantic_candidates=5))
    assert np.array_equal(plain.audio, more.audio)


def test_the_stream_draws_the_same_tokens(model, prompt):
    settings = replace(HOT, semantic_candidates=3)
    stream = stream_continuation(model, prompt, 2.0, num_samples=2, seed=7, settings=settings)
    chunks = list(stream)
    whole = model.continuation(prompt, 2.0, num_samples=2, seed=7, settings=settings)
    assert torch.equal(stream.result.semantic_ids, whole.semantic_ids)
    assert torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-6


@pytest.mark.parametrize("value", [0, -1, 1.5, True, 65, "4"])
def test_bad_values_are_refused(value):
    with pytest.raises(SettingsError, match="semantic_candidates"):
        GenerationSettings(semantic_candidates=value)


def test_it_is_saved_with_the_bundles_settings_and_older_files_mean_one(tmp_path, settings_without):
    GenerationSettings(semantic_candidates=6).save(tmp_path)
    assert GenerationSettings.load(tmp_path).semantic_candidates == 6
    assert settings_without(tmp_path, "semantic_candidates").semantic_candidates == 1


def test_the_model_card_says_how_many_plans_are_drawn():
    from audiolm.training.model_card import sampling_summary
    assert "whose ids change most often of 6 drawn" in sampling_summary(GenerationSettings(semantic_candidates=6))
    assert "change most often" not in sampling_summary(GenerationSettings())
