import torch

from audiolm.transformer import DecoderLM, Transformer, TransformerConfig


def tiny_lm(vocab=50, seed=0):
    torch.manual_seed(seed)
    return DecoderLM(vocab, TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=64)).eval()


def test_causality_future_tokens_never_change_earlier_logits():
    lm = tiny_lm()
    ids = torch.randint(0, 50, (2, 20))
    changed = ids.clone()
    changed[:, 12:] = torch.randint(0, 50, (2, 8))
    a, b = lm(ids), lm(changed)
    assert torch.allclose(a[:, :12], b[:, :12], atol=1e-6)
    assert not torch.allclose(a[:, 12:], b[:, 12:], atol=1e-3)


def test_cached_step_by_step_equals_full_sequence():
    lm = tiny_lm()
    ids = torch.randint(0, 50, (3, 17))
    full = lm(ids)
    cache = lm.body.new_cache(3)
    steps = [lm(ids[:, :5], cache)]  # prefill a chunk, then one token at a time
    steps += [lm(ids[:, t:t + 1], cache) for t in range(5, 11)]
    steps.append(lm(ids[:, 11:], cache))  # a multi-token chunk after cached positions
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert cache.length == 17


def test_vocab_range_logits_are_a_slice():
    lm = tiny_lm()
    ids = torch.randint(0, 50, (1, 6))
    assert torch.allclose(lm(ids, vocab_range=(10, 20)), lm(ids)[..., 10:20], atol=1e-6)


def test_bidirectional_sees_the_future_causal_does_not():
    torch.manual_seed(0)
    x = torch.randn(1, 10, 32)
    y = x.clone()
    y[:, 9] = torch.randn(32)  # a new last token (a constant shift would vanish in LayerNorm)
    for causal in (False, True):
        body = Transformer(TransformerConfig(d_model=32, n_layers=2, n_heads=4, causal=causal, max_seq_len=32))
        change = (body.eval()(x)[:, 0] - body(y)[:, 0]).abs().max()
        assert change > 1e-5 if not causal else change == 0


def test_too_long_sequence_raises():
    lm = tiny_lm()
    try:
        lm(torch.zeros(1, 65, dtype=torch.long))
    except ValueError as exc:
        assert "max_seq_len" in str(exc)
    else:
        raise AssertionError("expected ValueError")
