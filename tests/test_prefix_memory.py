"""kNN-LM over a stage's known prefix (``audiolm.prefix_memory``): the mixture it samples from, that the cached
stage computes it as a from-scratch reference does, what it draws from, and the settings that ask for it."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import GenerationSettings
from audiolm.prefix_memory import PrefixMemory
from audiolm.sampling import SamplingConfig
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from test_interleaved_stage import reference_generate, stage


def test_the_mixture_is_a_distribution_leaning_toward_the_nearest_keys_tokens():
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]])  # (B 1, S 4, d 2)
    positions = torch.tensor([[1], [2], [3]])  # 3 frames of 1 level: keys are hidden states 0, 1, 2
    tokens = torch.tensor([[[5, 2, 7]]])  # (B, L, F)
    logits = torch.randn(1, 8)
    query = torch.tensor([[0.1, 1.0]])  # nearest key: hidden state 1, whose token is 2
    sharp = PrefixMemory(hidden, positions, tokens, weight=1.0, temperature=1e-3).mix(logits, query, 0)
    assert sharp.exp().sum().item() == pytest.approx(1.0, abs=1e-5) and sharp.argmax().item() == 2
    assert set(torch.nonzero(sharp.exp()[0] > 1e-6).flatten().tolist()) <= {5, 2, 7}  # prefix tokens only
    off = PrefixMemory(hidden, positions, tokens, weight=0.0, temperature=0.1).mix(logits, query, 0)
    assert torch.allclose(off, logits.log_softmax(-1), atol=1e-6)
    half = PrefixMemory(hidden, positions, tokens, weight=0.5, temperature=1e-3).mix(logits, query, 0).exp()
    assert torch.allclose(half, 0.5 * logits.softmax(-1) + 0.5 * F.one_hot(torch.tensor([2]), 8), atol=1e-5)


GREEDY_KNN = SamplingConfig(temperature=0, prefix_knn=0.6, prefix_knn_temperature=0.05)


def knn_pick(s, weight, temperature):
    """The greedy choice from the kNN mixture, computed from scratch: keys from the first window's known frames."""
    K = s.config.target_codebook

    def pick(ids, level, offset, first):
        window_cond, known = first
        hidden = F.normalize(s.lm.hidden(s.flatten(window_cond, known)), dim=-1)
        keys = hidden[:, s.target_positions(known.shape[2])[:, level] - 1]
        h = s.lm.hidden(ids)[:, -1]
        p_stage = s.lm.head(h)[:, offset:offset + K].softmax(-1)
        near = (torch.einsum("bd,bfd->bf", F.normalize(h, dim=-1), keys) / temperature).softmax(-1)
        p_knn = torch.stack([torch.bincount(known[b, level], near[b], K) for b in range(len(known))])
        return ((1 - weight) * p_stage + weight * p_knn).argmax(-1)
    return pick


@torch.no_grad()
@pytest.mark.parametrize("total,known", [(12, 4), (21, 5), (30, 8)])  # one window, then several
def test_cached_generation_with_the_memory_equals_a_from_scratch_reference(total, known):
    s = stage(window=12)
    cond = torch.randint(0, 10, (2, 1, 15))
    prefix = torch.randint(0, 16, (2, 3, known))
    fast = s.generate(cond, prefix, total, GREEDY_KNN)
    assert torch.equal(fast, reference_generate(s, cond, prefix, total, pick=knn_pick(s, 0.6, 0.05)))
    assert not torch.equal(fast, s.generate(cond, prefix, total, SamplingConfig(temperature=0)))  # it does lean


@pytest.fixture(scope="module")
def model():
    return random_audiolm(tiny_bundle_config(coarse_layout="interleaved"), "tiny", seed=0)


def test_a_full_share_draws_every_generated_token_from_the_prompts_tokens_of_its_level(model):
    prompt = synthetic_voice(1.0, 16000)
    copy = SamplingConfig(1.0, prefix_knn=1.0, prefix_knn_temperature=0.5)
    settings = GenerationSettings(semantic=copy, coarse=copy)
    result = model.continuation(prompt, 2.0, num_samples=2, seed=3, settings=settings)
    sem, acoustic = model.tokenize(model.aligned(prompt))
    Qc, P = model.config.num_coarse, acoustic.shape[2]
    for row in range(2):
        for level in range(Qc):
            assert set(result.acoustic_ids[row, level, P:].tolist()) <= set(acoustic[0, level].tolist())
        assert set(result.semantic_ids[row, sem.shape[1]:].tolist()) <= set(sem[0].tolist())
    plain = model.continuation(prompt, 2.0, num_samples=2, seed=3)
    assert not torch.equal(plain.acoustic_ids, result.acoustic_ids)


def test_without_a_prefix_there_is_nothing_to_draw_on_and_nothing_changes(model):
    settings = GenerationSettings(semantic=SamplingConfig(1.0, prefix_knn=0.8),
                                  coarse=SamplingConfig(1.0, prefix_knn=0.8))
    plain = GenerationSettings(semantic=SamplingConfig(1.0), coarse=SamplingConfig(1.0))
    assert torch.equal(model.unconditional(1.0, seed=2, settings=settings).acoustic_ids,
                       model.unconditional(1.0, seed=2, settings=plain).acoustic_ids)


def test_the_stream_draws_the_same_tokens(model):
    prompt = synthetic_voice(1.0, 16000)
    settings = GenerationSettings(coarse=SamplingConfig(0.9, prefix_knn=0.5))
    stream = stream_continuation(model, prompt, 2.0, seed=5, settings=settings)
    chunks = [chunk for chunk in stream]
    whole = model.continuation(prompt, 2.0, seed=5, settings=settings)
    assert torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-6


@pytest.mark.parametrize("field,value", [("prefix_knn", -0.1), ("prefix_knn", 1.5), ("prefix_knn", float("nan")),
                                         ("prefix_knn", True), ("prefix_knn_temperature", 0.0),
                                         ("prefix_knn_temperature", float("inf"))])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(SettingsError, match=field):
        SamplingConfig(**{field: value})


def test_layouts_without_it_refuse_it_before_any_work():
    delay = random_audiolm(tiny_bundle_config(coarse_layout="delay"), "tiny", seed=0)
    with pytest.raises(SettingsError, match="prefix_knn"):
        delay.continuation(synthetic_voice(1.0, 16000), 1.0,
                           settings=GenerationSettings(coarse=SamplingConfig(0.8, prefix_knn=0.5)))


def test_it_is_saved_with_the_bundles_settings_and_older_files_mean_off(tmp_path, settings_without):
    GenerationSettings(coarse=SamplingConfig(1.1, prefix_knn=0.5, prefix_knn_temperature=0.03)).save(tmp_path)
    loaded = GenerationSettings.load(tmp_path)
    assert (loaded.coarse.prefix_knn, loaded.coarse.prefix_knn_temperature) == (0.5, 0.03)
    assert loaded.with_overrides(temperatures=(1.0, 0.9, 0.6)).coarse.prefix_knn == 0.5
    assert settings_without(tmp_path, "coarse.prefix_knn", "coarse.prefix_knn_temperature").coarse.prefix_knn == 0.0


def test_the_model_card_names_it_with_the_stage_that_uses_it():
    from audiolm.training.model_card import sampling_summary
    line = sampling_summary(GenerationSettings(semantic=SamplingConfig(1.0, prefix_knn=0.6,
                                                                       prefix_knn_temperature=0.05)))
    assert line.startswith("semantic T 1 (kNN over the prompt 0.6 at similarity T 0.05") and "coarse T 0.8," in line
    assert "kNN" not in sampling_summary(GenerationSettings())
