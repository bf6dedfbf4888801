import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.sampling import SEED_MAX, SampleGenerators, SamplingConfig, parse_seed, sample, sample_seed


def test_greedy_is_argmax():
    logits = torch.randn(4, 30)
    assert torch.equal(sample(logits, SamplingConfig(temperature=0)), logits.argmax(-1))


def test_top_k_only_samples_the_k_best():
    logits = torch.randn(1, 100).expand(2000, -1)
    g = torch.Generator().manual_seed(0)
    drawn = sample(logits, SamplingConfig(temperature=5.0, top_k=3), g)
    assert set(drawn.tolist()) <= set(torch.topk(logits[0], 3).indices.tolist())
    assert len(set(drawn.tolist())) == 3


def test_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(3000, -1)
    g = torch.Generator().manual_seed(0)
    drawn = sample(logits, SamplingConfig(top_p=0.7), g)
    assert set(drawn.tolist()) == {0, 1}  # 0.5 + 0.3 covers 0.7
    assert set(sample(logits, SamplingConfig(top_p=0.01), g).tolist()) == {0}


def test_generator_determinism():
    logits = torch.randn(8, 50)
    a = sample(logits, SamplingConfig(), torch.Generator().manual_seed(3))
    b = sample(logits, SamplingConfig(), torch.Generator().manual_seed(3))
    c = sample(logits.repeat(8, 1).reshape(8, 8, 50), SamplingConfig(), torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and c.shape == (8, 8)


@pytest.mark.parametrize("kwargs", [dict(temperature=-1), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5)])
def test_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        SamplingConfig(**kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(temperature=float("nan")), "temperature must be a finite number"),
    (dict(temperature=float("inf")), "temperature must be a finite number"),
    (dict(temperature="0.6"), "temperature must be a finite number"),
    (dict(top_p=float("nan")), "top_p must be a finite number"),
    (dict(top_p=float("inf")), "top_p must be a finite number"),
    (dict(top_k=2.5), "top_k must be a finite whole number"),
    (dict(top_k=float("nan")), "top_k must be a finite whole number"),
])
def test_non_finite_or_non_numeric_settings_are_refused(kwargs, match):
    """NaN passed every comparison and sampled the last id every time; now one clear library error."""
    with pytest.raises(SettingsError, match=match):
        SamplingConfig(**kwargs)


@pytest.mark.parametrize("text", ["٣", "1_000", "-1", "+1", "1.5", "0x10", "", " 1 2", str(SEED_MAX + 1), "9" * 5000])
def test_seed_text_is_ascii_digits_in_range(text):
    with pytest.raises(SettingsError, match=f"from 0 to {SEED_MAX}") as err:
        parse_seed(text)
    assert len(str(err.value)) < 120  # a 5,000-digit seed is not echoed back whole


def test_seed_text_accepted():
    assert parse_seed(" 42 ") == 42 and parse_seed(str(SEED_MAX)) == SEED_MAX and parse_seed("0") == 0


def test_sample_generators_keep_each_sample_on_its_own_stream():
    logits = torch.randn(1, 50).expand(4, -1)  # rows: 4 samples x 1
    single = [sample(logits[:1], SamplingConfig(), SampleGenerators(sample_seed(7, i), 1)) for i in range(4)]
    batch = sample(logits, SamplingConfig(), SampleGenerators(7, 4))
    assert torch.equal(batch, torch.cat(single))  # sample i of seed 7 = sample 0 of sample_seed(7, i)
    # sample 0's stream is the plain generator's: figures measured before per-sample streams do not move
    assert torch.equal(SampleGenerators(7, 1).rand(5, "cpu"), torch.rand(5, 1, generator=torch.Generator().manual_seed(7)))
    assert len({sample_seed(7, i) for i in range(100)}) == 100 and all(0 <= sample_seed(7, i) <= SEED_MAX
                                                                     for i in range(100))


def test_speech_sampling_sweep_varies_one_setting_at_a_time(repo_script):
    """benchmarks/sampling_sweep.py: each value asked for is one setting, the bundle's own but for that field."""
    from dataclasses import replace

    from audiolm.pipeline import GenerationSettings

    sweep = repo_script("benchmarks/sampling_sweep.py")
    own = GenerationSettings(semantic=SamplingConfig(1.0), coarse=SamplingConfig(0.8, guidance=4.0), voice_prior=12.0)
    tried = sweep.settings_to_try(own, None, semantic_temperature=[0.8], coarse_temperature=[0.6], voice_prior=[16],
                                  coarse_top_p=[0.9])
    assert list(tried) == ["the bundle's, semantic T 0.8", "the bundle's, coarse T 0.6",
                           "the bundle's, coarse top-p 0.9", "the bundle's, voice prior 16"]
    assert tried["the bundle's, semantic T 0.8"] == replace(own, semantic=replace(own.semantic, temperature=0.8))
    assert tried["the bundle's, coarse T 0.6"] == replace(own, coarse=replace(own.coarse, temperature=0.6))
    assert tried["the bundle's, coarse top-p 0.9"] == replace(own, coarse=replace(own.coarse, top_p=0.9))
    assert tried["the bundle's, voice prior 16"] == replace(own, voice_prior=16.0)
    assert "the bundle's own" in sweep.settings_to_try(own, None)
    plans = sweep.settings_to_try(own, None, semantic_candidates=[1, 8])
    assert plans == {"the bundle's, 1 semantic plan": own, "the bundle's, 8 semantic plans": replace(own, semantic_candidates=8)}
    adapted = sweep.settings_to_try(own, None, semantic_adaptation=[0, 20])
    assert adapted == {"the bundle's, semantic stage adapted 0 steps": own,
                       "the bundle's, semantic stage adapted 20 steps, prompt 4-grams forbidden": replace(
                           own, semantic_adaptation_steps=20, semantic=replace(own.semantic, forbid_prefix_ngrams=4))}
