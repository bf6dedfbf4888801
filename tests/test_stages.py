import pytest
import torch

from audiolm.sampling import SamplingConfig
from audiolm.stages import FlatStage, FlatStageConfig, ParallelFineConfig, ParallelFineStage, load_stage, plan_windows
from audiolm.transformer import TransformerConfig

GREEDY = SamplingConfig(temperature=0)


def coarse_stage(window=12, seed=0):
    torch.manual_seed(seed)
    return FlatStage(FlatStageConfig(name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=3,
                                     target_codebook=16, target_rate=50.0, window_frames=window,
                                     transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=64))).eval()


def fine_stage(window=8):
    torch.manual_seed(0)
    return ParallelFineStage(ParallelFineConfig(
        name="fine", num_levels=5, first_level=2, codebook=16, window_frames=window,
        transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=16, causal=False))).eval()


def test_flatten_layout_and_round_trip():
    stage = coarse_stage()
    cond = torch.randint(0, 10, (2, 1, 4))
    target = torch.randint(0, 16, (2, 3, 7))
    ids = stage.flatten(cond, target)
    c = stage.config
    assert ids.shape == (2, 2 + 4 + 21)
    assert (ids[:, 0] == c.bos).all() and (ids[:, 5] == c.sep).all()
    assert torch.equal(ids[:, 1:5], cond[:, 0])  # semantic ids at offset 0
    flat_target = ids[:, 6:]
    levels = torch.arange(21) % 3  # frame-major: level cycles fastest
    for level in range(3):  # each level sits in its own vocabulary range
        part = flat_target[:, levels == level]
        lo = c.target_offset + level * 16
        assert part.min() >= lo and part.max() < lo + 16
    assert torch.equal(flat_target.view(2, 7, 3).transpose(1, 2) - stage.target_offsets[:, None], target)


def test_flatten_rejects_out_of_range_ids():
    stage = coarse_stage()
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        stage.flatten(None, torch.full((1, 3, 2), 16))
    with pytest.raises(ValueError, match=r"\(B, 3, T\)"):
        stage.flatten(None, torch.zeros(1, 2, 2, dtype=torch.long))


def test_config_refuses_windows_longer_than_context():
    with pytest.raises(ValueError, match="max_seq_len"):
        FlatStageConfig(name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=3, target_codebook=16,
                        target_rate=50.0, window_frames=100,
                        transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=64))


@pytest.mark.parametrize("known,total,window", [(0, 10, 4), (0, 3, 8), (5, 30, 8), (29, 30, 8), (0, 31, 7)])
def test_windows_cover_everything_within_context(known, total, window):
    spans = list(plan_windows(known, total, window))
    covered = known
    for start, end in spans:
        assert end - start <= window and start <= covered < end
        covered = end
    assert covered == total


def reference_generate(stage, cond, prefix, total):
    """Greedy generation that recomputes the whole window for every token (no KV cache). Each window's
    context is the prompt's first ``keep`` frames (whole cond frames: 2 target frames each), then the
    recent frames ``[start, end)``."""
    c = stage.config
    out = prefix
    keep = min(prefix.shape[2], c.window_frames // 2) // 2 * 2
    for start, end in plan_windows(prefix.shape[2], total, c.window_frames, keep, align=2):
        lo_cond, hi_cond = c.cond_span(start, end)
        window_cond = torch.cat([cond[:, :, :keep // 2], cond[:, :, lo_cond:hi_cond]], 2)
        for _ in range(out.shape[2], end):
            ids = stage.flatten(window_cond, torch.cat([out[:, :, :keep], out[:, :, start:]], 2))
            frame = []
            for level in range(c.target_levels):
                lo = c.target_offset + level * c.target_codebook
                token = stage.lm(ids)[:, -1, lo:lo + c.target_codebook].argmax(-1)
                frame.append(token)
                ids = torch.cat([ids, (token + lo)[:, None]], 1)
            out = torch.cat([out, torch.stack(frame, 1)[:, :, None]], 2)
    return out


@torch.no_grad()
@pytest.mark.parametrize("total,known", [(12, 2), (21, 2), (21, 5), (30, 8)])  # one window, then several
def test_cached_generation_equals_uncached(total, known):
    stage = coarse_stage(window=12)
    cond = torch.randint(0, 10, (2, 1, 15))
    prefix = torch.randint(0, 16, (2, 3, known))
    fast = stage.generate(cond, prefix, total, GREEDY)
    slow = reference_generate(stage, cond, prefix, total)
    assert fast.shape == (2, 3, total)
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :, :known], prefix)


def test_generation_beyond_one_window_and_determinism():
    stage = coarse_stage(window=8)
    cond = torch.randint(0, 10, (3, 1, 15))
    empty = torch.zeros(3, 3, 0, dtype=torch.long)
    a = stage.generate(cond, empty, 30, SamplingConfig(1.0), torch.Generator().manual_seed(1))
    b = stage.generate(cond, empty, 30, SamplingConfig(1.0), torch.Generator().manual_seed(1))
    c = stage.generate(cond, empty, 30, SamplingConfig(1.0), torch.Generator().manual_seed(2))
    assert a.shape == (3, 3, 30) and a.max() < 16
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_flat_loss_trains():
    stage = coarse_stage().train()
    cond, target = torch.randint(0, 10, (4, 1, 5)), torch.randint(0, 16, (4, 3, 10))
    opt = torch.optim.Adam(stage.parameters(), 3e-3)
    first = None
    for _ in range(40):
        loss = stage.loss(cond, target)
        first = first or loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first == pytest.approx(torch.log(torch.tensor(16.0)).item(), rel=0.2)  # starts at chance
    assert loss.item() < 0.5 * first


def test_parallel_fine_keeps_coarse_and_prefix():
    stage = fine_stage(window=8)
    coarse = torch.randint(0, 16, (2, 2, 20))
    prefix = torch.randint(0, 16, (2, 3, 5))
    fine = stage.generate(coarse, prefix, 20, SamplingConfig(1.0), torch.Generator().manual_seed(0))
    assert fine.shape == (2, 3, 20) and fine.max() < 16
    assert torch.equal(fine[:, :, :5], prefix)


def test_parallel_fine_sees_only_lower_levels():
    stage = fine_stage()
    codes = torch.randint(0, 16, (1, 5, 8))
    changed = codes.clone()
    changed[:, 3:] = (changed[:, 3:] + 1) % 16  # levels >= 3 differ
    level = torch.tensor([3])
    assert torch.allclose(stage.logits(codes, level), stage.logits(changed, level), atol=1e-6)
    assert not torch.allclose(stage.logits(codes, torch.tensor([4])), stage.logits(changed, torch.tensor([4])))


def test_parallel_fine_loss_trains():
    stage = fine_stage().train()
    codes = torch.randint(0, 16, (4, 5, 8))
    opt = torch.optim.Adam(stage.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(80):
        loss = stage.loss(codes[:, :2], codes[:, 2:], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


@pytest.mark.parametrize("make", [coarse_stage, fine_stage])
def test_save_load_gives_identical_logits(tmp_path, make):
    stage = make()
    stage.save_pretrained(tmp_path / "s")
    back = load_stage(tmp_path / "s")
    assert type(back) is type(stage) and back.config == stage.config
    if isinstance(stage, FlatStage):
        ids = stage.flatten(torch.randint(0, 10, (1, 1, 3)), torch.randint(0, 16, (1, 3, 4)))
        assert torch.equal(stage.lm(ids), back.lm(ids))
    else:
        codes = torch.randint(0, 16, (1, 5, 8))
        assert torch.equal(stage.logits(codes, torch.tensor([3])), back.logits(codes, torch.tensor([3])))
