"""Piano: generated pieces, the rendered corpus, the music metrics and the tiny piano recipe."""
import json
import subprocess
import sys

import numpy as np
import pytest

from audiolm.data.piano_corpus import renderer_missing
from audiolm.data.pieces import MAJOR, MINOR, generate_piece, write_midi
from audiolm.evaluation.music import chroma_correlation, estimate_key, mean_chroma, onset_rate

needs_fluidsynth = pytest.mark.skipif(renderer_missing() is not None,
                                      reason=str(renderer_missing()))
SR = 16000


def tone(pitches, seconds=2.0, onsets_per_s=0.0):
    """Decaying harmonic tones of MIDI ``pitches`` (all at once), re-struck ``onsets_per_s`` times a second."""
    t = np.arange(int(seconds * SR)) / SR
    period = 1 / onsets_per_s if onsets_per_s else seconds
    env = np.exp(-4 * (t % period))
    wav = sum(np.sin(2 * np.pi * 440 * 2 ** ((p - 69) / 12) * k * t) / k for p in pitches for k in (1, 2, 3))
    return (0.1 * env * wav).astype(np.float32)


def test_pieces_are_reproducible_and_varied():
    a, b = generate_piece(7), generate_piece(7)
    assert a.summary() == b.summary() and a.notes == b.notes
    specs = [generate_piece(s) for s in range(40)]
    assert len({s.key for s in specs}) > 12 and {s.meter for s in specs} == {"4/4", "3/4", "6/8"}
    assert len({s.style for s in specs}) >= 4 and all(70 <= s.tempo <= 160 for s in specs)
    assert all(15 <= s.seconds <= 50 for s in specs)


def test_piece_notes_stay_in_key():
    for seed in range(20):
        spec = generate_piece(seed)
        scale = {(spec.tonic + d) % 12 for d in (MAJOR if spec.mode == "major" else MINOR)}
        if spec.mode == "minor":
            scale.add((spec.tonic + 11) % 12)  # the raised leading tone of the major V chord
        outside = [n for n in spec.notes if n.pitch % 12 not in scale]
        assert not outside, (seed, spec.key, outside[:3])


def test_midi_round_trip(tmp_path):
    import mido

    spec = generate_piece(3)
    write_midi(spec, tmp_path / "p.mid")
    midi = mido.MidiFile(tmp_path / "p.mid")
    t, starts = 0.0, []
    for message in midi:  # iterating a MidiFile yields times in seconds
        t += message.time
        if message.type == "note_on" and message.velocity > 0:
            starts.append((round(t, 2), message.note))
    assert sorted(starts) == sorted((round(n.start, 2), n.pitch) for n in spec.notes)
    assert abs(midi.length - spec.seconds) < 0.01


def test_chroma_key_and_onset_metrics():
    c_major, a_flat = mean_chroma(tone([60, 64, 67]), SR), mean_chroma(tone([56, 60, 63]), SR)
    assert chroma_correlation(c_major, mean_chroma(tone([48, 64, 67, 72]), SR)) > 0.8  # same chord, voiced apart
    assert chroma_correlation(c_major, a_flat) < chroma_correlation(c_major, c_major) - 0.5
    assert estimate_key(mean_chroma(tone([60, 62, 64, 65, 67, 69, 71, 72]), SR)) == (0, "major")
    assert estimate_key(mean_chroma(tone([57, 60, 64, 69, 72, 76]), SR)) == (9, "minor")  # A minor triads
    assert onset_rate(tone([60], 4.0, onsets_per_s=4), SR) == pytest.approx(4, abs=0.5)
    assert onset_rate(tone([60], 4.0, onsets_per_s=1), SR) == pytest.approx(1, abs=0.3)


@needs_fluidsynth
def test_rendered_corpus_matches_its_scores(tmp_path):
    from audiolm.data.piano_corpus import PianoCorpus, PianoCorpusConfig, build_piano_corpus

    corpus = PianoCorpus(build_piano_corpus(tmp_path, PianoCorpusConfig(hours=0.01, heldout_pieces=2,
                                                                         min_seconds=8, max_seconds=12)))
    train, heldout = corpus.split("train"), corpus.split("heldout")
    assert train and len(heldout) == 2 and not {r["seed"] for r in train} & {r["seed"] for r in heldout}
    hits, rate_ratios = 0, []
    for record in train + heldout:
        wav = corpus.audio(record)
        assert wav.ndim == 1 and np.abs(wav).max() < 1 and np.sqrt(np.mean(wav ** 2)) > 1e-3
        assert abs(len(wav) / SR - record["seconds"]) < 1e-3 and record["seconds"] >= max(record["onsets"])
        hits += estimate_key(mean_chroma(wav, SR)) == (record["tonic"], record["mode"])
        played = wav[: int(max(record["onsets"]) * SR)]  # up to the last note-on: no reverb tail
        rate_ratios.append(onset_rate(played, SR) / (len(record["onsets"]) / (len(played) / SR)))
    assert hits >= 0.5 * len(train + heldout)  # the audio is in the key its score says (estimator is not perfect)
    assert 0.75 < np.mean(rate_ratios) < 1.3  # detected onsets follow the score's note-ons


@pytest.fixture(scope="module")
def tiny_piano_run(tmp_path_factory):
    if renderer_missing():
        pytest.skip(renderer_missing())
    root = tmp_path_factory.mktemp("piano")
    work, data, out = root / "work", root / "data", root / "bundle"
    subprocess.run([sys.executable, "-m", "audiolm", "train", "all", "--recipe", "piano", "--tiny", "--device", "cpu",
                    "--work", str(work), "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True, timeout=900)
    return work, data, out


def test_tiny_piano_recipe_bundle_and_eval(tiny_piano_run, tmp_path):
    from safetensors.torch import load_file

    from audiolm import AudioLM

    work, data, out = tiny_piano_run
    assert json.loads((work / "recipe.json").read_text())["kind"] == "piano"
    model = AudioLM.from_pretrained(out)
    assert model.config.domain == "piano"
    weights = load_file(out / "coarse" / "model.safetensors")
    assert any(v.dtype.is_floating_point is False and k.endswith("weight") for k, v in weights.items())  # int8
    card = (out / "README.md").read_text()
    assert "piano" in card and "int8" in card and "train all --recipe piano" in card
    result = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "audiolm", "eval", "--bundle", str(out), "--data", str(data),
                           "--threads", "1", "--prompts", "2", "--out", str(result)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(result.read_text())
    assert figures["kind"] == "piano" and figures["continuation"]["prompts"] == 2
    for side in ("generated", "real_continuation"):
        assert -1 <= figures["continuation"][side]["chroma_correlation"] <= 1
    assert "| codec, Q=4 levels | mel distance / PESQ-WB / STOI |" in proc.stdout


def test_piano_examples_keep_the_speech_section(tiny_piano_run, tmp_path):
    work, data, _ = tiny_piano_run
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "README.md").write_text("# Examples\n\n## speech\n\nspeech prompts\n")
    subprocess.run([sys.executable, "-m", "audiolm", "train", "examples", "--work", str(work), "--data", str(data),
                    "--out", str(folder)], check=True, capture_output=True, timeout=300)
    wavs = sorted(folder.glob("piano-heldout-*.wav"))
    assert len(wavs) == 3
    text = (folder / "README.md").read_text()
    assert "## speech\n\nspeech prompts" in text and "## piano" in text and wavs[0].name in text
