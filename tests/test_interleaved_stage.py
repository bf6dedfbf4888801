"""The interleaved layout: each cond frame just before the target frames it covers."""
import numpy as np
import pytest
import torch

from audiolm import AudioLM
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.sampling import SamplingConfig
from audiolm.stages import FlatStageConfig, InterleavedStage, layout_class, load_stage, plan_windows
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from audiolm.transformer import TransformerConfig

GREEDY = SamplingConfig(temperature=0)


def stage(window=12, seed=0, dropout=0.0, d_model=32):
    torch.manual_seed(seed)
    return InterleavedStage(FlatStageConfig(
        name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=3, target_codebook=16,
        target_rate=50.0, window_frames=window, cond_dropout=dropout,
        transformer=TransformerConfig(d_model=d_model, n_layers=2, n_heads=4, max_seq_len=64))).eval()


def test_registered_as_a_layout_with_the_flat_window_length():
    assert layout_class("interleaved") is InterleavedStage
    s = stage()
    ids = s.flatten(torch.randint(0, 10, (1, 1, 6)), torch.randint(0, 16, (1, 3, 12)))
    assert ids.shape[1] == s.config.window_tokens()  # same positions as the flat layout: warm starts fit


def test_each_cond_frame_sits_before_the_target_frames_it_covers():
    s, c = stage(), stage().config
    cond = torch.randint(0, 10, (2, 1, 4))
    target = torch.randint(0, 16, (2, 3, 7))  # 7 frames: the last cond frame covers one
    ids = s.flatten(cond, target)
    assert ids.shape == (2, 2 + 4 + 21)
    assert (ids[:, 0] == c.bos).all() and (ids[:, 1] == c.sep).all()
    assert torch.equal(ids[:, [2, 9, 16, 23]], cond[:, 0])  # c0 t0 t1 c1 t2 t3 ...: a group is 1 + 2 * 3
    positions = s.target_positions(7)
    assert torch.equal(ids[:, positions].permute(0, 2, 1) - s.target_offsets[:, None], target)
    assert sorted(positions.flatten().tolist() + [0, 1, 2, 9, 16, 23]) == list(range(27))
    with pytest.raises(ValueError, match="cover"):
        s.flatten(cond[:, :, :3], target)


@torch.no_grad()
def test_a_frame_sees_its_own_cond_frame_and_no_later_one():
    s = stage()
    cond, target = torch.randint(0, 10, (1, 1, 4)), torch.randint(0, 16, (1, 3, 8))
    logits = lambda cond: s.lm(s.flatten(cond, target))  # noqa: E731
    before = logits(cond)
    changed = cond.clone()
    changed[0, 0, 2] = (changed[0, 0, 2] + 1) % 10  # cond frame 2 covers target frames 4 and 5
    after = logits(changed)
    predicts = s.target_positions(8) - 1  # the position whose logits give each target token
    same = torch.isclose(before[0, predicts], after[0, predicts], atol=1e-5).all(-1)  # (frames, levels)
    assert same[:4].all() and not same[4:].any()


def reference_generate(s, cond, prefix, total, weight=1.0, pick=None):
    """Greedy generation recomputing the whole window for every token (no KV cache): the next token's
    position is found by flattening the context with a placeholder frame. ``pick(ids, level, offset, first)``,
    where given, chooses each token instead: ``ids`` the context before it, ``first`` the first window's cond
    and known frames."""
    c = s.config
    out, first = prefix, None
    keep = min(prefix.shape[2], c.window_frames // 2) // 2 * 2
    for start, end in plan_windows(prefix.shape[2], total, c.window_frames, keep, align=2):
        lo, hi = c.cond_span(start, end)
        window_cond = torch.cat([cond[:, :, :keep // 2], cond[:, :, lo:hi]], 2)
        first = first or (window_cond, torch.cat([out[:, :, :keep], out[:, :, start:]], 2))
        for _ in range(out.shape[2], end):
            frame = torch.zeros(out.shape[0], c.target_levels, 1, dtype=torch.long)
            context = torch.cat([out[:, :, :keep], out[:, :, start:], frame], 2)
            for level in range(c.target_levels):
                context[:, :, -1] = frame[:, :, 0]
                ids = s.flatten(window_cond, context)
                ids = ids[:, :s.target_positions(context.shape[2])[-1, level]]
                offset = c.target_offset + level * c.target_codebook
                if pick is not None:
                    frame[:, level, 0] = pick(ids, level, offset, first)
                    continue
                scores = s.lm(ids)[:, -1, offset:offset + c.target_codebook]
                if weight != 1:
                    null = s.lm(s.null_cond(ids))[:, -1, offset:offset + c.target_codebook]
                    scores = null + weight * (scores - null)
                frame[:, level, 0] = scores.argmax(-1)
            out = torch.cat([out, frame], 2)
    return out


@torch.no_grad()
@pytest.mark.parametrize("total,known", [(12, 2), (12, 3), (21, 0), (21, 5), (30, 8)])  # one window, then several
def test_cached_generation_equals_uncached(total, known):
    s = stage(window=12)
    cond = torch.randint(0, 10, (2, 1, 15))
    prefix = torch.randint(0, 16, (2, 3, known))
    fast = s.generate(cond, prefix, total, GREEDY)
    assert fast.shape == (2, 3, total) and torch.equal(fast[:, :, :known], prefix)
    assert torch.equal(fast, reference_generate(s, cond, prefix, total))


@torch.no_grad()
def test_later_windows_feed_only_what_follows_the_pinned_prefix(monkeypatch):
    """A window starts with the pinned prefix its predecessor started with: those positions stay in the KV
    cache and only the rest is fed again, with the same tokens as recomputing every window."""
    s = stage(window=12)
    cond, prefix = torch.randint(0, 10, (2, 1, 15)), torch.randint(0, 16, (2, 3, 6))
    fed, prefill = [], s.lm.prefill
    monkeypatch.setattr(s.lm, "prefill", lambda ids, cache: (fed.append(cache.length), prefill(ids, cache))[1])
    out = s.generate(cond, prefix, 30, GREEDY)
    pinned_positions = 2 + 3 * (1 + 2 * 3)  # BOS, SEP, then 3 cond frames with their 6 target frames
    assert len(fed) >= 3 and fed[0] == 0 and all(start >= pinned_positions for start in fed[1:])
    assert torch.equal(out, reference_generate(s, cond, prefix, 30))


def recorded_caches(monkeypatch, s) -> list:
    """The KV caches stage ``s`` makes from now on, listed as it makes them."""
    caches, new_cache = [], s.lm.body.new_cache

    def recorded(*args, **kwargs):
        caches.append(new_cache(*args, **kwargs))
        return caches[-1]

    monkeypatch.setattr(s.lm.body, "new_cache", recorded)
    return caches


@torch.no_grad()
def test_sampling_with_a_bfloat16_kv_cache_when_asked(monkeypatch):
    monkeypatch.setenv("AUDIOLM_DECODING_DTYPE", "bfloat16")
    s = stage(window=12, dropout=0.1)
    caches = recorded_caches(monkeypatch, s)
    cond, prefix = torch.randint(0, 10, (2, 1, 15)), torch.randint(0, 16, (2, 3, 3))
    sampling = SamplingConfig(temperature=1.0, guidance=3.0)
    a, b = (s.generate(cond, prefix, 20, sampling, torch.Generator().manual_seed(0)) for _ in range(2))
    assert caches and {cache.keys[0].dtype for cache in caches} == {torch.bfloat16}
    assert a.shape == (2, 3, 20) and torch.equal(a[:, :, :3], prefix) and torch.equal(a, b)


@torch.no_grad()
@pytest.mark.parametrize("onednn", [False, True])
def test_guided_generation_equals_uncached_guidance(onednn, monkeypatch):
    """Also with every product of the guided batch on oneDNN-prepacked weights (``KVCache.linear``; the tiny
    stage's weights are below the size it takes them from otherwise)."""
    import audiolm.transformer as transformer

    if onednn:
        if not torch.backends.mkldnn.is_available():
            pytest.skip("this torch has no oneDNN")
        monkeypatch.setenv("AUDIOLM_LINEAR_KERNEL", "onednn")
        monkeypatch.setattr(transformer, "ONEDNN_MIN_WEIGHT", 1)
    s = stage(window=12, dropout=0.1)
    caches = recorded_caches(monkeypatch, s)
    cond, prefix = torch.randint(0, 10, (2, 1, 15)), torch.randint(0, 16, (2, 3, 3))
    guided = SamplingConfig(temperature=0, guidance=3.0)
    assert torch.equal(s.generate(cond, prefix, 20, guided), reference_generate(s, cond, prefix, 20, weight=3.0))
    assert caches and all(bool(cache.packed) == onednn for cache in caches)
    ids = s.flatten(cond[:, :, :4], prefix[:, :, :3].repeat(1, 1, 2)[:, :, :6])
    null = s.null_cond(ids, torch.tensor([True, False]))
    assert (null[0, [2, 9, 16]] == s.config.bos).all() and torch.equal(null[1], ids[1])
    assert torch.equal(null[0, s.target_positions(6)], ids[0, s.target_positions(6)])


def test_learns_to_play_its_cond_when_free_running():
    """Every target frame repeats its cond frame's id on all levels: after training, greedy generation from
    new cond sequences plays them back."""
    s = stage(window=12, d_model=48).train()
    opt = torch.optim.Adam(s.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(0)

    def batch(n):
        cond = torch.randint(0, 10, (n, 1, 6), generator=generator)
        return cond, cond.repeat_interleave(2, 2).repeat(1, 3, 1)

    first = None
    for _ in range(150):
        loss = s.loss(*batch(16), generator)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first == pytest.approx(torch.log(torch.tensor(16.0)).item(), rel=0.2)  # starts at chance
    cond, expected = batch(4)
    out = s.eval().generate(cond, expected[:, :, :0], 12, GREEDY)
    assert (out == expected).float().mean() > 0.95


def test_save_load_gives_identical_logits(tmp_path):
    s = stage()
    s.save_pretrained(tmp_path)
    again = load_stage(tmp_path)
    assert type(again) is InterleavedStage
    ids = s.flatten(torch.randint(0, 10, (1, 1, 3)), torch.randint(0, 16, (1, 3, 6)))
    with torch.no_grad():
        assert torch.equal(s.lm(ids), again.lm(ids))


@pytest.fixture(scope="module")
def tiny_interleaved():
    return random_audiolm(tiny_bundle_config(coarse_layout="interleaved"), "tiny", seed=0)


def test_bundle_modes_and_streaming_with_an_interleaved_coarse_stage(tiny_interleaved, tmp_path):
    model = tiny_interleaved
    assert type(model.coarse_stage) is InterleavedStage and type(model.semantic_stage) is not InterleavedStage
    model.save_pretrained(tmp_path / "b")
    back = AudioLM.from_pretrained(tmp_path / "b")
    assert back.config.coarse_layout == "interleaved" and type(back.coarse_stage) is InterleavedStage
    prompt = synthetic_voice(1.2, 16000)
    result = model.continuation(prompt, 1.0, num_samples=2, seed=3)  # 60 + 50 frames: past a 48-frame window
    _, prompt_ids = model.tokenize(model.aligned(prompt))
    assert result.acoustic_ids.shape == (2, 4, 110)
    assert torch.equal(result.acoustic_ids[:, :, :60], prompt_ids.expand(2, -1, -1))
    wav, voice = synthetic_voice(1.0, 16000, seed=1), synthetic_voice(1.5, 16000, seed=2)
    plain, voiced = model.acoustic_generation(wav, seed=0), model.acoustic_generation(wav, voice=voice, seed=0)
    assert plain.acoustic_ids.shape == voiced.acoustic_ids.shape == (1, 4, 50)
    stream = stream_continuation(model, prompt, 2.0, num_samples=2, seed=5)
    chunks = list(stream)
    whole = model.continuation(prompt, 2.0, num_samples=2, seed=5)
    assert len(chunks) >= 2 and torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-4
