"""Warm starts across a change of semantic tokenizer (``audiolm.training.remap``): a stage whose id rows are
remapped reads the new ids as it read the old ones."""
import pytest
import torch

from audiolm.stages import FlatStage, FlatStageConfig
from audiolm.stages.delay import DelayStage, DelayStageConfig
from audiolm.training.remap import cooccurrence, remap_rows
from audiolm.transformer import TransformerConfig

V = 12  # semantic vocabulary of the toy stages


def _flat(role: str) -> FlatStage:
    torch.manual_seed(0)
    t = TransformerConfig(d_model=16, n_layers=1, n_heads=2, max_seq_len=64)
    if role == "semantic":
        return FlatStage(FlatStageConfig(name="semantic", cond_levels=0, cond_codebook=0, target_levels=1,
                                         target_codebook=V, target_rate=25.0, window_frames=20, transformer=t)).eval()
    return FlatStage(FlatStageConfig(name="coarse", cond_levels=1, cond_codebook=V, cond_rate=25.0, target_levels=2,
                                     target_codebook=8, target_rate=50.0, window_frames=16, transformer=t)).eval()


def _delay() -> DelayStage:
    torch.manual_seed(0)
    return DelayStage(DelayStageConfig(name="coarse", cond_levels=1, cond_codebook=V, cond_rate=25.0, target_levels=2,
                                       target_codebook=8, target_rate=50.0, window_frames=16,
                                       transformer=TransformerConfig(d_model=16, n_layers=1, n_heads=2,
                                                                     max_seq_len=64))).eval()


def _loud(stage):
    """Weights large enough that the loss depends clearly on which id sits where (the init's are tiny)."""
    with torch.no_grad():
        for p in stage.parameters():
            p.normal_(0, 0.3)
    return stage


def _relabelled(stage, stream: str, perm: torch.Tensor):
    """``stage`` remapped for a tokenizer whose ids are ``perm[old id]`` (co-occurrence of every id)."""
    old = torch.arange(V).repeat(3)
    counts = cooccurrence(old, perm[old], V)
    remapped = type(stage)(stage.config).eval()
    remapped.load_state_dict(remap_rows(stage.state_dict(), stage.id_rows(stream), counts))
    return remapped


@pytest.mark.parametrize("make, stream", [(lambda: _flat("coarse"), "cond"), (_delay, "cond"),
                                          (lambda: _flat("semantic"), "target")])
def test_a_relabelled_tokenizer_gives_the_same_loss_after_the_remap(make, stream):
    stage = _loud(make())
    perm = torch.randperm(V, generator=torch.Generator().manual_seed(1))
    remapped = _relabelled(stage, stream, perm)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        if stream == "cond":
            cond, target = torch.randint(0, V, (2, 1, 8), generator=g), torch.randint(0, 8, (2, 2, 16), generator=g)
            before, after = stage.loss(cond, target), remapped.loss(perm[cond], target)
            unmapped = stage.loss(perm[cond], target)
        else:
            target = torch.randint(0, V, (2, 1, 20), generator=g)
            before, after = stage.loss(None, target), remapped.loss(None, perm[target])
            unmapped = stage.loss(None, perm[target])
    assert after == pytest.approx(float(before), abs=1e-5)
    assert abs(float(unmapped) - float(before)) > 1e-3  # the relabelled ids do mean something else without it


def test_each_new_id_takes_the_weighted_mean_of_the_old_rows_it_shares_frames_with():
    old = torch.tensor([0, 0, 0, 1, 2, 2])
    new = torch.tensor([1, 1, 1, 1, 0, 0])  # new 1 = old 0 three times, old 1 once; new 2 never seen
    counts = cooccurrence(old, new, 3)
    table = torch.tensor([[1.0, 0.0], [0.0, 4.0], [5.0, 5.0], [9.0, 9.0]])  # row 0, then ids 0-2 in rows 1-3
    out = remap_rows({"embed": table}, {"embed": [1]}, counts)["embed"]
    assert torch.equal(out[0], table[0])  # a row outside the ids: untouched
    assert torch.allclose(out[1], table[3])  # new 0 <- old 2 only
    assert torch.allclose(out[2], 0.75 * table[1] + 0.25 * table[2])  # new 1 <- old 0 (3 frames), old 1 (1)
    assert torch.equal(out[3], table[3])  # new 2: seen on no frame, keeps its row
    with pytest.raises(ValueError, match="length"):
        cooccurrence(old, new[:-1], 3)
