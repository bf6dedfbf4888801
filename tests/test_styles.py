"""Styles: a global class (the piano's onset rate) read at position 0 of every window of a flat or interleaved stage."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from audiolm.errors import SettingsError
from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import GenerationSettings
from audiolm.sampling import SamplingConfig
from audiolm.stages import FlatStageConfig, InterleavedStage, stage_specs
from audiolm.stages.flat import guided
from audiolm.stages.base import StageSize, check_flat_only
from audiolm.streaming import stream_continuation
from audiolm.styles import OnsetRate, style_named
from audiolm.training.loop import warm_start
from audiolm.training.stages import role_window, style_batch, train_stage, window_starts
from audiolm.training.loop import TrainConfig
from audiolm.transformer import TransformerConfig

SR = 16000


def notes(times: list[float], seconds: float, sr: int = SR) -> np.ndarray:
    """Struck, decaying 440 Hz tones at ``times``: one onset each."""
    wav = np.zeros(round(seconds * sr), dtype=np.float32)
    t = np.arange(round(0.4 * sr)) / sr
    tone = (np.sin(2 * np.pi * 440 * t) * np.exp(-t * 12)).astype(np.float32)
    for at in times:
        start = round(at * sr)
        wav[start:start + len(tone)] += tone[:len(wav) - start]
    return 0.5 * wav


def stage(style="onset_rate", style_dropout=0.0, seed=0, cond_dropout=0.0):
    torch.manual_seed(seed)
    return InterleavedStage(FlatStageConfig(
        name="coarse", cond_levels=1, cond_codebook=10, cond_rate=25.0, target_levels=3, target_codebook=16,
        target_rate=50.0, window_frames=12, style=style, style_dropout=style_dropout, cond_dropout=cond_dropout,
        transformer=TransformerConfig(d_model=32, n_layers=2, n_heads=4, max_seq_len=64))).eval()


def test_onset_rate_classes_are_log2_bins_of_the_rate():
    style = OnsetRate()
    events = torch.zeros(4, 100, dtype=torch.long)  # 4 s at 25 Hz
    events[1, ::25] = 1  # 1 onset a second: one octave above 0.5 -> 5 bins of 0.2
    events[2, ::5] = 1  # 5 a second: log2(10) / 0.2 = 16.6 -> 17
    events[3] = 1  # 25 a second: log2(50) / 0.2 = 28.2 -> 28
    assert style.classify(events, 25.0).tolist() == [0, 5, 17, 28]
    assert style.classify(events[3:], 100.0).tolist() == [style.classes - 1]  # 100 a second: past the last bin
    with pytest.raises(ValueError, match="at least one frame"):
        style.classify(torch.zeros(1, 0, dtype=torch.long), 25.0)
    assert style_named("onset_rate") is not None
    with pytest.raises(ValueError, match="unknown style"):
        style_named("loudness")


def test_onset_events_fall_in_the_frames_of_the_notes():
    times = [0.3, 0.9, 1.5, 2.1, 2.7]
    events = OnsetRate().frame_events(notes(times, 3.5), SR, frames=round(3.5 * 25), frame_rate=25.0)
    assert events.shape == (88,) and events.dtype == torch.long
    found = events.nonzero()[:, 0].tolist()
    assert len(found) == len(times)
    assert all(abs(f - t * 25) <= 1.5 for f, t in zip(found, times))


def test_the_vocabulary_keeps_bos_and_sep_and_adds_one_row_per_class():
    plain, styled = stage(style=None).config, stage().config
    assert (styled.bos, styled.sep) == (plain.bos, plain.sep)
    assert styled.vocab_size == plain.vocab_size + OnsetRate().classes
    with pytest.raises(ValueError, match="unknown style"):
        replace(plain, style="tempo")
    with pytest.raises(ValueError, match="style_dropout"):
        replace(plain, style_dropout=0.1)  # dropout of a style it does not have
    with pytest.raises(ValueError, match="reads no style"):
        check_flat_only("delay", StageSize(style="onset_rate"))


def test_the_class_replaces_bos_at_position_0_only():
    s = stage()
    ids = s.flatten(torch.randint(0, 10, (3, 1, 3)), torch.randint(0, 16, (3, 3, 6)))
    styled = s.with_style(ids, torch.tensor([0, 7, 29]))
    assert styled[:, 0].tolist() == [s.config.sep + 1, s.config.sep + 8, s.config.sep + 30]
    assert torch.equal(styled[:, 1:], ids[:, 1:])
    kept = s.with_style(ids, torch.tensor([0, 7, 29]), keep_bos=torch.tensor([False, True, False]))
    assert kept[1, 0] == s.config.bos and kept[0, 0] == s.config.sep + 1
    assert torch.equal(s.with_style(ids, None), ids)
    with pytest.raises(ValueError, match="must lie in"):
        s.with_style(ids, torch.tensor([30]))
    with pytest.raises(ValueError, match="has no style"):
        stage(style=None).with_style(ids, torch.tensor([1]))


def test_warm_started_from_a_stage_without_style_it_starts_as_that_stage(tmp_path):
    plain, styled = stage(style=None, seed=0), stage(seed=1)
    plain.save_pretrained(tmp_path / "plain")
    assert warm_start(styled, tmp_path / "plain")["lm.embed.weight"] == "overlap"
    cond, target = torch.randint(0, 10, (4, 1, 6)), torch.randint(0, 16, (4, 3, 12))
    with torch.no_grad():
        for classes in (torch.tensor([0, 3, 15, 29]), None):
            assert styled.loss(cond, target, style=classes) == pytest.approx(plain.loss(cond, target).item(), abs=1e-6)
    greedy = SamplingConfig(temperature=0)
    prefix = torch.randint(0, 16, (4, 3, 3))
    assert torch.equal(styled.generate(cond, prefix, 12, greedy, style=torch.tensor([1, 2, 3, 4])),
                       plain.generate(cond, prefix, 12, greedy))


def draw_is_argmax_of(s, cond, draw, style: int, logits_of) -> bool:
    """Whether each greedy token of ``draw`` is the argmax at its position of ``logits_of(ids)``, ``ids`` the whole
    window (``cond``, ``draw``, the class ``style`` at position 0) read at once: cached decoding against the full
    forward pass."""
    ids = s.with_style(s.flatten(cond, draw), torch.tensor([style]))
    with torch.no_grad():
        logits = logits_of(ids)
    frames = draw.shape[2]
    return all(logits[0, at - 1, lo:lo + 16].argmax().item() == draw[0, level, frame].item()
               for frame in range(frames)
               for level, (at, lo) in enumerate(zip(s.target_positions(frames)[frame].tolist(),
                                                    s.target_offsets.tolist())))


def test_generation_reads_the_class_through_every_window(monkeypatch):
    s = stage()
    with torch.no_grad():
        s.lm.embed.weight[s.config.sep + 1:] = 4 * torch.randn(30, 32)
    cond, prefix, greedy = torch.randint(0, 10, (1, 1, 15)), torch.zeros(1, 3, 0, dtype=torch.long), \
        SamplingConfig(temperature=0)
    # the windows' ids (30 frames, windows of 12): each opens with the class
    windows, with_style = [], s.with_style
    monkeypatch.setattr(s, "with_style", lambda ids, style, keep=None: windows.append(with_style(ids, style, keep))
                        or windows[-1])
    draws = {c: s.generate(cond, prefix, 30, greedy, style=torch.tensor([c])) for c in (3, 20)}
    assert len(windows) > 2 and [int(w[0, 0]) for w in windows] == \
        [s.config.sep + 1 + 3] * (len(windows) // 2) + [s.config.sep + 1 + 20] * (len(windows) // 2)
    assert not torch.equal(draws[3][:, :, :12], draws[20][:, :, :12])  # a tiny random stage still hears it
    # cached decoding equals the whole window read at once with the class at position 0: each greedy token is the
    # argmax of the full forward pass's logits at its position
    monkeypatch.setattr(s, "with_style", with_style)
    assert draw_is_argmax_of(s, cond[:, :, :6], draws[3][:, :, :12], 3, lambda ids: s.lm(ids[:, :-1]))


def test_style_guidance_adds_the_class_direction_to_the_logits():
    s = stage(style_dropout=0.1, cond_dropout=0.1)
    with torch.no_grad():
        s.lm.embed.weight[s.config.sep + 1:] = 4 * torch.randn(30, 32)
    cond, prefix, five = torch.randint(0, 10, (1, 1, 6)), torch.zeros(1, 3, 0, dtype=torch.long), torch.tensor([5])
    plain = s.generate(cond, prefix, 12, SamplingConfig(temperature=0), style=five)
    draw = s.generate(cond, prefix, 12, SamplingConfig(temperature=0, style_guidance=4.0), style=five)
    assert not torch.equal(draw, plain)  # the weight matters
    lm = lambda ids: s.lm(ids[:, :-1])  # noqa: E731
    assert draw_is_argmax_of(s, cond, draw, 5, lambda ids: lm(s.without_style(ids)) + 4.0 * (
        lm(ids) - lm(s.without_style(ids))))
    # with the cond's guidance too, each guide's direction is added: full + (w - 1) (full - branch) for each
    both = s.generate(cond, prefix, 12, SamplingConfig(temperature=0, guidance=2.0, style_guidance=3.0), style=five)
    assert draw_is_argmax_of(s, cond, both, 5, lambda ids: lm(ids) + (lm(ids) - lm(s.null_cond(ids)))
                             + 2.0 * (lm(ids) - lm(s.without_style(ids))))
    # nothing to guide by without a class (unconditional generation): the plain draw
    unstyled = s.generate(cond, prefix, 12, SamplingConfig(temperature=0))
    assert torch.equal(s.generate(cond, prefix, 12, SamplingConfig(temperature=0, style_guidance=4.0)), unstyled)


def test_one_guide_is_the_usual_formula_and_guides_add_their_directions():
    full, null, plain = torch.randn(3, 2, 7).unbind(0)
    assert torch.equal(guided(torch.stack([full, null]), [3.0]), null + 3.0 * (full - null))
    assert torch.allclose(guided(torch.stack([full, null, plain]), [3.0, 2.5]),
                          full + 2.0 * (full - null) + 1.5 * (full - plain), atol=1e-6)


def test_style_guidance_needs_a_style_trained_with_dropout():
    five, greedy = torch.tensor([5]), SamplingConfig(temperature=0, style_guidance=2.0)
    cond, prefix = torch.randint(0, 10, (1, 1, 6)), torch.zeros(1, 3, 0, dtype=torch.long)
    with pytest.raises(SettingsError, match="cannot be guided by a style"):
        stage(style=None).generate(cond, prefix, 12, greedy)
    with pytest.raises(SettingsError, match="cannot be guided by a style"):
        stage(style_dropout=0.0).generate(cond, prefix, 12, greedy, style=five)  # no window without it learnt
    with pytest.raises(SettingsError, match="style_guidance must be >= 0"):
        SamplingConfig(style_guidance=-1)
    model = random_audiolm(tiny_bundle_config())  # no stage with a style: refused before any work
    with pytest.raises(SettingsError, match="coarse stage .* cannot be guided by a style"):
        model.check_settings(GenerationSettings(coarse=SamplingConfig(style_guidance=2.0)))


def test_style_dropout_keeps_bos_in_a_share_of_training_windows():
    s = stage(style_dropout=0.5).train()
    cond, target = torch.randint(0, 10, (16, 1, 6)), torch.randint(0, 16, (16, 3, 12))
    classes = torch.full((16,), 9)
    with torch.no_grad():
        dropped = s.loss(cond, target, torch.Generator().manual_seed(0), style=classes)
        keep = torch.rand(16, generator=torch.Generator().manual_seed(0)) < 0.5
        assert 0 < keep.sum() < 16
        ids = s.with_style(s.flatten(cond, target), classes, keep)
        logits = s.lm(ids[:, :-1])[:, s.target_positions(12).reshape(-1) - 1].reshape(16, 12, 3, -1)
        per_level = torch.stack([logits[:, :, i, o:o + 16] for i, o in enumerate(s.target_offsets.tolist())], 2)
        manual = torch.nn.functional.cross_entropy(per_level.reshape(-1, 16), target.transpose(1, 2).reshape(-1))
    assert dropped == pytest.approx(manual.item(), rel=1e-5)


def test_training_windows_take_the_class_of_their_own_semantic_frames(tmp_path):
    spec = stage_specs(tiny_bundle_config())["coarse"]
    g = torch.Generator().manual_seed(0)
    semantic = [torch.randint(0, 32, (1, 40)), torch.randint(0, 32, (1, 30))]
    acoustic = [torch.randint(0, 64, (4, 80)), torch.randint(0, 64, (4, 60))]
    events = [torch.zeros(1, 40, dtype=torch.long), torch.zeros(1, 30, dtype=torch.long)]
    events[0][0, 10:20] = 1  # a burst in the first stream only
    starts = window_starts(spec, semantic, acoustic, 12, 16, g)
    classes = style_batch(spec, OnsetRate(), events, acoustic, starts, 12)
    for (i, start), c in zip(starts, classes):
        window = role_window(spec, events, acoustic, i, start, 12)[0]  # the cond span: 6 semantic frames
        assert window.shape == (1, 6)
        assert c == OnsetRate().classify(window, 25.0)[0]
    assert classes.max() > 0 and classes.min() == 0
    with pytest.raises(ValueError, match="fine stage reads no style"):
        style_batch(stage_specs(tiny_bundle_config())["fine"], OnsetRate(), events, acoustic, starts, 12)
    config = replace(stage(style=None).config, cond_codebook=32, target_codebook=64, target_levels=2)
    with pytest.raises(ValueError, match="it takes no events"):
        train_stage(spec, InterleavedStage, config, semantic, acoustic, tmp_path / "a", TrainConfig(steps=1), events)
    with pytest.raises(ValueError, match="it needs the style's events"):
        train_stage(spec, InterleavedStage, replace(config, style="onset_rate"), semantic, acoustic, tmp_path / "b",
                    TrainConfig(steps=1))
    trained = train_stage(spec, InterleavedStage, replace(config, style="onset_rate", style_dropout=0.1), semantic,
                          acoustic, tmp_path / "c", TrainConfig(steps=2, batch_size=4, device="cpu"), events)
    assert (tmp_path / "c" / "model" / "config.json").is_file() and trained.style == "onset_rate"


@pytest.fixture(scope="module")
def styled_model(tmp_path_factory):
    """A random interleaved-coarse AudioLM, and a copy whose coarse stage reads the onset rate (its class rows
    random, so that they matter)."""
    model = random_audiolm(tiny_bundle_config(coarse_layout="interleaved"))
    styled = random_audiolm(tiny_bundle_config(coarse_layout="interleaved"))
    folder = tmp_path_factory.mktemp("coarse")
    model.coarse_stage.save_pretrained(folder)
    coarse = InterleavedStage(replace(model.coarse_stage.config, style="onset_rate"))
    warm_start(coarse, folder)
    with torch.no_grad():
        coarse.lm.embed.weight[coarse.config.sep + 1:] = torch.randn(30, coarse.config.transformer.d_model)
    styled.coarse_stage = coarse.eval()
    return model, styled


def test_a_continuation_tells_the_coarse_stage_its_prompts_class(styled_model, monkeypatch):
    model, styled = styled_model
    prompt = notes([0.2, 0.6, 1.0, 1.4, 1.8], 2.0)
    plan = styled.continuation_plan(prompt, 1.0, num_samples=2)
    rate_events = OnsetRate().frame_events(styled.aligned(prompt), SR, 50, 25.0)
    assert plan.style_kwargs(styled, styled.coarse_stage)["style"].tolist() == \
        [int(OnsetRate().classify(rate_events[None], 25.0))] * 2
    assert plan.style_kwargs(styled, styled.semantic_stage) == {}  # a stage without a style
    assert styled.unconditional_plan(1.0).style_kwargs(styled, styled.coarse_stage) == {}
    # the class reaches the stage's generate; without one (unconditional) it reads BOS: the tokens of the same stage
    # without a style
    seen, generate = [], styled.coarse_stage.generate
    monkeypatch.setattr(styled.coarse_stage, "generate", lambda *a, **k: seen.append(k.get("style")) or generate(*a, **k))
    styled.continuation(prompt, 1.0, num_samples=2, seed=3)
    assert seen[0].tolist() == plan.style_kwargs(styled, styled.coarse_stage)["style"].tolist()
    assert torch.equal(styled.unconditional(1.0, seed=3).acoustic_ids, model.unconditional(1.0, seed=3).acoustic_ids)
    assert seen[1] is None


def test_a_streamed_continuation_reads_the_same_class(styled_model, monkeypatch):
    _, styled = styled_model
    prompt = notes([0.1, 0.3, 0.5, 0.7, 0.9, 1.1], 1.5)
    whole = styled.continuation(prompt, 1.0, seed=1)
    seen, stream = [], styled.coarse_stage.stream
    monkeypatch.setattr(styled.coarse_stage, "stream", lambda *a, **k: seen.append(k.get("style")) or stream(*a, **k))
    streamed = np.concatenate(list(stream_continuation(styled, prompt, 1.0, seed=1)), axis=-1)
    np.testing.assert_allclose(streamed, whole.audio, atol=1e-5)
    expected = styled.continuation_plan(prompt, 1.0).style_kwargs(styled, styled.coarse_stage)["style"]
    assert len(seen) == 1 and seen[0].tolist() == expected.tolist()


def test_the_model_card_names_a_stages_style():
    from types import SimpleNamespace

    from audiolm.pipeline import GenerationSettings
    from audiolm.training.model_card import model_card
    from audiolm.training.recipes import RECIPES

    part, coarse = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    coarse.style = "onset_rate"
    model = SimpleNamespace(codec=part, semantic_tokenizer=part, semantic_stage=part, coarse_stage=coarse,
                            fine_stage=part, default_settings=GenerationSettings())
    card = model_card(RECIPES["piano-mixed"](), model, {}, None)
    assert "The coarse stage opens every window with the class of the style onset_rate" in card
    plain = SimpleNamespace(**{**vars(model), "coarse_stage": part})
    assert "opens every window" not in model_card(RECIPES["piano-mixed"](), plain, {}, None)


def test_style_events_are_cached_per_record_and_joined_as_the_ids(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from audiolm.training.tokens import TokenCache, style_events

    records = [{"id": f"r{i}", "stream": i // 2} for i in range(4)]  # two pieces of two records each
    audio = {f"r{i}": notes([0.2 + 0.3 * k for k in range(i + 1)], 2.0) for i in range(4)}
    corpus = SimpleNamespace(config=SimpleNamespace(sample_rate=SR), audio=lambda record: audio[record["id"]])
    cache = TokenCache([torch.zeros(50, dtype=torch.long)] * 4, [torch.zeros(2, 100, dtype=torch.long)] * 4, records)
    path = tmp_path / "style-onset_rate-train.safetensors"
    events = style_events(corpus, cache, OnsetRate(), 25.0, path)
    assert [e.shape for e in events] == [(50,)] * 4 and [int(e.sum()) for e in events] == [1, 2, 3, 4]
    monkeypatch.setattr(OnsetRate, "frame_events", lambda *a, **k: pytest.fail("read from the cache"))
    assert all(torch.equal(a, b) for a, b in zip(style_events(corpus, cache, OnsetRate(), 25.0, path), events))
    other = TokenCache(cache.semantic[:3], cache.acoustic[:3], records[:3])  # other records: measured again
    with pytest.raises(pytest.fail.Exception, match="read from the cache"):
        style_events(corpus, other, OnsetRate(), 25.0, path)
    # joined per piece and cut at the end as the semantic ids are
    joined = cache.per_stream([e[None] for e in events], tail=5)
    semantic, _ = cache.streams((5, 10))
    assert [j.shape for j in joined] == [s.shape for s in semantic] == [(1, 95)] * 2
    assert torch.equal(joined[1][0], torch.cat(events[2:])[:95])
