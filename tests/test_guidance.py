"""Cond dropout (training without the cond) and classifier-free guidance of the flat stage."""
from dataclasses import replace

import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.sampling import SamplingConfig
from audiolm.stages import FlatStage, FlatStageConfig, ParallelFineConfig, ParallelFineStage
from audiolm.stages.base import StageSize, StageSpec
from audiolm.stages.delay import DelayStage
from audiolm.transformer import TransformerConfig

GREEDY = SamplingConfig(temperature=0)


def coarse_stage(cond_dropout=0.3, window=12):
    torch.manual_seed(0)
    return FlatStage(FlatStageConfig(name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=3,
                                     target_codebook=16, target_rate=50.0, window_frames=window,
                                     cond_dropout=cond_dropout,
                                     transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=64))).eval()


def test_null_cond_blanks_the_cond_of_the_chosen_rows_only():
    stage = coarse_stage()
    cond, target = torch.randint(0, 10, (3, 1, 4)), torch.randint(0, 16, (3, 3, 6))
    ids = stage.flatten(cond, target)
    null = stage.null_cond(ids, torch.tensor([True, False, True]))
    assert null.shape == ids.shape
    assert (null[[0, 2], 1:5] == stage.config.bos).all()  # the 4 cond positions
    assert torch.equal(null[1], ids[1]) and torch.equal(null[:, 5:], ids[:, 5:])  # SEP and target untouched
    assert torch.equal(stage.null_cond(ids)[1, 1:5], torch.full((4,), stage.config.bos))


def test_cond_dropout_acts_in_training_only():
    stage = coarse_stage(cond_dropout=0.5)
    cond, target = torch.randint(0, 10, (8, 1, 4)), torch.randint(0, 16, (8, 3, 8))
    plain = replace(stage.config, cond_dropout=0.0)
    reference = FlatStage(plain)
    reference.load_state_dict(stage.state_dict())
    with torch.no_grad():
        assert stage.eval().loss(cond, target) == reference.eval().loss(cond, target)
        stage.train(), reference.train()
        dropped = stage.loss(cond, target, torch.Generator().manual_seed(0))
        assert dropped != reference.loss(cond, target)
        # the same draw of dropped rows, made by hand, gives the same loss
        rows = torch.rand(8, generator=torch.Generator().manual_seed(0)) < 0.5
        ids = stage.null_cond(stage.flatten(cond, target), rows)
        logits = stage.lm(ids[:, :-1])[:, -24:].reshape(8, 8, 3, -1)
        per_level = torch.stack([logits[:, :, i, o:o + 16] for i, o in enumerate(stage.target_offsets.tolist())], 2)
        manual = torch.nn.functional.cross_entropy(per_level.reshape(-1, 16), target.transpose(1, 2).reshape(-1))
        assert dropped == pytest.approx(manual.item(), rel=1e-5)


def guided_reference(stage, cond, total, weight):
    """Greedy guided generation recomputing the whole (single) window for every token: argmax of
    null + w (cond - null) over each level's range."""
    c = stage.config
    out = torch.zeros(cond.shape[0], c.target_levels, 0, dtype=torch.long)
    for _ in range(total):
        ids = stage.flatten(cond, out)
        frame = []
        for level in range(c.target_levels):
            lo = c.target_offset + level * c.target_codebook
            with_cond = stage.lm(ids)[:, -1, lo:lo + c.target_codebook]
            without = stage.lm(stage.null_cond(ids))[:, -1, lo:lo + c.target_codebook]
            token = (without + weight * (with_cond - without)).argmax(-1)
            frame.append(token)
            ids = torch.cat([ids, (token + lo)[:, None]], 1)
        out = torch.cat([out, torch.stack(frame, 1)[:, :, None]], 2)
    return out


@torch.no_grad()
@pytest.mark.parametrize("weight", [0.0, 3.0])
def test_guided_generation_equals_the_guided_logits_recomputed(weight):
    stage = coarse_stage(window=12)
    cond = torch.randint(0, 10, (2, 1, 6))
    empty = torch.zeros(2, 3, 0, dtype=torch.long)
    guided = stage.generate(cond, empty, 12, SamplingConfig(temperature=0, guidance=weight))
    assert torch.equal(guided, guided_reference(stage, cond, 12, weight))
    if weight == 0:  # w = 0 is the stage without its cond: the same for any cond
        other = stage.generate(torch.randint(0, 10, (2, 1, 6)), empty, 12, SamplingConfig(temperature=0, guidance=0))
        assert torch.equal(guided, other)


@torch.no_grad()
def test_guidance_one_is_plain_sampling_and_guidance_draws_one_uniform_per_token():
    stage = coarse_stage(window=8)
    cond = torch.randint(0, 10, (2, 1, 10))
    empty = torch.zeros(2, 3, 0, dtype=torch.long)
    plain = stage.generate(cond, empty, 20, SamplingConfig(0.9), torch.Generator().manual_seed(3))
    one = stage.generate(cond, empty, 20, SamplingConfig(0.9, guidance=1.0), torch.Generator().manual_seed(3))
    assert torch.equal(plain, one)
    generator, copy = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    guided = stage.generate(cond, empty, 20, SamplingConfig(0.9, guidance=2.0), generator)
    assert not torch.equal(guided, plain)
    torch.rand(2 * stage.draws(0, 20, SamplingConfig(0.9)), generator=copy)  # draws per sample, 2 samples
    assert torch.equal(generator.get_state(), copy.get_state())


def test_guidance_needs_a_cond_and_a_stage_trained_without_it():
    empty = torch.zeros(1, 3, 0, dtype=torch.long)
    cond = torch.randint(0, 10, (1, 1, 4))
    guided = SamplingConfig(0, guidance=2.0)
    with pytest.raises(SettingsError, match="cond_dropout"):
        coarse_stage(cond_dropout=0.0).generate(cond, empty, 4, guided)
    with pytest.raises(SettingsError, match="cannot be guided"):
        coarse_stage().generate(None, empty, 4, guided)
    fine = ParallelFineStage(ParallelFineConfig(
        name="fine", num_levels=5, first_level=2, codebook=16, window_frames=8,
        transformer=TransformerConfig(d_model=32, n_layers=1, n_heads=4, max_seq_len=16, causal=False))).eval()
    with pytest.raises(SettingsError, match="parallel layout"):
        fine.generate(torch.randint(0, 16, (1, 2, 8)), torch.zeros(1, 3, 0, dtype=torch.long), 8, guided)
    with pytest.raises(SettingsError, match="guidance"):
        SamplingConfig(guidance=-1)


def test_only_the_flat_layout_trains_with_cond_dropout():
    spec = StageSpec("coarse", 1, 10, 25.0, 3, 16, 50.0, 0)
    size = StageSize(32, 1, 4, 8, cond_dropout=0.2)
    assert FlatStage.config_for(spec, size).cond_dropout == 0.2
    semantic = StageSpec("semantic", 0, 0, 25.0, 1, 10, 25.0, 0)
    assert FlatStage.config_for(semantic, size).cond_dropout == 0  # nothing to drop
    with pytest.raises(ValueError, match="delay layout does not train with cond_dropout"):
        DelayStage.config_for(spec, size)
    with pytest.raises(ValueError, match="cond_dropout must be in"):
        replace(FlatStage.config_for(spec, size), cond_dropout=1.0)
