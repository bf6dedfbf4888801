"""A continuation's semantic stage adapted to its prompt (``audiolm.prompt_adaptation``) and the prompt's n-grams
forbidden while a stage continues it (``audiolm.forbidden_ngrams``): what each does to the ids, that the shared
stage is never changed, determinism, the modes they touch, and their settings."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.forbidden_ngrams import ForbiddenNGrams
from audiolm.pipeline import GenerationSettings
from audiolm.prompt_adaptation import adapted_to_prefix
from audiolm.sampling import SamplingConfig, sample_seed
from audiolm.stages.flat import FlatStage, FlatStageConfig
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from audiolm.transformer import TransformerConfig
import test_semantic_candidates

# fixtures shared with the semantic candidates' tests: the tiny interleaved bundle and a 1 s voice
model, prompt = test_semantic_candidates.model, test_semantic_candidates.prompt
GREEDY = SamplingConfig(temperature=0)
ADAPTED = GenerationSettings(semantic=SamplingConfig(1.0, forbid_prefix_ngrams=4), coarse=SamplingConfig(1.0),
                             semantic_adaptation_steps=5, semantic_adaptation_lr=1e-3)


def ngrams(ids: list[int], n: int) -> set[tuple[int, ...]]:
    return {tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)}


def generated_ngrams_from(prefix: list[int], out: list[int], n: int) -> int:
    """How many n-grams of ``out`` that end after ``prefix`` (``out`` continues it) are n-grams of ``prefix``."""
    seen = ngrams(prefix, n)
    return sum(tuple(out[i - n + 1:i + 1]) in seen for i in range(len(prefix), len(out)))


def semantic_stage(seed=0, window=40):
    torch.manual_seed(seed)
    return FlatStage(FlatStageConfig(
        name="semantic", cond_levels=0, cond_codebook=0, target_levels=1, target_codebook=12, target_rate=25.0,
        cond_rate=25.0, window_frames=window,
        transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=window + 2))).eval()


def test_the_mask_forbids_exactly_the_ids_that_complete_a_prefix_ngram():
    prefix = torch.tensor([[[1, 2, 3, 1, 2, 4]]])
    logits = torch.zeros(1, 6)
    three = ForbiddenNGrams(prefix, 3)
    masked = three.mask(logits, torch.tensor([[5, 1, 2]]), 0)  # (1, 2) was followed by 3 and by 4
    assert torch.isinf(masked[0]).nonzero().flatten().tolist() == [3, 4]
    assert torch.equal(three.mask(logits, torch.tensor([[2, 3]]), 0)[0].isinf(), torch.arange(6) == 1)
    assert torch.equal(three.mask(logits, torch.tensor([[3, 2]]), 0), logits)  # a context the prefix lacks
    assert torch.equal(three.mask(logits, torch.tensor([[2]]), 0), logits)  # too short a history
    assert torch.equal(logits, torch.zeros(1, 6))  # the caller's logits are not written
    assert torch.isinf(ForbiddenNGrams(prefix, 1).mask(logits, torch.tensor([[0]]), 0)[0]).nonzero().flatten() \
        .tolist() == [1, 2, 3, 4]
    every = ForbiddenNGrams(torch.tensor([[[0, 0, 0, 1]]]), 2).mask(torch.zeros(1, 2), torch.tensor([[0]]), 0)
    assert torch.equal(every, torch.zeros(1, 2))  # forbidding every id would leave nothing to draw: kept


def test_each_sample_and_level_is_masked_by_its_own_prefix():
    prefix = torch.tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])  # (B 2, L 2, P 2)
    forbidden = ForbiddenNGrams(prefix, 2)
    masked = forbidden.mask(torch.zeros(2, 10), torch.tensor([[3], [5]]), 1)  # level 1: 3 -> 4 in sample 0 only
    assert masked[0].isinf().nonzero().flatten().tolist() == [4] and not masked[1].isinf().any()
    with pytest.raises(ValueError, match="n must be"):
        ForbiddenNGrams(prefix, 0)


def test_adaptation_learns_the_prefix_and_leaves_the_stage_as_it_was():
    s = semantic_stage()
    before = {k: v.clone() for k, v in s.state_dict().items()}
    prefix = torch.randint(0, 12, (1, 1, 30), generator=torch.Generator().manual_seed(1))
    adapted = adapted_to_prefix(s, prefix, steps=30, lr=3e-3, seed=0)
    assert all(torch.equal(before[k], v) for k, v in s.state_dict().items())
    assert not adapted.training and not any(p.requires_grad for p in adapted.parameters())
    with torch.no_grad():
        assert adapted.loss(None, prefix).item() < s.loss(None, prefix).item() - 0.5
    again = adapted_to_prefix(s, prefix, steps=30, lr=3e-3, seed=0)
    other = adapted_to_prefix(s, prefix, steps=30, lr=3e-3, seed=1)  # other crops
    assert all(torch.equal(a, b) for a, b in zip(adapted.parameters(), again.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(adapted.parameters(), other.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(s.parameters(), adapted_to_prefix(s, prefix, 0, 1e-3, 0).parameters()))


def test_adaptation_refuses_a_stage_with_a_cond():
    model = random_audiolm(tiny_bundle_config(), "tiny", seed=0)
    with pytest.raises(ValueError, match="cond"):
        adapted_to_prefix(model.coarse_stage, torch.zeros(1, 2, 10, dtype=torch.long), 2, 1e-3, 0)


def test_a_stage_that_learnt_its_prefix_replays_it_unless_its_ngrams_are_forbidden():
    s = semantic_stage()
    prefix = torch.randint(0, 12, (1, 1, 24), generator=torch.Generator().manual_seed(2))
    adapted = adapted_to_prefix(s, prefix, steps=60, lr=3e-3, seed=0)
    replay = adapted.generate(None, prefix, 40, GREEDY)
    assert torch.equal(replay[:, :, :24], prefix)
    plain = s.generate(None, prefix, 40, GREEDY)
    replayed = generated_ngrams_from(prefix[0, 0].tolist(), replay[0, 0].tolist(), 4)
    assert replayed >= 3 and replayed > generated_ngrams_from(prefix[0, 0].tolist(), plain[0, 0].tolist(), 4)
    kept = adapted.generate(None, prefix, 40, replace(GREEDY, forbid_prefix_ngrams=4))
    assert torch.equal(kept[:, :, :24], prefix)
    assert generated_ngrams_from(prefix[0, 0].tolist(), kept[0, 0].tolist(), 4) == 0
    hot = adapted.generate(None, prefix.repeat(3, 1, 1), 60, SamplingConfig(1.0, forbid_prefix_ngrams=3),
                           torch.Generator().manual_seed(0))  # past one window (40 frames) too
    assert all(generated_ngrams_from(prefix[0, 0].tolist(), row[0].tolist(), 3) == 0 for row in hot)


def test_a_continuation_plans_with_an_adapted_copy_deterministically(model, prompt):
    before = {k: v.clone() for k, v in model.semantic_stage.state_dict().items()}
    known = model.tokenize(model.aligned(prompt))[0].shape[1]
    plain = model.continuation(prompt, 2.0, num_samples=2, seed=3, settings=replace(ADAPTED, semantic_adaptation_steps=0))
    adapted = model.continuation(prompt, 2.0, num_samples=2, seed=3, settings=ADAPTED)
    again = model.continuation(prompt, 2.0, num_samples=2, seed=3, settings=ADAPTED)
    assert torch.equal(adapted.semantic_ids, again.semantic_ids) and np.array_equal(adapted.audio, again.audio)
    assert torch.equal(adapted.semantic_ids[:, :known], plain.semantic_ids[:, :known])  # the prompt's own ids
    assert not torch.equal(adapted.semantic_ids[:, known:], plain.semantic_ids[:, known:])
    for row in adapted.semantic_ids.tolist():
        assert generated_ngrams_from(row[:known], row, 4) == 0
    assert all(torch.equal(before[k], v) for k, v in model.semantic_stage.state_dict().items())
    stream = stream_continuation(model, prompt, 2.0, num_samples=2, seed=3, settings=ADAPTED)
    chunks = list(stream)
    assert torch.equal(stream.result.semantic_ids, adapted.semantic_ids)
    assert np.abs(np.concatenate(chunks, 1) - adapted.audio).max() <= 1e-6


def test_adaptation_asked_for_by_its_steps_alone_plans_without_the_prompts_4grams(model, prompt):
    """The Space's slider, ``generate --prompt-adaptation`` and ``with_overrides`` ask for adaptation by its steps; it
    comes with the prompt's 4-grams forbidden, as it was measured, else the adapted stage replays the prompt."""
    base = GenerationSettings(semantic=SamplingConfig(1.0), coarse=SamplingConfig(1.0), semantic_adaptation_lr=3e-3)
    asked = base.with_overrides(semantic_adaptation_steps=60)
    assert asked == replace(base, semantic_adaptation_steps=60, semantic=replace(base.semantic, forbid_prefix_ngrams=4))
    known = model.tokenize(model.aligned(prompt))[0].shape[1]
    unchecked = model.continuation(prompt, 2.0, num_samples=3, seed=5, settings=replace(base, semantic_adaptation_steps=60))
    checked = model.continuation(prompt, 2.0, num_samples=3, seed=5, settings=asked)
    assert sum(generated_ngrams_from(row[:known], row, 4) for row in unchecked.semantic_ids.tolist()) >= 3
    assert all(generated_ngrams_from(row[:known], row, 4) == 0 for row in checked.semantic_ids.tolist())
    three = replace(base, semantic=replace(base.semantic, forbid_prefix_ngrams=3))  # settings that forbid some n keep it
    assert three.with_overrides(semantic_adaptation_steps=20).semantic == three.semantic
    assert base.with_overrides(semantic_adaptation_steps=0) == base == base.with_overrides()


def test_each_sample_of_an_adapted_continuation_is_the_one_its_own_seed_gives_alone(model, prompt):
    batch = model.continuation(prompt, 2.0, num_samples=3, seed=9, settings=ADAPTED)
    for i in (1, 2):
        alone = model.continuation(prompt, 2.0, seed=sample_seed(9, i), settings=ADAPTED)
        assert torch.equal(alone.semantic_ids[0], batch.semantic_ids[i])
        assert torch.equal(alone.acoustic_ids[0], batch.acoustic_ids[i])


def test_modes_without_a_prompt_to_plan_from_are_unchanged(model, prompt):
    plain = replace(ADAPTED, semantic_adaptation_steps=0)
    assert np.array_equal(model.unconditional(2.0, seed=4, settings=plain).audio,
                          model.unconditional(2.0, seed=4, settings=ADAPTED).audio)
    voice = synthetic_voice(1.0, 16000, f0=180.0)
    assert np.array_equal(model.acoustic_generation(prompt, voice=voice, seed=2, settings=plain).audio,
                          model.acoustic_generation(prompt, voice=voice, seed=2, settings=ADAPTED).audio)


def test_a_layout_that_cannot_forbid_ngrams_says_so_before_any_work(prompt):
    model = random_audiolm(tiny_bundle_config(fine_layout="parallel"), "tiny", seed=0)
    settings = GenerationSettings(fine=SamplingConfig(0.6, forbid_prefix_ngrams=4))
    with pytest.raises(SettingsError, match="forbid_prefix_ngrams"):
        model.continuation(prompt, 1.0, settings=settings)


@pytest.mark.parametrize("field,value", [("semantic_adaptation_steps", -1), ("semantic_adaptation_steps", 1.5),
                                         ("semantic_adaptation_steps", True), ("semantic_adaptation_steps", 201),
                                         ("semantic_adaptation_lr", 0.0), ("semantic_adaptation_lr", float("nan")),
                                         ("semantic_adaptation_lr", "1e-3")])
def test_bad_adaptation_settings_are_refused(field, value):
    with pytest.raises(SettingsError, match=field):
        GenerationSettings(**{field: value})


@pytest.mark.parametrize("value", [-1, 2.0, True, float("inf")])
def test_bad_ngram_lengths_are_refused(value):
    with pytest.raises(SettingsError, match="forbid_prefix_ngrams"):
        SamplingConfig(forbid_prefix_ngrams=value)


def test_they_are_saved_with_the_bundles_settings_and_older_files_mean_off(tmp_path, settings_without):
    ADAPTED.save(tmp_path)
    loaded = GenerationSettings.load(tmp_path)
    assert (loaded.semantic_adaptation_steps, loaded.semantic_adaptation_lr, loaded.semantic.forbid_prefix_ngrams) \
        == (5, 1e-3, 4)
    old = settings_without(tmp_path, "semantic_adaptation_steps", "semantic_adaptation_lr",
                           "semantic.forbid_prefix_ngrams")
    assert (old.semantic_adaptation_steps, old.semantic.forbid_prefix_ngrams) == (0, 0)


def test_the_model_card_says_how_the_plan_is_adapted():
    from audiolm.training.model_card import sampling_summary
    line = sampling_summary(ADAPTED)
    assert "adapted to the prompt (5 steps at lr 0.001" in line and "the prompt's 4-grams forbidden" in line
    assert "adapted" not in sampling_summary(GenerationSettings()) and "forbidden" not in sampling_summary(
        GenerationSettings())
