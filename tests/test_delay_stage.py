"""The delay-pattern coarse stage (MusicGen's codebook pattern) and pinned-prefix windows."""
import json

import numpy as np
import pytest
import torch

from audiolm import AudioLM
from audiolm.bundle import BundleConfig
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.sampling import SamplingConfig
from audiolm.stages import STAGES, DelayStage, DelayStageConfig, FlatStage, FlatStageConfig, InterleavedStage, StageSize, \
    layout_class, load_stage, plan_windows, stage_specs
from audiolm.stages import delay as delay_module
from audiolm.streaming import stream_continuation
from audiolm.testing import synthetic_voice
from audiolm.transformer import TransformerConfig

K, L = 16, 3


def delay_stage(window=12, seed=0, d_model=32):
    torch.manual_seed(seed)
    return DelayStage(DelayStageConfig(name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=L,
                                       target_codebook=K, target_rate=50.0, window_frames=window,
                                       transformer=TransformerConfig(d_model=d_model, n_layers=2, n_heads=4,
                                                                     max_seq_len=64))).eval()


def old_plan(known, total, window):
    """plan_windows as it was before pinned prefixes (the reference for keep=0)."""
    while known < total:
        start = max(0, total - window) if total - known <= window - window // 2 else max(0, known - window // 2)
        end = min(total, start + window)
        yield start, end
        known = end


def expected_keep(prefix, window, align=2):
    keep = min(prefix, window // 2)
    return keep - keep % align


# ----- layout -----
def test_registered_and_sized_for_its_role():
    assert STAGES["delay"] is DelayStage and layout_class("delay") is DelayStage
    spec = stage_specs(BundleConfig())["coarse"]
    config = DelayStage.config_for(spec, StageSize(window_frames=300))
    # [BOS] 150 semantic ids [SEP] and 300 + 4 - 1 delayed steps, against 2 + 150 + 4 * 300 flat positions
    assert config.transformer.max_seq_len == 2 + 150 + 300 + 3
    assert FlatStage.config_for(spec, StageSize(window_frames=300)).transformer.max_seq_len == 1352
    stage = DelayStage(DelayStage.config_for(spec, StageSize(d_model=32, n_layers=1, n_heads=2, window_frames=8)))
    assert stage.mismatches(spec) == []
    assert ("target_codebook", 1024, 512) in stage.mismatches(stage_specs(BundleConfig(codebook_size=512))["coarse"])
    with pytest.raises(ValueError, match="max_seq_len"):
        DelayStageConfig(window_frames=100, transformer=TransformerConfig(max_seq_len=64))


def test_delayed_stream_and_logit_shapes():
    stage = delay_stage()
    target = torch.randint(0, K, (2, L, 5))
    D = stage.delayed(target)
    assert D.shape == (2, L, 5 + L - 1)
    for k in range(L):
        for s in range(5 + L - 1):
            want = target[:, k, s - k] if 0 <= s - k < 5 else torch.full((2,), K)
            assert torch.equal(D[:, k, s], want)
    logits = stage(torch.randint(0, 10, (2, 1, 3)), target)
    assert logits.shape == (2, 5 + L - 1, L, K)


def test_causal_in_delayed_order():
    """Changing X[j, t] (fed at delayed step t + j + 1) leaves every logit of steps <= t + j alone."""
    stage = delay_stage()
    cond, target = torch.randint(0, 10, (1, 1, 4)), torch.randint(0, K, (1, L, 8))
    base = stage(cond, target)
    for j, t in [(0, 3), (1, 3), (2, 0), (0, 7)]:
        changed = target.clone()
        changed[0, j, t] = (changed[0, j, t] + 1) % K
        logits = stage(cond, changed)
        step = t + j  # the step that predicts X[j, t]
        assert torch.allclose(logits[:, :step + 1], base[:, :step + 1], atol=1e-6)
        if step + 1 < logits.shape[1]:
            assert not torch.allclose(logits[:, step + 1], base[:, step + 1])
    # level k of frame t sees levels < k of frame t, not levels >= k
    changed = target.clone()
    changed[0, 1, 4] = (changed[0, 1, 4] + 1) % K
    logits = stage(cond, changed)
    assert torch.allclose(logits[0, 4 + 1, 1], base[0, 4 + 1, 1], atol=1e-6)  # X[1, 4] itself
    assert not torch.allclose(logits[0, 4 + 2, 2], base[0, 4 + 2, 2])  # X[2, 4] sees X[1, 4]


def test_loss_is_mean_cross_entropy_of_valid_entries():
    stage = delay_stage()
    cond, target = torch.randint(0, 10, (2, 1, 3)), torch.randint(0, K, (2, L, 6))
    logits = stage(cond, target)
    terms = [torch.nn.functional.cross_entropy(logits[:, t + k, k], target[:, k, t], reduction="none")
             for k in range(L) for t in range(6)]
    assert stage.loss(cond, target).item() == pytest.approx(torch.cat(terms).mean().item(), rel=1e-5)


# ----- sampling -----
def recorded_logits(monkeypatch):
    calls = []
    real = delay_module.sample

    def spy(logits, config, generator=None):
        calls.append(logits.clone())
        return real(logits, config, generator)

    monkeypatch.setattr(delay_module, "sample", spy)
    return calls


@torch.no_grad()
@pytest.mark.parametrize("prefix_frames,total", [(0, 10), (3, 12), (3, 30), (8, 30), (0, 25)])
def test_cached_sampling_equals_full_recomputation(monkeypatch, prefix_frames, total):
    """Every logit the KV-cached sampler draws from equals the full teacher-forced forward's over the window's
    context (the caller's first frames pinned, then the recent ones), rebuilt here from plan_windows."""
    stage, window = delay_stage(window=12), 12
    cond = torch.randint(0, 10, (2, 1, (total + 1) // 2))
    prefix = torch.randint(0, K, (2, L, prefix_frames))
    calls = recorded_logits(monkeypatch)
    out = stage.generate(cond, prefix, total, SamplingConfig(1.0), torch.Generator().manual_seed(0))
    assert out.shape == (2, L, total) and torch.equal(out[:, :, :prefix_frames], prefix)
    keep = expected_keep(prefix_frames, window)
    expected, known = [], prefix_frames
    for start, end in plan_windows(prefix_frames, total, window, keep, align=2):
        assert start >= keep and keep + end - start <= window and (keep == 0 or (start - keep) % 2 == 0)
        context = torch.cat([out[:, :, :keep], out[:, :, start:end]], 2)
        window_cond = torch.cat([cond[:, :, :keep // 2], cond[:, :, start // 2:(end + 1) // 2]], 2)
        logits = stage(window_cond, context)  # (B, S, L, K)
        first, T = keep + known - start, context.shape[2]
        for s in range(first, T + L - 1):
            expected += [logits[:, s, k] for k in range(L) if first <= s - k < T]
        known = end
    assert len(calls) == len(expected) == (total - prefix_frames) * L
    for got, want in zip(calls, expected):
        assert torch.allclose(got, want, atol=1e-4)


def test_prefix_kept_determinism_and_stream_equals_generate():
    stage = delay_stage(window=8)
    cond, prefix = torch.randint(0, 10, (3, 1, 15)), torch.randint(0, K, (3, L, 5))
    sampling = SamplingConfig(1.0, top_k=8)
    a = stage.generate(cond, prefix, 30, sampling, torch.Generator().manual_seed(1))
    b = stage.generate(cond, prefix, 30, sampling, torch.Generator().manual_seed(1))
    c = stage.generate(cond, prefix, 30, sampling, torch.Generator().manual_seed(2))
    assert a.shape == (3, L, 30) and a.max() < K and torch.equal(a[:, :, :5], prefix)
    assert torch.equal(a, b) and not torch.equal(a, c)
    seen, knowns = [], []
    generator = torch.Generator().manual_seed(1)
    for known, out in stage.stream(cond, prefix, 30, sampling, generator, lambda d, t: seen.append((d, t))):
        knowns.append(known)
        assert torch.equal(out[:, :, :known], a[:, :, :known])  # whatever is final is generate's
    assert knowns == list(range(5, 31)) and torch.equal(out, a)
    assert seen[-1] == (25 * L, 25 * L) and len(seen) == 25
    # the generator advanced exactly as generate's: one draw per generated entry
    reference = torch.Generator().manual_seed(1)
    torch.rand(25 * L * 3, 1, generator=reference)
    assert torch.equal(generator.get_state(), reference.get_state())


def test_greedy_with_no_cond_and_nothing_to_generate():
    torch.manual_seed(0)
    stage = DelayStage(DelayStageConfig(name="semantic", cond_levels=0, cond_codebook=0, target_levels=1,
                                        target_codebook=K, target_rate=25.0, cond_rate=25.0, window_frames=8,
                                        transformer=TransformerConfig(d_model=32, n_layers=1, n_heads=2,
                                                                      max_seq_len=16))).eval()
    out = stage.generate(None, torch.zeros(1, 1, 0, dtype=torch.long), 20, SamplingConfig(temperature=0))
    assert out.shape == (1, 1, 20)
    prefix = torch.randint(0, K, (1, 1, 6))
    assert torch.equal(stage.generate(None, prefix, 4), prefix[:, :, :4])


def test_trains_on_a_deterministic_pattern():
    stage = delay_stage().train()
    t = torch.arange(12)
    target = torch.stack([(t + 3 * k) % K for k in range(L)])[None].repeat(4, 1, 1)  # (4, L, 12)
    target[1:] = (target[1:] + torch.arange(1, 4)[:, None, None]) % K  # four phases
    cond = torch.arange(4)[:, None, None].expand(4, 1, 6)  # the phase, as cond
    opt = torch.optim.Adam(stage.parameters(), 3e-3)
    losses = []
    for _ in range(100):
        loss = stage.loss(cond, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(K), rel=0.2)  # starts at chance
    assert losses[-1] < 0.1 * losses[0]


def test_save_load(tmp_path):
    stage = delay_stage()
    stage.save_pretrained(tmp_path / "s")
    back = load_stage(tmp_path / "s")
    assert type(back) is DelayStage and back.config == stage.config
    cond, target = torch.randint(0, 10, (1, 1, 3)), torch.randint(0, K, (1, L, 6))
    assert torch.equal(stage(cond, target), back(cond, target))


# ----- pinned windows -----
@pytest.mark.parametrize("known,total,window", [(0, 10, 4), (0, 3, 8), (5, 30, 8), (29, 30, 8), (0, 31, 7),
                                                (2, 21, 12), (150, 600, 300), (51, 600, 300), (7, 7, 4)])
def test_keep_zero_is_the_old_plan_cut_to_whole_cond_frames(known, total, window):
    assert list(plan_windows(known, total, window)) == list(old_plan(known, total, window))
    # with a slower cond stream, every window still starts on a whole cond frame (as training's windows do)
    covered = known
    for start, end in plan_windows(known, total, window, 0, 2):
        assert start % 2 == 0 and start <= covered < end and end - start <= window
        covered = end
    assert covered == total


@pytest.mark.parametrize("align", [1, 2])
@pytest.mark.parametrize("prefix,total,window", [(5, 30, 8), (2, 21, 12), (150, 600, 300), (51, 600, 300),
                                                 (3, 40, 10), (300, 900, 300), (9, 10, 8), (1, 50, 6)])
def test_pinned_windows(prefix, total, window, align):
    keep = min(prefix, window // 2)
    keep -= keep % align
    covered = prefix
    for start, end in plan_windows(prefix, total, window, prefix, align):
        # the context, frames [0, keep) then [start, end), holds the prompt's first keep frames and the next unknown one
        assert keep <= start <= covered < end and keep + end - start <= window
        assert (start - keep) % align == 0  # whole cond frames, pinned or not
        covered = end
    assert covered == total


@pytest.mark.parametrize("cls", [FlatStage, InterleavedStage, DelayStage])
def test_generation_past_the_window_keeps_the_prompt_in_context(monkeypatch, cls):
    """A prompt longer than the window: every window's context opens with the prompt's first keep frames
    (and their cond), whatever the layout."""
    torch.manual_seed(0)
    config_class = FlatStageConfig if issubclass(cls, FlatStage) else DelayStageConfig
    stage = cls(config_class(name="coarse", cond_levels=1, cond_codebook=10, target_levels=L, target_codebook=K,
                             window_frames=10, transformer=TransformerConfig(d_model=32, n_layers=1, n_heads=2,
                                                                             max_seq_len=64))).eval()
    cond, prefix = torch.randint(0, 10, (2, 1, 20)), torch.randint(0, K, (2, L, 13))
    conds, targets = [], []  # per window: its cond ids, and its context's level-0 frames
    if issubclass(cls, FlatStage):
        real = stage.flatten
        monkeypatch.setattr(stage, "flatten", lambda c, t: conds.append(c) or targets.append(t[:, 0]) or real(c, t))
    else:
        real_head, real_steps = stage.head_embeddings, stage.step_embeddings
        monkeypatch.setattr(stage, "head_embeddings", lambda c, *a: conds.append(c) or real_head(c, *a))
        # the prefill (the first call of a window, all known steps) feeds D[0, s] = frame s of level 0
        monkeypatch.setattr(stage, "step_embeddings",
                            lambda D, *a: (len(targets) < len(conds) and targets.append(D[:, 0])) or real_steps(D, *a))
    out = stage.generate(cond, prefix, 40, SamplingConfig(1.0), torch.Generator().manual_seed(0))
    assert out.shape == (2, L, 40) and torch.equal(out[:, :, :13], prefix)
    keep = expected_keep(13, 10)
    assert keep == 4 and len(conds) == len(targets) >= 5  # several windows
    for window_cond, frames in zip(conds, targets):
        assert torch.equal(frames[:, :keep], prefix[:, 0, :keep])
        assert torch.equal(window_cond[:, :, :keep // 2], cond[:, :, :keep // 2])
    # and the recent frames follow: the last window's context ends with the frames before the last unknown ones
    assert len(targets[-1][0]) > keep


# ----- the bundle -----
@pytest.fixture(scope="module")
def tiny_delay():
    return random_audiolm(tiny_bundle_config(coarse_layout="delay"), "tiny", seed=0)


def test_bundle_picks_the_coarse_layout(tiny_delay, tmp_path):
    assert isinstance(tiny_delay.coarse_stage, DelayStage) and isinstance(tiny_delay.semantic_stage, FlatStage)
    tiny_delay.save_pretrained(tmp_path / "b")
    back = AudioLM.from_pretrained(tmp_path / "b")
    assert back.config.coarse_layout == "delay" and isinstance(back.coarse_stage, DelayStage)
    # an old config.json, written before the field: loads as the flat layout
    path = tmp_path / "b" / "config.json"
    data = json.loads(path.read_text())
    data.pop("coarse_layout")
    path.write_text(json.dumps(data))
    assert BundleConfig.load(tmp_path / "b").coarse_layout == "autoregressive"
    with pytest.raises(Exception, match="coarse_layout"):  # a delay coarse stage in a flat-layout bundle
        AudioLM.from_pretrained(tmp_path / "b")


def test_pipeline_modes_with_a_delay_coarse_stage(tiny_delay):
    prompt = synthetic_voice(1.2, 16000)
    result = tiny_delay.continuation(prompt, 1.0, num_samples=2, seed=3)  # 60 + 50 frames: past a 48-frame window
    prompt_frames = round(1.2 * 50)
    assert result.acoustic_ids.shape == (2, 4, prompt_frames + 50)
    _, prompt_ids = tiny_delay.tokenize(tiny_delay.aligned(prompt))
    assert torch.equal(result.acoustic_ids[:, :, :prompt_frames], prompt_ids.expand(2, -1, -1))
    again = tiny_delay.continuation(prompt, 1.0, num_samples=2, seed=3)
    assert np.array_equal(result.audio, again.audio)
    wav, voice = synthetic_voice(1.0, 16000, seed=1), synthetic_voice(1.5, 16000, seed=2)
    plain = tiny_delay.acoustic_generation(wav, seed=0)
    voiced = tiny_delay.acoustic_generation(wav, voice=voice, seed=0)
    for r in (plain, voiced):
        assert r.acoustic_ids.shape == (1, 4, 50) and r.audio.shape == (1, 16000)
    assert not torch.equal(plain.acoustic_ids, voiced.acoustic_ids)


def test_streaming_with_a_delay_coarse_stage(tiny_delay):
    prompt = synthetic_voice(1.0, 16000)
    stream = stream_continuation(tiny_delay, prompt, 2.0, num_samples=2, seed=5)
    chunks = list(stream)
    whole = tiny_delay.continuation(prompt, 2.0, num_samples=2, seed=5)
    assert len(chunks) >= 2 and torch.equal(stream.result.acoustic_ids, whole.acoustic_ids)
    assert np.abs(np.concatenate(chunks, 1) - whole.audio).max() <= 1e-4


def test_trains_on_role_batches():
    """The training loop's batches (semantic ids under a window of codec frames, its first levels) fit the stage."""
    from audiolm.training.stages import role_batch

    bundle = tiny_bundle_config(coarse_layout="delay")
    spec = stage_specs(bundle)["coarse"]
    stage = DelayStage(DelayStage.config_for(spec, StageSize(d_model=32, n_layers=1, n_heads=2, window_frames=16)))
    g = torch.Generator().manual_seed(0)
    semantic = [torch.randint(0, 32, (1, 20), generator=g), torch.randint(0, 32, (1, 7), generator=g)]
    acoustic = [torch.randint(0, 64, (4, 40), generator=g), torch.randint(0, 64, (4, 14), generator=g)]
    cond, target = role_batch(spec, semantic, acoustic, 16, 3, g)
    assert cond.shape == (3, 1, 8) and target.shape == (3, 2, 16)
    loss = stage.loss(cond, target, g)
    loss.backward()
    assert loss.item() == pytest.approx(np.log(64), rel=0.2)


def test_role_windows_cut_each_role_as_training_does():
    """One window per role: the semantic ids; the semantic ids under the codec frames (start rounded down to a
    whole semantic frame) and the first levels; the first levels and the rest. The training batches are such
    windows (the held-out CE benchmark cuts the same ones back to back)."""
    from audiolm.training.stages import role_batch, role_window

    bundle = tiny_bundle_config()  # 4 levels, Q' = 2, 2 codec frames per semantic id
    specs = stage_specs(bundle)
    g = torch.Generator().manual_seed(0)
    semantic = [torch.randint(0, 32, (1, 20), generator=g), torch.randint(0, 32, (1, 9), generator=g)]
    acoustic = [torch.randint(0, 64, (4, 40), generator=g), torch.randint(0, 64, (4, 18), generator=g)]
    _, sem = role_window(specs["semantic"], semantic, acoustic, 0, 5, 8)
    assert torch.equal(sem, semantic[0][:, 5:13])
    cond, target = role_window(specs["coarse"], semantic, acoustic, 0, 7, 10)  # 7 -> 6, semantic frames 3..8
    assert torch.equal(target, acoustic[0][:2, 6:16]) and torch.equal(cond, semantic[0][:, 3:8])
    cond, target = role_window(specs["fine"], semantic, acoustic, 1, 3, 6)
    assert torch.equal(cond, acoustic[1][:2, 3:9]) and torch.equal(target, acoustic[1][2:, 3:9])
    cond, target = role_window(specs["coarse"], semantic, acoustic, 1, 10, 12)  # past the end: last frame repeated
    assert target.shape == (2, 12) and torch.equal(target[:, 8:], acoustic[1][:2, -1:].expand(2, 4))
    semantic, acoustic = [semantic[0][:, :0], *semantic], [acoustic[0][:, :0], *acoustic]  # an empty stream first
    for role, spec in specs.items():
        cond, target = role_batch(spec, semantic, acoustic, 8, 5, g)
        streams = semantic if role == "semantic" else acoustic
        for b in range(5):  # each row is the window of some (stream, start): cond and target from the same stream
            assert any(torch.equal(target[b], role_window(spec, semantic, acoustic, i, s, 8)[1])
                       and (cond is None or torch.equal(cond[b], role_window(spec, semantic, acoustic, i, s, 8)[0]))
                       for i in range(3) for s in range(streams[i].shape[1])), (role, b)


def test_aligned_cond_hands_each_step_its_content():
    """A copy task (level 0 of frame t is the cond id under it, 2 target frames per cond frame): with the cond
    added where it lines up, a one-layer stage learns it in a few dozen steps; from the prefix alone it has
    to learn the 2:1 alignment through attention and is still far off."""
    def trained_loss(aligned: bool) -> float:
        torch.manual_seed(0)
        stage = DelayStage(DelayStageConfig(
            name="coarse", cond_levels=1, cond_codebook=K, target_levels=1, target_codebook=K, window_frames=48,
            aligned_cond=aligned, transformer=TransformerConfig(d_model=32, n_layers=1, n_heads=2, max_seq_len=96)))
        opt = torch.optim.Adam(stage.parameters(), 3e-3)
        generator = torch.Generator().manual_seed(0)
        for _ in range(60):  # measured: 0.15 aligned, 1.41 from the prefix alone (chance 2.77)
            cond = torch.randint(0, K, (16, 1, 24), generator=generator)
            loss = stage.loss(cond, cond.repeat_interleave(2, 2))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    aligned, prefix_only = trained_loss(True), trained_loss(False)
    assert aligned < 0.3 * prefix_only, (aligned, prefix_only)


def test_input_noise_corrupts_the_inputs_only_and_only_in_training(monkeypatch):
    """``input_noise`` replaces a fraction of the ids the stage *reads* (drawn from the training generator);
    the loss is still against the true ids, and an eval-mode stage reads them clean."""
    stage = delay_stage()
    stage.config.input_noise = 0.3
    g = torch.Generator().manual_seed(1)
    cond, target = torch.randint(0, 10, (4, 1, 6), generator=g), torch.randint(0, K, (4, L, 12), generator=g)
    seen = []
    forward = DelayStage.forward
    monkeypatch.setattr(DelayStage, "forward", lambda self, c, t: seen.append(t) or forward(self, c, t))
    clean = stage.loss(cond, target, torch.Generator().manual_seed(0))  # eval mode: no noise
    assert torch.equal(seen[-1], target)
    stage.train()
    noisy = stage.loss(cond, target, torch.Generator().manual_seed(0))
    noisy_inputs = seen[-1]
    assert 0.15 < (noisy_inputs != target).float().mean().item() < 0.4  # 30 % replaced, 1/16 by the same id
    again = stage.loss(cond, target, torch.Generator().manual_seed(0))  # the same generator: the same noise
    assert torch.equal(seen[-1], noisy_inputs) and again.item() == noisy.item() != clean.item()
    # the targets are the true ids: the loss equals a clean forward over the noisy inputs scored against them
    logits = forward(stage, cond, noisy_inputs)
    D = stage.delayed(target)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, K), D.transpose(1, 2).reshape(-1),
                                                 ignore_index=stage.config.pad)
    assert noisy.item() == pytest.approx(expected.item(), rel=1e-5)
