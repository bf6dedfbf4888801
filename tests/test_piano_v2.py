"""Piano v2 groundwork: the Salamander sampler, the corpus' instrument and room shares, and the
note-clarity figure."""
import json
from dataclasses import asdict, replace
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.signal import fftconvolve

from audiolm.data.piano_corpus import PianoCorpusConfig, renderer_missing, stored_config
from audiolm.data.shared_data import shared_data_path
from audiolm.evaluation.music import note_clarity

SR = 16000
needs_salamander = pytest.mark.skipif(shared_data_path("piano", "salamander") is None,
                                      reason="../shared/data/piano/salamander is missing")
needs_fluidsynth = pytest.mark.skipif(renderer_missing() is not None, reason=str(renderer_missing()))
OLD_FIELDS = {"hours", "heldout_pieces", "min_seconds", "max_seconds", "sample_rate", "gain", "seed"}


def peak_frequency(wav: np.ndarray, near: float) -> float:
    """The strongest frequency within ±6 % of ``near`` (zero-padded spectrum)."""
    n = len(wav)
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(n), 16 * n))
    freqs = np.fft.rfftfreq(16 * n, 1 / SR)
    band = (freqs > near * 0.94) & (freqs < near * 1.06)
    return float(freqs[band][np.argmax(spectrum[band])])


def midi_hz(pitch: int) -> float:
    return 440 * 2 ** ((pitch - 69) / 12)


@needs_salamander
def test_sampler_plays_the_notes_at_their_pitch_and_time():
    from audiolm.data.salamander import render_notes

    # C#4 is C4 shifted up a semitone, Ab4 is A4 shifted down one, C4 is unshifted
    notes = [(0.5, 1.2, 61, 80), (1.5, 2.3, 68, 80), (3.0, 3.6, 60, 90)]
    wav = render_notes(notes, SR, tail=1.0)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert len(wav) == round((3.6 + 1.0) * SR)  # the last note-off plus the tail
    assert np.abs(wav[:int(0.49 * SR)]).max() < 1e-6  # silence before the first note
    assert np.sqrt(np.mean(wav[int(0.5 * SR):int(0.7 * SR)] ** 2)) > 1e-3
    for start, end, pitch, _ in notes:
        segment = wav[int((start + 0.05) * SR):int((end - 0.05) * SR)]
        found = peak_frequency(segment, midi_hz(pitch))
        assert abs(1200 * np.log2(found / midi_hz(pitch))) < 10, (pitch, found, midi_hz(pitch))
    # the damper: quiet once the release after a note-off is over, before the next note
    ringing = np.sqrt(np.mean(wav[int(1.6 * SR):int(2.2 * SR)] ** 2))
    assert np.sqrt(np.mean(wav[int(2.6 * SR):int(2.95 * SR)] ** 2)) < 0.01 * ringing


@needs_salamander
def test_sampler_velocity_sets_the_level_and_midi_files_play(tmp_path):
    from audiolm.data.pieces import generate_piece, write_midi
    from audiolm.data.salamander import midi_notes, render_midi, render_notes

    rms = [np.sqrt(np.mean(render_notes([(0.0, 1.0, 64, v)], SR, tail=0.0) ** 2)) for v in (40, 80, 120)]
    assert rms[0] < rms[1] < rms[2] and rms[2] > 3 * rms[0]
    spec = generate_piece(5, 6, 8)
    write_midi(spec, tmp_path / "p.mid")
    notes = midi_notes(tmp_path / "p.mid")
    assert len(notes) == len(spec.notes)
    assert all(abs(a[0] - b.start) < 0.01 and abs(a[1] - b.end) < 0.01 and a[2:] == (b.pitch, b.velocity)
               for a, b in zip(notes, sorted(spec.notes, key=lambda n: (n.start, n.end, n.pitch))))
    wav = render_midi(tmp_path / "p.mid", SR)
    assert abs(len(wav) / SR - (spec.seconds + 2.5)) < 0.02 and 0.005 < np.sqrt(np.mean(wav ** 2)) < 0.3
    assert np.abs(wav).max() <= 0.99


def test_sampler_missing_folder_is_a_clear_error(tmp_path):
    from audiolm.data.salamander import render_notes

    with pytest.raises(FileNotFoundError, match="Salamander Grand Piano notes"):
        render_notes([(0.0, 1.0, 60, 80)], SR, folder=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="C4v8.ogg"):
        render_notes([(0.0, 1.0, 60, 80)], SR, folder=tmp_path / "empty")


def test_corpus_config_defaults_are_stored_as_before(tmp_path, monkeypatch):
    from audiolm.data import piano_corpus

    config = PianoCorpusConfig()
    assert set(stored_config(config)) == OLD_FIELDS  # corpus.json of a default corpus is unchanged
    assert config.salamander_share == 0 and config.room_share == 0
    assert stored_config(PianoCorpusConfig(room_share=0.5))["room_share"] == 0.5
    # a corpus built before the new fields counts as built with the defaults: nothing is re-rendered
    old = {k: v for k, v in asdict(PianoCorpusConfig(hours=0.01)).items() if k in OLD_FIELDS}
    (tmp_path / "corpus.json").write_text(json.dumps({"config": old, "kind": "piano"}))
    (tmp_path / "metadata.jsonl").write_text("")
    monkeypatch.setattr(piano_corpus, "renderer_missing", lambda: pytest.fail("the corpus was rebuilt"))
    assert piano_corpus.build_piano_corpus(tmp_path, PianoCorpusConfig(hours=0.01)) == tmp_path
    assert piano_corpus.PianoCorpus(tmp_path).config == PianoCorpusConfig(hours=0.01)


@needs_fluidsynth
def test_default_corpus_is_the_fluidsynth_render(tmp_path):
    import soundfile as sf

    from audiolm.data.piano_corpus import build_piano_corpus, find_soundfont, render

    config = PianoCorpusConfig(hours=0.001, heldout_pieces=1, min_seconds=6, max_seconds=8)
    root = build_piano_corpus(tmp_path / "c", config, workers=1)
    assert json.loads((root / "corpus.json").read_text())["config"] == {
        k: v for k, v in asdict(config).items() if k in OLD_FIELDS}
    records = [json.loads(line) for line in open(root / "metadata.jsonl")]
    assert {r["split"] for r in records} == {"train", "heldout"}
    for record in records:
        assert "instrument" not in record and "room" not in record
        again = render(root / record["midi"], tmp_path / "again.wav", SR, config.gain, find_soundfont())
        stored, _ = sf.read(root / record["path"], dtype="float32")
        assert np.abs(stored - sf.read(tmp_path / "again.wav", dtype="float32")[0]).max() == 0
        assert len(again) == len(stored)


@needs_salamander
def test_salamander_and_room_shares_are_recorded(tmp_path):
    from audiolm.data.piano_corpus import PianoCorpus, build_piano_corpus

    config = PianoCorpusConfig(hours=0.001, heldout_pieces=2, min_seconds=6, max_seconds=8, salamander_share=1.0,
                               room_share=1.0)
    corpus = PianoCorpus(build_piano_corpus(tmp_path, config, workers=1))  # no fluidsynth needed at share 1
    assert corpus.config == config
    assert json.loads((tmp_path / "corpus.json").read_text())["config"]["salamander_share"] == 1.0
    assert len(corpus.split("heldout")) == 2 and corpus.split("train")
    for record in corpus.records:
        assert record["instrument"] == "salamander" and isinstance(record["room"], dict)
        assert set(record["room"]) == {"measured", "size", "rt60", "source", "microphone"}
        wav = corpus.audio(record)
        assert abs(len(wav) / SR - record["seconds"]) < 1e-3 and np.abs(wav).max() < 1
        assert np.sqrt(np.mean(wav ** 2)) > 1e-3


@needs_fluidsynth
def test_a_longer_corpus_starts_with_the_shorter_ones_pieces(tmp_path):
    """More hours only add pieces: the shorter corpus' training pieces come first, note for note and sample for
    sample, and the held-out pieces are the same. So stages trained on the shorter corpus saw a part of the
    longer one's training split and none of its held-out pieces (the piano bundle mixes such stages)."""
    from audiolm.data.piano_corpus import PianoCorpus, build_piano_corpus

    config = PianoCorpusConfig(hours=0.002, heldout_pieces=2, min_seconds=6, max_seconds=8, room_share=0.5)
    short = PianoCorpus(build_piano_corpus(tmp_path / "short", config, workers=1))
    long = PianoCorpus(build_piano_corpus(tmp_path / "long", replace(config, hours=0.006), workers=1))
    short_train, long_train = short.split("train"), long.split("train")
    assert len(long_train) > len(short_train) > 0
    for a, b in zip(short_train + short.split("heldout"), long_train[:len(short_train)] + long.split("heldout")):
        assert a == b
        np.testing.assert_array_equal(short.audio(a), long.audio(b))


@needs_salamander
@needs_fluidsynth
def test_mixed_shares_follow_the_per_piece_draw(tmp_path):
    from audiolm.data.piano_corpus import PianoCorpus, build_piano_corpus

    config = PianoCorpusConfig(hours=0.003, heldout_pieces=4, min_seconds=6, max_seconds=8, salamander_share=0.5,
                               room_share=0.5)
    corpus = PianoCorpus(build_piano_corpus(tmp_path, config, workers=1))
    for record in corpus.records:
        draw = np.random.default_rng([record["seed"], 16])
        assert record["instrument"] == ("salamander" if draw.random() < 0.5 else "fluidsynth")
        assert (record["room"] is not None) == (draw.random() < 0.5)


def struck_notes(seconds: float = 6.0, rate: float = 3.0) -> np.ndarray:
    """Decaying harmonic notes of a C major arpeggio, one every 1/rate s."""
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for k, start in enumerate(np.arange(0, seconds, 1 / rate)):
        f, tt = midi_hz((60, 64, 67, 72)[k % 4]), t - start
        on = tt >= 0
        out[on] += np.exp(-5 * tt[on]) * sum(np.sin(2 * np.pi * f * h * tt[on]) / h for h in (1, 2, 3, 4))
    return (0.1 * out).astype(np.float32)


def smear(wav: np.ndarray, seconds: float, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = fftconvolve(wav, rng.standard_normal(len(t)) * np.exp(-3 * t / seconds))[:len(wav)]
    out *= np.sqrt(np.mean(wav ** 2) / np.mean(out ** 2))
    return (out + rng.standard_normal(len(wav)) * np.sqrt(np.mean(wav ** 2) / 10 ** (snr_db / 10))).astype(np.float32)


def test_note_clarity_ranks_clean_notes_above_smeared_ones():
    clean = note_clarity(struck_notes(), SR)
    smeared = note_clarity(smear(struck_notes(), 1.0, 40), SR)
    noisy = note_clarity(smear(struck_notes(), 0.3, 10), SR)
    assert clean["onset_peakiness"] > smeared["onset_peakiness"] + 1 and clean["onset_peakiness"] > 4
    assert clean["onset_peakiness"] > noisy["onset_peakiness"] + 1
    assert clean["spectral_flatness"] < smeared["spectral_flatness"] < noisy["spectral_flatness"]
    assert note_clarity(np.zeros(SR, np.float32), SR) == {"onset_peakiness": 0.0, "spectral_flatness": 1.0}


def test_evaluate_music_reports_clarity_of_real_and_generated(monkeypatch):
    from audiolm.evaluation import music

    class Corpus:
        records = [{"id": f"heldout-{i}", "split": "heldout", "seconds": 14.0, "tonic": 0, "mode": "major"}
                   for i in range(3)]

        def split(self, name):
            return self.records

        def audio(self, record):
            return struck_notes(14.0, 2.0 + int(record["id"][-1]))

    class Model:  # continues every prompt with a smeared texture
        config = SimpleNamespace(sample_rate=SR)

        def continuation(self, prompt, seconds, seed=0):
            tail = smear(struck_notes(seconds, 3.0), 1.0, 10, seed)
            return SimpleNamespace(audio=np.concatenate([prompt, tail])[None], prompt_samples=len(prompt))

    monkeypatch.setattr(music, "codec_metrics", lambda model, waves: ({}, []))
    monkeypatch.setattr(music, "continuation_rtf", lambda model, prompt: {"threads": 1,
                                                                          "continuation_marginal_rtf": 0.1})
    results = music.evaluate_music(Model(), Corpus(), music.MusicEvalConfig(codec_pieces=1, prompts=3))
    clarity = results["continuation"]["note_clarity"]
    assert set(clarity) == {"prompt", "real", "generated"}
    assert clarity["real"]["onset_peakiness"] > clarity["generated"]["onset_peakiness"] + 1
    assert clarity["real"]["spectral_flatness"] < clarity["generated"]["spectral_flatness"]
    report = music.markdown(results)
    assert "note clarity" in report and f"{clarity['real']['onset_peakiness']:.2f}" in report
    del results["continuation"]["note_clarity"]  # results written before the figure still render
    assert "note clarity" not in music.markdown(results)


def test_piano_mixed_recipe_plays_both_pianos_with_a_6s_pinned_context():
    """The piano v2 recipe: a piano-domain recipe whose corpus mixes the Salamander notes and rooms in,
    an interleaved coarse stage of at least 6 s (the issue's bar) trained for guidance, warm starts, longer training."""
    from audiolm.training.recipes import RECIPES, tiny_recipe

    recipe = RECIPES["piano-mixed"]()
    assert recipe.domain.name == "piano" and recipe.bundle.domain == "piano"
    assert 0 < recipe.corpus.salamander_share < 1 and 0 < recipe.corpus.room_share < 1
    assert recipe.bundle.coarse_layout == "interleaved" and recipe.coarse_size.cond_dropout > 0
    assert recipe.coarse_size.window_frames / recipe.bundle.acoustic_rate >= 6.0
    assert recipe.codec_train.init_from == "checkpoints/piano/codec"
    # trained on from the shipped stage (itself 6750 steps on 48 h, longer than v1's 1500), now reading the prompt's tempo
    assert recipe.coarse_train.init_from == "checkpoints/piano/coarse"
    assert recipe.coarse_size.style == "onset_rate" and 0 < recipe.coarse_size.style_dropout < 1
    # the stages never see a piece's ending (its last chord's decay and 2-3 s of silence)
    assert recipe.stage_tail_seconds >= 3.0 and RECIPES["piano"]().stage_tail_seconds == 0
    tiny = tiny_recipe("piano-mixed")
    assert tiny.kind == "piano-mixed" and tiny.bundle.coarse_layout == "interleaved"
    assert tiny.coarse_size.cond_dropout == recipe.coarse_size.cond_dropout


def test_piano_mixed_card_credits_both_pianos_and_names_its_eval_data():
    import torch

    from audiolm.pipeline import GenerationSettings
    from audiolm.training.model_card import model_card
    from audiolm.training.recipes import RECIPES

    part = torch.nn.Linear(2, 2)
    model = SimpleNamespace(codec=part, semantic_tokenizer=part, semantic_stage=part, coarse_stage=part,
                            fine_stage=part, default_settings=GenerationSettings())
    mixed = model_card(RECIPES["piano-mixed"](), model, {}, None)
    assert "Salamander Grand Piano" in mixed.split("## Data")[0]  # in the title
    licence = mixed.split("## License")[1]
    assert "CC BY 3.0" in licence and "OpenAIR" in licence and "FluidR3" in licence
    assert "--data data/piano-mixed" in mixed
    v1 = model_card(RECIPES["piano"](), model, {}, None)
    assert "Salamander" not in v1 and "--data data/piano`" in v1


def test_card_counts_a_warm_start_from_a_run(tmp_path):
    import json as json_module

    from audiolm.training.model_card import _warm_start
    run = tmp_path / "coarse-flat"
    (run / "model").mkdir(parents=True)
    (run / "state.json").write_text(json_module.dumps({"step": 3000, "elapsed": 7524.0}))
    note, minutes = _warm_start(str(run / "model"))
    assert minutes == pytest.approx(125.4) and "3000 steps, 125.4 min" in note
    assert _warm_start("checkpoints/piano/coarse") == (", warm-started from `checkpoints/piano/coarse`", 0.0)
    assert _warm_start("") == ("", 0.0)


@pytest.mark.parametrize("bundle,recipe", [("checkpoints/piano", "piano-mixed"), ("checkpoints/speech", "speech-mixed")])
def test_the_shipped_bundles_sample_as_their_recipes_say(bundle, recipe):
    """A bundle's generation_config.json, edited after a measurement, and its recipe's sampling agree: a
    retrained bundle samples as the shipped one."""
    from audiolm.pipeline import GenerationSettings
    from audiolm.training.recipes import RECIPES
    assert GenerationSettings.load(bundle) == RECIPES[recipe]().sampling


def test_piano_sweep_varies_one_setting_at_a_time(repo_script):
    """benchmarks/piano_sweep.py: each value asked for is one setting, the bundle's own but for that field;
    nothing asked for is the bundle's own settings alone."""
    from audiolm.pipeline import GenerationSettings
    from audiolm.sampling import SamplingConfig

    sweep = repo_script("benchmarks/piano_sweep.py")
    own = GenerationSettings(semantic=SamplingConfig(1.0, prefix_knn=0.6), coarse=SamplingConfig(1.1), fine_by_example=4)
    assert sweep.settings_to_try(own) == {"the bundle's own": own}
    tried = sweep.settings_to_try(own, coarse_guidance=[1, 3], semantic_temperature=[1.2])
    assert list(tried) == ["semantic T 1.2", "coarse guidance 1", "coarse guidance 3"]
    assert tried["coarse guidance 3"] == replace(own, coarse=replace(own.coarse, guidance=3))
    assert tried["coarse guidance 1"] == own
    assert tried["semantic T 1.2"] == replace(own, semantic=replace(own.semantic, temperature=1.2))
    tried = sweep.settings_to_try(own, coarse_style_guidance=[2])
    assert tried == {"coarse style guidance 2": replace(own, coarse=replace(own.coarse, style_guidance=2))}
