import pytest
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


def test_prefill_then_steps_equals_full_sequence_and_a_bfloat16_cache_stays_close():
    """``DecoderLM.prefill`` fills the cache as a forward would; with a bfloat16 cache (``AUDIOLM_DECODING_DTYPE``)
    the next logits move by rounding only."""
    lm = tiny_lm()
    ids = torch.randint(0, 50, (2, 40))
    full = lm(ids)[:, 30:]
    for dtype, tolerance in ((None, 1e-5), (torch.bfloat16, 0.02)):
        cache = lm.body.new_cache(2, dtype=dtype)
        lm.prefill(ids[:, :30], cache)
        assert cache.length == 30 and cache.keys[0].dtype == (dtype or torch.float32)
        steps = torch.cat([lm(ids[:, t:t + 1], cache) for t in range(30, 40)], 1)
        assert steps.dtype == torch.float32
        assert (steps - full).abs().max() <= tolerance * full.abs().max()


def test_decoding_dtype_is_float32_unless_asked(monkeypatch):
    from audiolm.transformer import decoding_dtype

    monkeypatch.delenv("AUDIOLM_DECODING_DTYPE", raising=False)
    assert decoding_dtype() is None
    monkeypatch.setenv("AUDIOLM_DECODING_DTYPE", "bfloat16")
    assert decoding_dtype() == torch.bfloat16
    monkeypatch.setenv("AUDIOLM_DECODING_DTYPE", "float16")
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        decoding_dtype()


def test_sampling_steps_on_prepacked_weights_equal_the_full_sequence(monkeypatch):
    """Without gradients the cache runs the linear layers of two sequences or more on oneDNN-prepacked weights
    (``KVCache.linear``): the same logits as a plain forward, each weight packed once for the whole generation;
    one sequence, small weights, ``AUDIOLM_LINEAR_KERNEL=aten`` and anything that needs gradients stay on
    ``F.linear``."""
    import audiolm.transformer as transformer

    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN")
    lm = tiny_lm()
    ids = torch.randint(0, 50, (2, 30))
    full = lm(ids)
    monkeypatch.setenv("AUDIOLM_LINEAR_KERNEL", "onednn")
    with torch.inference_mode():  # the tiny model's weights are below the size oneDNN is worth it for
        cache = lm.body.new_cache(2)
        lm.prefill(ids[:, :20], cache)
    assert cache.packed == {}
    monkeypatch.setattr(transformer, "ONEDNN_MIN_WEIGHT", 1)
    with torch.inference_mode():
        cache = lm.body.new_cache(2)
        lm.prefill(ids[:, :20], cache)
        steps = torch.cat([lm.logits(lm.hidden(ids[:, t:t + 1], cache), (0, 50), cache) for t in range(20, 30)], 1)
    assert torch.allclose(steps, full[:, 20:], atol=1e-5)
    # 4 weights per block, and the head's slice (0, 50)
    assert len(cache.packed) == 4 * len(lm.body.blocks) + 1

    with torch.inference_mode():  # one sequence: MKL's products, for its prefill and its steps alike
        cache = lm.body.new_cache(1)
        lm.prefill(ids[:1, :20], cache)
        step = lm.logits(lm.hidden(ids[:1, 20:22], cache), (0, 50), cache)
    assert torch.allclose(step, full[:1, 20:22], atol=1e-5) and cache.packed == {}

    cache = lm.body.new_cache(2)
    loss = lm(ids, cache).sum()  # gradients wanted: nothing packed, and they reach the weights
    loss.backward()
    assert cache.packed == {} and lm.head.weight.grad is not None

    monkeypatch.setenv("AUDIOLM_LINEAR_KERNEL", "aten")
    assert lm.body.new_cache(2).packed is None
    monkeypatch.setenv("AUDIOLM_LINEAR_KERNEL", "mkl")
    with pytest.raises(ValueError, match="auto, onednn or aten"):
        lm.body.new_cache(2)


def test_the_automatic_linear_kernel_is_onednn_on_amd_cpus_only(monkeypatch, tmp_path):
    import audiolm.transformer as transformer

    real_vendor = transformer.cpu_vendor
    monkeypatch.delenv("AUDIOLM_LINEAR_KERNEL", raising=False)
    for vendor, kernel in (("AuthenticAMD", "onednn"), ("GenuineIntel", "aten"), ("", "aten")):
        monkeypatch.setattr(transformer, "cpu_vendor", lambda vendor=vendor: vendor)
        assert transformer.linear_kernel() == kernel
    monkeypatch.setenv("AUDIOLM_LINEAR_KERNEL", "onednn")
    assert transformer.linear_kernel() == "onednn"
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    assert real_vendor(str(info)) == "AuthenticAMD"
    assert real_vendor(str(tmp_path / "missing")) == ""


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_grouped_query_attention_caches_fewer_heads_and_decodes_as_the_full_sequence(kv_heads):
    torch.manual_seed(0)
    lm = DecoderLM(50, TransformerConfig(d_model=32, n_layers=2, n_heads=4, n_kv_heads=kv_heads, max_seq_len=64)).eval()
    assert lm.body.blocks[0].attn.qkv.weight.shape == (32 + 2 * kv_heads * 8, 32)
    ids = torch.randint(0, 50, (2, 21))
    full = lm(ids)
    cache = lm.body.new_cache(2)
    assert cache.keys[0].shape == (2, kv_heads, 64, 8)
    steps = [lm(ids[:, :9], cache)] + [lm(ids[:, t:t + 1], cache) for t in range(9, 21)]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    changed = ids.clone()
    changed[:, 15:] = (changed[:, 15:] + 1) % 50
    assert torch.allclose(lm(changed)[:, :15], full[:, :15], atol=1e-6)  # causal


def test_warm_start_pools_the_saved_key_and_value_heads_into_groups(tmp_path):
    """A grouped-query model warm-started from a multi-head one starts with each group's keys and values averaged
    (Ainslie et al., 2023): where the saved heads of a group were equal, it computes exactly what the saved model
    did; otherwise it differs."""
    from audiolm.stages.base import StageSize, StageSpec
    from audiolm.stages.flat import FlatStage
    from audiolm.training.loop import warm_start

    spec = StageSpec(name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=2,
                     target_codebook=16, target_rate=50.0, first_target_level=0)
    torch.manual_seed(0)
    full = FlatStage(FlatStage.config_for(spec, StageSize(d_model=32, n_layers=2, n_heads=4, window_frames=12)))
    grouped = FlatStage(FlatStage.config_for(spec, StageSize(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                                            window_frames=12)))
    with torch.no_grad():  # heads 0 = 1 and 2 = 3 in keys and values: pooling them loses nothing
        for block in full.lm.body.blocks:
            w = block.attn.qkv.weight.view(3, 4, 8, 32)
            w[1:, 1], w[1:, 3] = w[1:, 0], w[1:, 2]
    full.save_pretrained(tmp_path / "full")
    assert warm_start(grouped, tmp_path / "full")["lm.body.blocks.0.attn.qkv.weight"] == "whole"
    cond, target = torch.randint(0, 10, (3, 1, 6)), torch.randint(0, 16, (3, 2, 12))
    full.eval(), grouped.eval()
    with torch.no_grad():
        assert grouped.loss(cond, target).item() == pytest.approx(full.loss(cond, target).item(), abs=1e-5)
        for block in full.lm.body.blocks:  # heads that differ: the pooled model is another one
            block.attn.qkv.weight.view(3, 4, 8, 32)[1:, 1] += torch.randn(2, 8, 32)
        full.save_pretrained(tmp_path / "other")
        warm_start(grouped, tmp_path / "other")
        assert abs(grouped.loss(cond, target).item() - full.loss(cond, target).item()) > 1e-4


def test_the_model_card_names_a_stages_key_value_heads():
    from types import SimpleNamespace

    from audiolm.pipeline import GenerationSettings
    from audiolm.training.model_card import model_card
    from audiolm.training.recipes import RECIPES

    part, coarse = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    coarse.config = SimpleNamespace(transformer=TransformerConfig(d_model=8, n_heads=4, n_kv_heads=2))
    model = SimpleNamespace(codec=part, semantic_tokenizer=part, semantic_stage=part, coarse_stage=coarse,
                            fine_stage=part, default_settings=GenerationSettings())
    card = model_card(RECIPES["speech-mixed"](), model, {}, None)
    row = next(line for line in card.splitlines() if line.startswith("| coarse stage"))
    assert "grouped-query attention (2 key/value heads for 4 query heads)" in row
    coarse.config = SimpleNamespace(transformer=TransformerConfig(d_model=8, n_heads=4))
    assert "key/value" not in model_card(RECIPES["speech-mixed"](), model, {}, None)
