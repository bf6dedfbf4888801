import pytest
import torch

from audiolm.sampling import SamplingConfig, sample


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
