"""Evaluation v2: the independent judges, the reference codecs and the token-invariance figures,
each on a constructed case whose right answer is known."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiolm.testing import synthetic_voice
from audiolm.evaluation.anchors import Codec2, Opus, RoundTrip, Uncoded, align, side_by_side
from audiolm.evaluation.metrics import mel_distance, pesq_wb, stoi
from audiolm.evaluation.report import voices_table
from audiolm.evaluation.tables import codec_table
from audiolm.evaluation.similarity import SpeakerEmbedder, centroids, cosine, nearest
from audiolm.evaluation.token_speakers import bag, bag_speaker_id, cross_voice_distances, dedup, edit_distance
from test_training import needs_espeak

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
needs_resemblyzer = pytest.mark.skipif(SpeakerEmbedder.unavailable() is not None, reason="resemblyzer not installed")


def espeak_utterances(voices: list[tuple[str, int]], texts: list[str]) -> dict:
    """``{(voice index, text index): 16 kHz float32}`` spoken by espeak-ng voices (variant, pitch)."""
    import soxr

    from audiolm.data.espeak import Espeak, Voice
    engine = Espeak()
    out = {}
    for v, (variant, pitch) in enumerate(voices):
        for t, text in enumerate(texts):
            utt = engine.synthesize(text, Voice("en-us", variant, pitch, 50, 160))
            out[(v, t)] = soxr.resample(utt.audio.astype(np.float32) / 32768, utt.sample_rate, 16000)
    return out


TEXTS = ["The quick brown fox jumps over the lazy dog near the river bank.",
         "She sells sea shells by the sea shore every summer morning.",
         "A large yellow boat sailed slowly across the quiet lake today."]


@needs_resemblyzer
def test_identical_audio_has_similarity_one():
    embedder = SpeakerEmbedder()
    x = synthetic_voice(3.0, 16000, seed=1)
    a, b = embedder.embed(x), embedder.embed(x.copy())
    assert cosine(a, b) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)


@needs_resemblyzer
@needs_espeak
def test_utterance_is_nearer_its_own_speaker_than_noise_or_another_voice():
    embedder = SpeakerEmbedder()
    speech = espeak_utterances([("m3", 30), ("f4", 70)], TEXTS)
    noise = np.random.default_rng(0).normal(scale=0.1, size=3 * 16000).astype(np.float32)
    enrolled = centroids({"low": embedder.embed_all([speech[(0, 0)], speech[(0, 1)]]),
                          "high": embedder.embed_all([speech[(1, 0)], speech[(1, 1)]]),
                          "noise": embedder.embed_all([noise])})
    for voice, name in ((0, "low"), (1, "high")):
        e = embedder.embed(speech[(voice, 2)])  # an utterance not in the centroid
        assert nearest(e, enrolled) == name
        assert cosine(e, enrolled[name]) > cosine(e, enrolled["noise"])


def test_align_recovers_a_known_delay():
    x = synthetic_voice(1.0, 16000, seed=2)
    for delay in (0, 37, 312, -120):
        delayed = np.r_[np.zeros(delay, np.float32), x] if delay >= 0 else x[-delay:]
        aligned = align(x, delayed, max_shift=800)
        assert len(aligned) == len(x)
        usable = slice(200, len(x) - 400)  # the edges lose what the shift pushed out
        np.testing.assert_array_equal(aligned[usable], x[usable])


def example_speech() -> np.ndarray:
    wav, sr = sf.read(EXAMPLES / "speech-heldout-48.wav", dtype="float32")
    assert sr == 16000
    return wav


@pytest.mark.parametrize("codec", [Opus(6.0), Opus(8.0), Codec2(3200)], ids=lambda c: c.name)
def test_reference_codecs_round_trip_speech(codec):
    if codec.unavailable():
        pytest.skip(codec.unavailable())
    x = example_speech()
    y = codec(x, 16000)
    assert y.shape == x.shape and y.dtype == np.float32
    assert stoi(x, y) > 0.75  # intelligible, and in step with the original


def test_opus_rates_rank():
    low, high = Opus(6.0), Opus(8.0)
    if low.unavailable():
        pytest.skip(low.unavailable())
    x = example_speech()
    assert mel_distance(x, high(x, 16000)) < mel_distance(x, low(x, 16000))
    assert pesq_wb(x, high(x, 16000)) > pesq_wb(x, low(x, 16000))


class Missing(RoundTrip):
    name, kbps, tools, install_hint = "nothing", 1.0, ("no-such-codec-tool",), "no-such-package"


def test_side_by_side_skips_missing_tools_and_scores_identity():
    x = synthetic_voice(2.0, 16000, seed=5)
    rows = side_by_side([Uncoded(), Missing()], [x], 16000)
    assert rows[0]["stoi"] == pytest.approx(1.0) and rows[0]["mel_distance"] == 0.0 and rows[0]["pesq_wb"] > 4.5
    assert rows[1]["skipped"].startswith("skipped: install no-such-package")
    text = codec_table({"real": rows})
    assert "skipped: install no-such-package" in text and "4.6" in text


def test_bags_of_ids_tell_speakers_apart_only_when_they_differ():
    rng = np.random.default_rng(0)
    # speaker k draws its ids from its own 10-id range: bags separate them perfectly
    distinct = [bag(rng.integers(10 * k, 10 * k + 10, 200), 50) for k in range(4) for _ in range(5)]
    labels = [k for k in range(4) for _ in range(5)]
    assert bag_speaker_id(np.stack(distinct), labels) == 1.0
    # every speaker draws from the same distribution: no better than chance (0.25) by much
    shared = [bag(rng.integers(0, 50, 200), 50) for _ in range(20)]
    assert bag_speaker_id(np.stack(shared), labels) <= 0.5


def test_edit_distance_and_dedup():
    assert dedup([3, 3, 5, 5, 5, 3]) == [3, 5, 3]
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0.0
    assert edit_distance([1, 2, 3], [4, 5, 6]) == 1.0
    assert edit_distance([1, 2, 3, 4], [1, 2, 3, 5]) == pytest.approx(0.25)


def test_cross_voice_distances_separate_same_and_different_sentences():
    rng = np.random.default_rng(1)
    sentences = [rng.integers(0, 100, 40) for _ in range(3)]
    # invariant tokens: each voice says a sentence with the same ids, only held for different lengths
    invariant = {(s, v): np.repeat(sentences[s], 1 + v) for s in range(3) for v in range(3)}
    d = cross_voice_distances(invariant)
    assert d["same_sentence"] == 0.0 and d["different_sentences"] > 0.8
    assert d["pairs_same"] == 3 * 3 and d["pairs_different"] == 3 * 2 * 3  # cross-voice pairs only
    # speaker-bound tokens: each voice its own ids whatever the sentence
    bound = {(s, v): rng.integers(100 * (v + 1), 100 * (v + 2), 40) for s in range(3) for v in range(3)}
    assert cross_voice_distances(bound)["same_sentence"] > 0.8


def test_voices_table_without_real_voices_says_why():
    figures = {"speakers": 2, "continuation": {"prompts": 2, "sim_continuation": 0.8, "nearest_is_prompt_speaker": 1.0,
                                               "speaker_id_accuracy": 0.5, "copied_4grams": 0.06,
                                               "real_next_copied_4grams": 0.035},
               "acoustic_generation": {"inputs": 2}, "reference": {"sim_same_speaker": 0.9},
               "real_voices": {"skipped": "no real held-out voices (pass --real-voices DIR)"}}
    text = voices_table(figures)
    assert "SIM 0.80; nearest = prompt's speaker 100.0 %" in text
    assert "| semantic ids | 6.0 % (real next 4 s: 3.5 %) | — |" in text  # real voices skipped: a dash
    assert "pass --real-voices DIR" in text


def test_mos_predictor_prefers_clean_speech():
    from audiolm.evaluation.mos import MOSPredictor
    if MOSPredictor.unavailable():
        pytest.skip(MOSPredictor.unavailable())
    mos = MOSPredictor()
    x = example_speech()
    noisy = x + np.random.default_rng(0).normal(scale=0.3, size=x.shape).astype(np.float32)
    clean_score, noisy_score = mos.predict(x), mos.predict(noisy)
    assert 1.0 <= noisy_score < clean_score <= 5.0


def test_mos_import_leaves_no_torchaudio_stand_in():
    import sys

    from audiolm.evaluation.mos import MOSPredictor
    MOSPredictor.unavailable()
    module = sys.modules.get("torchaudio")
    assert module is None or not type(module).__name__.startswith("_Unused")


@pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools not installed")
def test_opus_missing_file_error_is_clear(tmp_path):
    with pytest.raises(RuntimeError, match="opusdec|opusenc"):
        from audiolm.evaluation.anchors import _run
        _run(["opusenc", "--quiet", str(tmp_path / "missing.wav"), str(tmp_path / "x.opus")])
