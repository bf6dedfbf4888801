"""Training: the resumable loop, the espeak corpus, the token cache and the whole tiny recipe."""
import ctypes.util
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from audiolm.stages import FlatStage, FlatStageConfig
from audiolm.training.loop import TrainConfig, Trainer, lr_at
from audiolm.transformer import TransformerConfig

needs_espeak = pytest.mark.skipif(ctypes.util.find_library("espeak-ng") is None,
                                  reason="libespeak-ng is not installed (apt-get install espeak-ng)")


def _toy_stage():
    torch.manual_seed(0)
    return FlatStage(FlatStageConfig(name="semantic", cond_levels=0, cond_codebook=0, target_levels=1, target_codebook=8,
                                     target_rate=25.0, window_frames=16,
                                     transformer=TransformerConfig(d_model=32, n_layers=1, n_heads=2, max_seq_len=18)))


def _cyclic_loss(stage):
    pattern = torch.arange(16) % 8  # 0 1 2 ... 7 0 1 ...: fully predictable after one token

    def step(_, generator):
        shift = int(torch.randint(0, 8, (1,), generator=generator))
        target = ((pattern + shift) % 8)[None, None].expand(4, 1, 16)
        return stage.loss(None, target), {}
    return step


def test_lr_schedule_warms_up_then_decays():
    c = TrainConfig(steps=100, lr=1e-3, warmup=10, min_lr_ratio=0.1)
    assert lr_at(c, 0) == pytest.approx(1e-4)
    assert lr_at(c, 9) == pytest.approx(1e-3)
    assert lr_at(c, 55) < lr_at(c, 20)
    assert lr_at(c, 99) == pytest.approx(1e-4, rel=0.05)


def test_training_lowers_the_loss(tmp_path):
    stage = _toy_stage()
    loss_fn = _cyclic_loss(stage)
    before = loss_fn(0, torch.Generator().manual_seed(1))[0].item()
    Trainer(stage, tmp_path, TrainConfig(steps=60, lr=3e-3, warmup=5, save_every=1000, device="cpu"),
            export=stage.save_pretrained).run(loss_fn)
    after = loss_fn(0, torch.Generator().manual_seed(1))[0].item()
    assert before > 1.5 and after < 0.3 * before
    assert (tmp_path / "model" / "model.safetensors").is_file()
    log = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    assert log[-1]["step"] == 60 and "loss" in log[-1]


def test_resumed_training_equals_uninterrupted(tmp_path):
    config = TrainConfig(steps=8, lr=3e-3, warmup=2, save_every=4, device="cpu")
    straight = _toy_stage()
    Trainer(straight, tmp_path / "a", config, export=straight.save_pretrained).run(_cyclic_loss(straight))

    first = _toy_stage()
    interrupted = _cyclic_loss(first)

    def crash_at_step_6(step, generator):  # the process dies after the step-4 checkpoint
        if step == 6:
            raise KeyboardInterrupt
        return interrupted(step, generator)
    with pytest.raises(KeyboardInterrupt):
        Trainer(first, tmp_path / "b", config, export=first.save_pretrained).run(crash_at_step_6)
    resumed = _toy_stage()  # a fresh process would start from scratch weights like these
    trainer = Trainer(resumed, tmp_path / "b", config, export=resumed.save_pretrained)
    assert trainer.step == 4
    trainer.run(_cyclic_loss(resumed))
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_training_time_counts_every_segment_once(tmp_path):
    from audiolm.training.loop import training_seconds

    def log(*seconds):
        (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": i, "seconds": t}) + "\n"
                                                    for i, t in enumerate(seconds)))
        return training_seconds(tmp_path)

    assert log(10, 20, 30) == 30
    assert log(10, 20, 30, 5, 15) == 45  # an older log: its clock restarts near 0 on a resume
    # the cumulative clock resumed from a checkpoint at 20 s after steps up to 30 s were lost: they count too
    # (from the first logged step after the resume: a log interval short)
    assert log(10, 20, 30, 25, 35) == 35 + (30 - 25)


def test_non_finite_loss_stops_with_a_message(tmp_path):
    stage = _toy_stage()
    with pytest.raises(FloatingPointError, match="learning rate"):
        Trainer(stage, tmp_path, TrainConfig(steps=3, device="cpu"), export=stage.save_pretrained).run(
            lambda step, g: (stage.loss(None, torch.zeros(1, 1, 16, dtype=torch.long)) * float("nan"), {}))


@pytest.mark.parametrize("precision, native, autocast", [
    ("float32", True, False), ("bfloat16", False, True), ("auto", True, True), ("auto", False, False)])
def test_precision_decides_the_autocast_and_is_recorded(tmp_path, monkeypatch, precision, native, autocast):
    """auto: bfloat16 autocast only where the CPU computes bfloat16 in hardware (torch's probes, faked here)."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: native, raising=False)
    stage, seen = _toy_stage(), []
    loss_fn = _cyclic_loss(stage)

    def step(i, generator):
        seen.append(torch.is_autocast_enabled("cpu"))
        return loss_fn(i, generator)
    Trainer(stage, tmp_path, TrainConfig(steps=2, save_every=2, device="cpu", precision=precision),
            export=stage.save_pretrained).run(step)
    assert seen == [autocast, autocast]
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["precision"] == ("bfloat16" if autocast else "float32")
    assert state["config"]["precision"] == precision


def test_bfloat16_autocast_keeps_the_loss_and_gradients_close_to_float32():
    """What the bfloat16 steps train on: the float32 loss and gradient direction, up to bfloat16's rounding."""
    stage = _toy_stage()
    target = (torch.arange(16) % 8)[None, None].expand(4, 1, 16)

    def loss_and_grad(enabled):
        stage.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            loss = stage.loss(None, target)
        loss.backward()
        return loss.item(), torch.cat([p.grad.flatten() for p in stage.parameters()])
    (loss32, grad32), (loss16, grad16) = loss_and_grad(False), loss_and_grad(True)
    assert loss16 != loss32 and loss16 == pytest.approx(loss32, rel=0.02)
    assert torch.nn.functional.cosine_similarity(grad16.double(), grad32.double(), dim=0) > 0.99


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of auto, bfloat16, float32"):
        TrainConfig(precision="fp16")


def test_a_runs_precision_overrides_the_recipes_only_when_given(tmp_path):
    """``train --precision`` (None when not given) reaches every component's TrainConfig through the run."""
    from audiolm.training.run import TrainingRun
    config = TrainConfig(precision="float32")
    data = tmp_path / "data"
    assert TrainingRun(tmp_path / "a", data)._train(config).precision == "float32"
    assert TrainingRun(tmp_path / "b", data, precision="bfloat16")._train(config).precision == "bfloat16"


@needs_espeak
def test_a_second_optimizer_for_a_second_part(tmp_path):
    """A generator and a 'discriminator' with an optimizer each, in one loop, saved and resumed."""
    model = torch.nn.ModuleDict({"gen": torch.nn.Linear(4, 4), "disc": torch.nn.Linear(4, 1)})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(steps=4, batch_size=2, lr=1e-2, warmup=1, save_every=2, device="cpu")

    def make_trainer():
        return Trainer(model, tmp_path / "run", config, export=lambda folder: None,
                       parts={"gen": model["gen"], "disc": model["disc"]})
    trainer = make_trainer()

    def step(_, generator):
        x = torch.randn(2, 4, generator=generator)
        fake = model["gen"](x)
        d_loss = (torch.nn.functional.softplus(model["disc"](fake.detach())) +
                  torch.nn.functional.softplus(-model["disc"](x))).mean()
        trainer.update(d_loss, "disc")
        return -model["disc"](fake).mean(), {"d_loss": d_loss.item()}

    trainer.run(step)
    after = model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)  # both parts moved
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert saved["step"] == 4 and set(trainer.optimizers) == {"gen", "disc"}
    assert make_trainer().optimizers["disc"].state  # the second optimizer's moments come back on resume


def test_espeak_corpus_speakers_sentences_and_phones(tmp_path):
    from audiolm.data.sentences import is_heldout_sentence
    from audiolm.data.speech_corpus import SpeechCorpus, SpeechCorpusConfig, build_speech_corpus, make_speakers

    config = SpeechCorpusConfig(hours=0.01, train_speakers=3, heldout_speakers=2, heldout_utterances=2)
    train_voices, heldout_voices = make_speakers(config)
    assert not {v.variant for v in train_voices} & {v.variant for v in heldout_voices}
    assert len(set(train_voices + heldout_voices)) == 5
    corpus = SpeechCorpus(build_speech_corpus(tmp_path, config))
    train, heldout = corpus.split("train"), corpus.split("heldout")
    assert sum(r["seconds"] for r in train) >= 36 and len(heldout) == 4
    assert {r["speaker"] for r in train} == {0, 1, 2} and {r["speaker"] for r in heldout} == {3, 4}
    for record in train + heldout:
        assert record["phones"] and record["phones"][0][0] < 0.5
        wav = corpus.audio(record)
        assert wav.dtype == np.float32 and abs(len(wav) / 16000 - record["seconds"]) < 1e-3
        assert np.abs(wav).max() > 0.05
    # the split is by sentence content: held-out sentences never occur in training
    split = lambda text: [x.strip() for x in re.findall(r"[^.?!]+[.?!]", text)]  # noqa: E731
    assert all(not is_heldout_sentence(x) for r in train for x in split(r["text"]))
    assert all(is_heldout_sentence(x) for r in heldout for x in split(r["text"]))
    labels = corpus.frame_phones(train[0], 25.0, 50)
    assert len(labels) == 50 and len(set(labels)) > 5


@needs_espeak
def test_tiny_recipe_end_to_end_and_resume(tiny_recipe_run):
    from audiolm.pipeline import AudioLM

    work, data, out, cmd = tiny_recipe_run
    for component in ("codec", "semantic_encoder", "semantic", "coarse", "fine"):
        state = json.loads((work / component / "state.json").read_text())
        assert state["step"] == 4, component
    model = AudioLM.from_pretrained(out)
    assert model.config.num_quantizers == 4 and model.config.semantic_vocab == 16
    assert next(model.coarse_stage.parameters()).dtype == torch.float32  # loaded into the module's dtype
    result = model.unconditional(1.0, seed=0)
    assert result.audio.shape == (1, 16000)

    # the token cache: every utterance, 2 acoustic frames per semantic frame
    from audiolm.training.run import TrainingRun
    cache = TrainingRun(work, data).tokens("train")
    assert all(a.shape == (4, 2 * len(s)) for s, a in zip(cache.semantic, cache.acoustic))
    streams, acoustic = cache.streams()
    assert len(streams) == 4 and streams[0].shape[1] * 2 == acoustic[0].shape[1]
    cut, cut_acoustic = cache.streams((3, 6))  # a recipe's stage_tail_seconds: the streams' ends cut, aligned
    assert all(torch.equal(c, s[:, :-3]) and torch.equal(ca, a[:, :-6])
               for c, s, ca, a in zip(cut, streams, cut_acoustic, acoustic))

    # a second run resumes: nothing retrains, and --steps extends one component
    before = (work / "coarse" / "state.safetensors").stat().st_mtime
    subprocess.run([*cmd[:4], "coarse", *cmd[5:], "--steps", "6"], check=True, capture_output=True, timeout=600)
    assert json.loads((work / "coarse" / "state.json").read_text())["step"] == 6
    assert json.loads((work / "recipe.json").read_text())["coarse_train"]["steps"] == 6
    subprocess.run([*cmd[:4], "fine", *cmd[5:]], check=True, capture_output=True, timeout=600)
    assert json.loads((work / "fine" / "state.json").read_text())["step"] == 4
    assert (work / "coarse" / "state.safetensors").stat().st_mtime > before


@needs_espeak
def test_held_out_ce_benchmark_scores_each_role(tiny_recipe_run):
    """benchmarks/stage_ce.py: a finite held-out CE per role, near chance for stages trained 4 steps, the same
    figure for a bundle and for its stage folder."""
    import sys
    from pathlib import Path

    work, data, out, _ = tiny_recipe_run
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "stage_ce.py"
    chance = {"semantic": np.log(16), "coarse": np.log(64), "fine": np.log(64)}
    for role in chance:
        run = subprocess.run([sys.executable, str(script), str(out), str(out / role), "--role", role,
                              "--work", str(work), "--data", str(data)], check=True, capture_output=True, text=True,
                             timeout=600)
        figures = [float(x) for x in re.findall(r"held-out CE ([0-9.]+) nats", run.stdout)]
        assert len(figures) == 2 and figures[0] == figures[1], run.stdout
        assert 0.5 * chance[role] < figures[0] < 1.5 * chance[role], (role, figures)


def test_coarse_ce_training_readers_are_the_first_long_enough_recordings(tiny_model, tmp_path, repo_script):
    """benchmarks/coarse_ce.py --training-readers: the first recordings of the folder (by name) that have the
    frames asked for, shorter ones skipped, and a clear stop where the folder holds too few."""
    import soundfile

    from audiolm.testing import synthetic_voice

    coarse_ce = repo_script("benchmarks/coarse_ce.py")
    sr = tiny_model.config.sample_rate
    for name, seconds in (("a-short.wav", 0.5), ("b.wav", 2.0), ("c.wav", 1.5), ("d.wav", 2.0)):
        soundfile.write(tmp_path / name, synthetic_voice(seconds, sr), sr, subtype="FLOAT")  # read back exactly
    frames = tiny_model.coarse_stage.config.window_frames  # about 1 s
    clips = coarse_ce.training_clips(tiny_model, tmp_path, 2, frames)
    expected = [tiny_model.tokenize(tiny_model.aligned(synthetic_voice(s, sr)))[1] for s in (2.0, 1.5)]
    assert [acoustic.shape for _, acoustic in clips] == [e.shape for e in expected]
    assert all(torch.equal(acoustic, e) for (_, acoustic), e in zip(clips, expected))
    with torch.inference_mode():
        ce = coarse_ce.per_level_ce(tiny_model.coarse_stage, *coarse_ce.window(tiny_model, *clips[0], frames))
    assert ce.shape == (tiny_model.config.num_coarse,) and np.isfinite(ce).all()
    with pytest.raises(SystemExit, match="fewer than 4"):
        coarse_ce.training_clips(tiny_model, tmp_path, 4, frames)


def test_teacher_forced_draws_score_the_true_frames_and_draw_reproducibly(tiny_model, repo_script):
    """benchmarks/voice_stages.py's teacher-forced draws: the CE it reports is the stage's CE of the true ids of the
    frames after the prompt in the clip's last window (coarse_ce.per_level_ce with those frames scored), the audio
    is the rendering of the frames after the prompt, and one seed draws the same frames."""
    from audiolm.testing import synthetic_voice

    voice_stages, coarse_ce = repo_script("benchmarks/voice_stages.py"), repo_script("benchmarks/coarse_ce.py")
    model, sr = tiny_model, tiny_model.config.sample_rate
    clip = model.aligned(synthetic_voice(1.6, sr))
    semantic, acoustic = model.tokenize(clip)
    total, window = acoustic.shape[2], model.coarse_stage.config.window_frames
    lo = total - window // 2 * 2
    assert lo > 0  # the clip's last window starts after its first frame
    prompt = lo + 10  # the window's first 10 frames are the prompt's (context), the rest are drawn
    with torch.inference_mode():
        audio, ce = voice_stages.teacher_forced_draws(model, clip, prompt, seed=3)
        again, _ = voice_stages.teacher_forced_draws(model, clip, prompt, seed=3)
        other, _ = voice_stages.teacher_forced_draws(model, clip, prompt, seed=4)
        expected = coarse_ce.per_level_ce(model.coarse_stage, semantic[:, None, lo // 2:total // 2],
                                          acoustic[:, :model.config.num_coarse, lo:], first_frame=prompt - lo)
    assert audio.shape == ((total - prompt) * model.codec.hop_length,)
    np.testing.assert_allclose(ce, expected, rtol=1e-5)
    np.testing.assert_array_equal(audio, again)
    assert not np.array_equal(audio, other)
    with pytest.raises(ValueError, match="must fit the coarse window"):
        voice_stages.teacher_forced_draws(model, clip, lo - 2, seed=3)


@needs_espeak
def test_reused_components_come_from_the_bundle_untrained(tiny_recipe_run, tmp_path):
    """``--reuse-from BUNDLE --reuse codec semantic fine``: those components are the bundle's own weights, only
    the others train (here the coarse stage), and the card says which were reused."""
    import sys

    from audiolm.pipeline import AudioLM

    _, data, source, _ = tiny_recipe_run
    work, out = tmp_path / "work", tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "audiolm", "train", "all", "--tiny", "--device", "cpu", "--work", str(work),
                    "--data", str(data), "--out", str(out), "--reuse-from", str(source),
                    "--reuse", "codec", "semantic", "fine"], check=True, capture_output=True, timeout=600)
    old, new = AudioLM.from_pretrained(source), AudioLM.from_pretrained(out)
    for part in ("codec", "semantic_stage", "fine_stage"):
        old_state, new_state = getattr(old, part).state_dict(), getattr(new, part).state_dict()
        assert all(torch.equal(old_state[k], new_state[k]) for k in old_state), part
        assert not (work / part.removesuffix("_stage") / "state.json").exists(), part  # never trained
    assert json.loads((work / "coarse" / "state.json").read_text())["step"] == 4
    card = (out / "README.md").read_text()
    assert card.count(f"reused from `{source}`") == 3 and "(reused components not counted)" in card
    source_rows = {line.split("|")[1].strip(): line.split("|")[3:5] for line in
                   (source / "README.md").read_text().splitlines() if line.startswith("| codec |")}
    recipe_cell, time_cell = source_rows["codec"]  # what the codec cost where it was trained travels with it
    assert f"as it was (there: {recipe_cell.strip()}) |{time_cell}|" in card

    with pytest.raises(subprocess.CalledProcessError) as error:  # a component that is not one
        subprocess.run([sys.executable, "-m", "audiolm", "train", "codec", "--tiny", "--work", str(tmp_path / "w2"),
                        "--data", str(data), "--reuse-from", str(source), "--reuse", "tokenizer"],
                       check=True, capture_output=True, text=True, timeout=120)
    assert "invalid choice" in error.value.stderr
    with pytest.raises(subprocess.CalledProcessError) as error:  # no bundle to take it from
        subprocess.run([sys.executable, "-m", "audiolm", "train", "codec", "--tiny", "--work", str(tmp_path / "w3"),
                        "--data", str(data), "--reuse", "codec"], check=True, capture_output=True, text=True,
                       timeout=120)
    assert "reuse needs reuse_from" in error.value.stderr


@needs_espeak
def test_a_run_with_another_tokenizer_starts_from_the_remapped_stage(tiny_recipe_run, tmp_path):
    """The tiny recipe's bundle as the warm start; this run's tokenizer is the bundle's with its centroids
    shuffled (new id = perm[old id]): the coarse stage starts from ``init-remapped``, whose cond rows are the
    old rows shuffled alike. With the bundle's own tokenizer nothing is remapped."""
    from dataclasses import replace

    from audiolm.semantic import SemanticTokenizer
    from audiolm.stages import load_stage
    from audiolm.training.recipes import tiny_recipe
    from audiolm.training.run import TrainingRun

    _, data, bundle, _ = tiny_recipe_run
    recipe = tiny_recipe("speech")
    recipe = replace(recipe, kmeans_utterances=10_000,  # every training utterance counts co-occurrences
                     coarse_train=replace(recipe.coarse_train, init_from=str(bundle / "coarse")))
    same = tmp_path / "same"
    shutil.copytree(bundle / "semantic_tokenizer", same / "semantic_tokenizer")
    train = TrainingRun(same, data, recipe, device="cpu").remapped_warm_start("coarse", recipe.coarse_train)
    assert train == recipe.coarse_train and not (same / "coarse" / "init-remapped").exists()

    tokenizer = SemanticTokenizer.from_folder(bundle / "semantic_tokenizer")
    K = tokenizer.config.num_clusters
    perm = torch.randperm(K, generator=torch.Generator().manual_seed(0))
    tokenizer.centroids.copy_(tokenizer.centroids[torch.argsort(perm)])  # new centroid perm[i] = old centroid i
    work = tmp_path / "work"
    tokenizer.save_pretrained(work / "semantic_tokenizer")
    run = TrainingRun(work, data, recipe, device="cpu")
    train = run.remapped_warm_start("coarse", recipe.coarse_train)
    assert train.init_from == str(work / "coarse" / "init-remapped")
    summary = json.loads((work / "coarse" / "init-remapped" / "remap.json").read_text())
    assert summary["mean_share_of_the_most_shared_old_id"] == 1.0  # a pure relabelling

    source, remapped = load_stage(bundle / "coarse"), load_stage(work / "coarse" / "init-remapped")
    original = SemanticTokenizer.from_folder(bundle / "semantic_tokenizer")
    corpus = run.open_corpus()
    old_ids = torch.cat([original.tokenize(torch.from_numpy(corpus.audio(r))[None])[0]
                         for r in corpus.split("train")]).unique()  # the new tokenizer says perm[old_ids]
    (name, starts), = source.id_rows("cond").items()
    old_table, new_table = source.state_dict()[name], remapped.state_dict()[name]
    assert torch.allclose(new_table[starts[0] + perm[old_ids]], old_table[starts[0] + old_ids])
    rest = torch.ones(len(old_table), dtype=torch.bool)
    rest[starts[0]:starts[0] + K] = False
    assert torch.equal(new_table[rest], old_table[rest])


def test_recipe_never_reads_the_real_heldout_voices(tmp_path):
    from audiolm.training.run import TrainingRun
    heldout = tmp_path / "LibriSpeech" / "test-other"
    heldout.mkdir(parents=True)
    for data in (heldout, heldout / "1688", tmp_path / "LibriSpeech"):  # it, inside it, a folder holding it
        with pytest.raises(ValueError, match="held-out"):
            TrainingRun(tmp_path / "work", data)
    TrainingRun(tmp_path / "work", tmp_path / "data")  # any other corpus folder is fine


def test_warm_start_loads_matching_weights_and_overlaps_grown_tables(tmp_path):
    from dataclasses import replace

    from audiolm.training.loop import warm_start
    small = _toy_stage()
    small.save_pretrained(tmp_path / "small", torch.float16)
    config = replace(small.config, window_frames=20, transformer=replace(small.config.transformer, max_seq_len=22))
    big = FlatStage(config)
    loaded = warm_start(big, tmp_path / "small")
    assert loaded["lm.body.positions.weight"] == "overlap" and loaded["lm.head.weight"] == "whole"
    old, new = small.lm.body.positions.weight, big.lm.body.positions.weight
    torch.testing.assert_close(new[:18], old.half().float())  # the stored (float16) values
    torch.testing.assert_close(big.lm.head.weight, small.lm.head.weight.half().float())
    # a run that starts from them, and its resume ignoring init_from
    train = TrainConfig(steps=4, batch_size=4, lr=1e-3, warmup=1, save_every=2, init_from=str(tmp_path / "small"))
    trainer = Trainer(big, tmp_path / "run", train, export=big.save_pretrained)
    torch.testing.assert_close(trainer.model.lm.head.weight, small.lm.head.weight.half().float())
    trainer.run(_cyclic_loss(big))
    after = big.lm.head.weight.detach().clone()
    again = FlatStage(config)
    Trainer(again, tmp_path / "run", train, export=again.save_pretrained)
    torch.testing.assert_close(again.lm.head.weight, after)  # resumed: the run's weights, not the warm start


def test_warm_start_into_a_deeper_stage_starts_as_the_shallower_one(tmp_path):
    from dataclasses import replace

    from audiolm.training.loop import warm_start
    shallow = _toy_stage()
    with torch.no_grad():  # not the default init: the check must see the trained weights carried over
        for p in shallow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    shallow.save_pretrained(tmp_path / "shallow")
    cfg = shallow.config.transformer
    deep = FlatStage(replace(shallow.config, transformer=replace(cfg, n_layers=cfg.n_layers + 2)))
    ids = torch.randint(0, 8, (2, 12))
    assert not torch.allclose(deep.lm(ids), shallow.lm(ids), atol=1e-3)  # before: another function
    loaded = warm_start(deep, tmp_path / "shallow")
    assert f"lm.body.blocks.{cfg.n_layers}.attn.qkv.weight" not in loaded
    torch.testing.assert_close(deep.lm(ids), shallow.lm(ids))
    new_block = deep.lm.body.blocks[cfg.n_layers]
    assert new_block.attn.qkv.weight.abs().sum() > 0  # only the output projections are zeroed: it can learn
    assert new_block.attn.proj.weight.abs().sum() == 0 and new_block.mlp[2].weight.abs().sum() == 0


def test_warm_started_codebooks_restart_their_ema_from_the_loaded_codes(tmp_path):
    from audiolm.codec.rvq import VectorQuantizer
    vq = VectorQuantizer(4, 8, decay=0.99, dead_threshold=0.0)
    codes = torch.randn(8, 4)
    vq.load_state_dict({"codebook": codes, "initialized": torch.tensor(True)})
    torch.testing.assert_close(vq.ema_sum / vq.ema_count[:, None], codes)
    x = codes[torch.arange(8).repeat(4)] + 0.01  # every code used, each vector close to its code
    vq.update(x, vq.indices(x))
    assert (vq.codebook - codes).abs().max() < 0.02  # moves a little towards the data, no jump


def test_pseudo_speaker_inputs_keep_the_original_targets():
    from audiolm.training.semantic_encoder import AlignedAudio
    hop = 640
    waves = [np.full(hop * 3, 0.1, np.float32), np.full(hop * 5, 0.2, np.float32)]
    inputs = [w * 10 for w in waves]
    data = AlignedAudio(waves, hop, inputs)
    targets = torch.arange(data.num_frames)
    generator = torch.Generator().manual_seed(0)
    audio, target = data.batch(targets, 64, 2, generator, clean_share=0.25)
    clean = torch.isclose(audio[:, 0], data.audio[target[:, 0] * hop])
    assert 0 < clean.sum() < 64  # some crops original, most the other version
    torch.testing.assert_close(audio[~clean], data.inputs[(target[~clean, :1] * hop) + torch.arange(2 * hop)])
    with pytest.raises(ValueError, match="length"):
        AlignedAudio(waves, hop, [waves[0], waves[1][:-1]])


def test_band_normalisation_cancels_a_fixed_eq():
    from scipy.signal import lfilter

    from audiolm.semantic import BuiltinEncoderConfig, BuiltinSpeechEncoder
    from audiolm.testing import synthetic_voice
    wav = synthetic_voice(2.0, 16000)
    eq = lfilter([1.0, -0.9], [1.0], wav).astype(np.float32)  # a fixed tilt: a different microphone
    change = {}
    for norm in ("utterance", "band"):
        encoder = BuiltinSpeechEncoder(BuiltinEncoderConfig(normalization=norm))
        a, b = (encoder.frames(torch.from_numpy(np.ascontiguousarray(x))[None]) for x in (wav, eq))
        change[norm] = float((a - b).abs().mean())
    assert change["band"] < 0.5 * change["utterance"]


def test_per_utterance_mfcc_targets_ignore_a_fixed_filter():
    from scipy.signal import lfilter

    from audiolm.semantic import BuiltinEncoderConfig
    from audiolm.testing import synthetic_voice
    from audiolm.training.semantic_encoder import mfcc_targets
    config = BuiltinEncoderConfig(num_targets=4)
    wav = synthetic_voice(2.0, 16000)
    other = (3 * lfilter([1.0, -0.97], [1.0], wav)).astype(np.float32)  # the same content, another channel
    ids = mfcc_targets([wav, other], config, features="mfcc-cmvn").numpy()
    half = len(ids) // 2
    assert (ids[:half] == ids[half:]).mean() > 0.95
    with pytest.raises(ValueError, match="mfcc-cmvn"):
        mfcc_targets([wav], config, features="cepstrum")


def test_target_pieces_carry_equal_variance():
    """``mfcc+chroma``: 12 chroma columns weighted to the 39 MFCC columns' variance, so k-means follows both."""
    from audiolm.semantic import BuiltinEncoderConfig
    from audiolm.testing import synthetic_voice
    from audiolm.training.semantic_encoder import target_frames
    config = BuiltinEncoderConfig()
    wav = synthetic_voice(2.0, 16000)
    feats = target_frames([wav], config, "mfcc+chroma")
    assert feats.shape == (len(wav) // config.hop_length, 39 + 12)
    assert np.allclose(feats[:, :39].var(0).sum(), feats[:, 39:].var(0).sum(), rtol=0.01)
    with pytest.raises(ValueError, match="chroma"):
        target_frames([wav], config, "mfcc+beats")


@pytest.mark.slow
@needs_espeak
def test_tiny_mixed_speech_recipe_end_to_end(tmp_path):
    """``train all --recipe speech-mixed --tiny``: the mixed corpus, the pseudo-speaker encoder, the interleaved
    coarse stage, sessions as token streams, and a bundle whose card names the data's licences."""
    import shutil
    import sys

    from audiolm.pipeline import AudioLM
    from audiolm.training.recipes import RECIPES
    from audiolm.training.run import TrainingRun
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (apt-get install flite)")
    work, data, out = tmp_path / "work", tmp_path / "data", tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "audiolm", "train", "all", "--tiny", "--recipe", "speech-mixed",
                    "--device", "cpu", "--work", str(work), "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    model = AudioLM.from_pretrained(out)
    assert model.config.coarse_layout == "interleaved" and model.coarse_stage.layout == "interleaved"
    # the recipe's own sampling travels with the bundle; its coarse guidance needs the cond dropout it kept
    assert model.default_settings == RECIPES["speech-mixed"]().sampling and model.default_settings.coarse.guidance > 1
    assert model.coarse_stage.config.cond_dropout == RECIPES["speech-mixed"]().coarse_size.cond_dropout > 0
    assert model.continuation(np.zeros(16000, np.float32) + 0.01, 0.5, seed=0).audio.shape[1] == 24000
    run = TrainingRun(work, data)
    sessions = {r["session"] for r in run.open_corpus().split("train")}
    streams, _ = run.tokens("train").streams()
    assert len(streams) == len(sessions)  # one stream per session: a window never mixes voices
    card = (out / "README.md").read_text()
    assert "real and synthetic voices" in card and "Apache-2.0" in card and "--recipe speech-mixed" in card
    assert "Default sampling (`generation_config.json`" in card and "(guidance " in card


def test_layer_choice_rows_per_block_and_cluster_count():
    from audiolm.semantic import BuiltinEncoderConfig, BuiltinSpeechEncoder
    from audiolm.testing import synthetic_voice
    from audiolm.training.layer_choice import block_table

    class PhoneCorpus:  # two "phones": voiced halves and noise halves, as espeak's corpus gives them
        def __init__(self):
            rng = np.random.default_rng(0)
            self.waves = [np.concatenate([synthetic_voice(1.0, 16000, seed=i),
                                          0.05 * rng.standard_normal(16000).astype(np.float32)]) for i in range(4)]

        def split(self, name):
            return [{"i": i, "phones": [[0.0, "a"], [1.0, "s"]]} for i in range(4)]

        def audio(self, record):
            return self.waves[record["i"]]

        def frame_phones(self, record, rate, frames):
            return ["a" if (k + 0.5) / rate < 1.0 else "s" for k in range(frames)]

    torch.manual_seed(0)
    encoder = BuiltinSpeechEncoder(BuiltinEncoderConfig(transformer=TransformerConfig(
        d_model=32, n_layers=2, n_heads=2, causal=False, max_seq_len=256))).eval()
    readers = {f"s{k}": [synthetic_voice(1.0, 16000, seed=10 * k + j, f0=100.0 + 60 * k) for j in range(3)]
               for k in range(3)}
    rows = block_table(encoder, PhoneCorpus(), readers, clusters=(4, 8), utterances=4)
    assert [(r["block"], r["clusters"]) for r in rows] == [(1, 4), (1, 8), (2, 4), (2, 8)]
    for r in rows:
        assert 0 <= r["pnmi"] <= 1 and 0 <= r["speaker_id"] <= 1 and r["chance"] == pytest.approx(1 / 3, abs=1e-3)
    assert max(r["pnmi"] for r in rows) > 0.3  # voiced vs noise frames fall into different clusters


def test_token_cache_fingerprint_follows_contents_not_file_times(tmp_path):
    """A work folder copied without its file times keeps its token cache; changed weights invalidate it."""
    from audiolm.training.tokens import fingerprint
    codec, tokenizer = tmp_path / "codec", tmp_path / "tokenizer"
    for folder, payload in ((codec, b"codec weights"), (tokenizer, b"tokenizer weights")):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(payload)
    key = fingerprint(codec, tokenizer)
    copy = tmp_path / "copy"
    shutil.copytree(codec, copy, copy_function=shutil.copy)  # new file times
    os.utime(copy / "model.safetensors", (1, 1))
    assert fingerprint(copy, tokenizer) == key
    assert fingerprint(tokenizer, codec) != key  # which component is which matters
    (copy / "model.safetensors").write_bytes(b"codec weightz")  # same size, other contents
    assert fingerprint(copy, tokenizer) != key


def test_a_reused_tokenizers_provenance_is_its_cards_sentence_only(tmp_path):
    from audiolm.training.model_card import _source_tokenizer
    (tmp_path / "README.md").write_text(
        "Geometry: 16000 Hz. Semantic tokenizer: reused from `runs/a` (there: block 1, k-means 1024 fitted on 1200 "
        "utterances). Inputs outside the training audio's loudness range are brought to its nearest edge.\n")
    assert _source_tokenizer(str(tmp_path)) == "reused from `runs/a` (there: block 1, k-means 1024 fitted on 1200 utterances)"
    (tmp_path / "README.md").write_text("Semantic tokenizer: built-in encoder, block 2.\n")
    assert _source_tokenizer(str(tmp_path)) == f"reused from `{tmp_path}` (there: built-in encoder, block 2)"
