"""Corpus groundwork: the held-out guard, speech sources, augmentations and the mixed corpus."""
import json
import random

import numpy as np
import parselmouth
import pytest
import soundfile as sf
from scipy.signal import lfilter

from audiolm.data.augment import (AUGMENTATIONS, BandLimit, BandParams, Noise, NoiseConfig, NoiseParams, Room,
                                  RoomConfig, RoomParams, Speaker, SpeakerParams, make_augmentation)
from audiolm.data.heldout import check_not_heldout, default_heldout_dir, is_heldout
from audiolm.data.mixed_corpus import HELDOUT, TRAIN, MixedCorpus, MixedCorpusConfig, build_mixed_corpus
from audiolm.data.sources import (SOURCES, RealSource, RealSourceConfig, default_real_speech_dirs,
                                  installed_festival_voices, installed_flite_voices, make_source)

SR = 16000


def available(name: str) -> bool:
    try:
        make_source(name)
    except RuntimeError:
        return False
    return True


def vowel(seconds: float = 1.0, f0: float = 120.0, sr: int = SR) -> np.ndarray:
    """An /a/-like vowel: a pulse train at ``f0`` through three formant resonators."""
    t = np.arange(int(seconds * sr)) / sr
    out = (np.diff(np.floor(t * f0), prepend=-1) > 0).astype(np.float64)
    for hz, bandwidth in ((700, 130), (1220, 70), (2600, 160)):
        r, theta = np.exp(-np.pi * bandwidth / sr), 2 * np.pi * hz / sr
        out = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], out)
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def centroid(wav: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(wav)) ** 2
    return float((np.fft.rfftfreq(len(wav), 1 / sr) * spectrum).sum() / spectrum.sum())


def median_f0(wav: np.ndarray, sr: int = SR) -> float:
    pitch = parselmouth.Sound(wav.astype(np.float64), sampling_frequency=sr).to_pitch()
    f0 = pitch.selected_array["frequency"]
    return float(np.median(f0[f0 > 0]))


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


@pytest.fixture
def speech_tree(tmp_path):
    """A fake shared-data tree: librispeech/{train-clean (flat), test-other (nested)} and a nested corpus."""
    train = tmp_path / "librispeech" / "train-clean"
    heldout = tmp_path / "librispeech" / "test-other" / "77" / "1"
    nested = tmp_path / "ocean"
    for folder in (train, heldout, nested / "SPEAKER0001", nested / "SPEAKER0002"):
        folder.mkdir(parents=True)
    for name, f0 in (("11-22-0000", 110), ("11-22-0001", 115), ("12-30-0000", 210)):
        sf.write(train / f"{name}.flac", vowel(0.8, f0), SR)
    sf.write(train / "13-5-0000.wav", vowel(0.8, 150, sr=8000), 8000)  # resampled to 16 kHz
    sf.write(heldout / "77-1-0000.flac", vowel(0.8, 130), SR)
    for spk in ("SPEAKER0001", "SPEAKER0002"):
        for utt in ("a1", "a2"):
            sf.write(nested / spk / f"{spk[-1]}{utt}.flac", vowel(0.6, 180), SR)
    (nested / "text").write_text("1a1\tHELLO THERE\n2a2\tGOOD MORNING\n")
    return tmp_path


# the guard

def test_guard_refuses_heldout_and_accepts_training_folders(speech_tree, tmp_path):
    heldout = speech_tree / "librispeech" / "test-other"
    for path in (heldout, heldout / "77", heldout / "77" / "1" / "77-1-0000.flac", speech_tree / "librispeech",
                 speech_tree):
        with pytest.raises(ValueError, match="held-out"):
            check_not_heldout(path)
    link = tmp_path / "innocent"
    link.symlink_to(heldout)
    with pytest.raises(ValueError, match="held-out"):
        check_not_heldout(link)
    assert is_heldout("/data/LibriSpeech/test-other/1/2/1-2-0000.flac")
    assert not is_heldout("/data/test-other/x.flac")  # not under a librispeech folder
    assert check_not_heldout(speech_tree / "librispeech" / "train-clean") == speech_tree / "librispeech" / "train-clean"
    check_not_heldout(speech_tree / "ocean")


def test_shared_defaults_keep_the_heldout_set_out():
    heldout = default_heldout_dir()
    if heldout is None:
        pytest.skip("../shared/data/speech/librispeech/test-other is not there")
    assert heldout.name == "test-other"
    with pytest.raises(ValueError):
        check_not_heldout(heldout)
    for folder in default_real_speech_dirs():
        check_not_heldout(folder)
        assert not is_heldout(folder)


# sources

def test_real_source_finds_speakers_texts_and_resamples(speech_tree):
    source = RealSource(RealSourceConfig(folders=(str(speech_tree / "librispeech" / "train-clean"),
                                                  str(speech_tree / "ocean"))))
    assert sorted(source.speakers()) == ["ocean/SPEAKER0001", "ocean/SPEAKER0002", "train-clean/11",
                                         "train-clean/12", "train-clean/13"]
    assert len(source.files("train-clean/11")) == 2
    items = list(source.utterances("train-clean/13", random.Random(0)))
    assert len(items) == 1 and items[0].audio.dtype == np.float32 and len(items[0].audio) == int(0.8 * SR)
    texts = {i.origin.rsplit("/", 1)[-1]: i.text for i in source.utterances("ocean/SPEAKER0001", random.Random(0))}
    assert texts == {"1a1.flac": "HELLO THERE", "1a2.flac": None}
    with pytest.raises(ValueError, match="held-out"):
        RealSource(RealSourceConfig(folders=(str(speech_tree / "librispeech"),)))


@pytest.mark.parametrize("name", ["espeak", "flite", "festival"])
def test_synthetic_sources_read_generated_sentences(name):
    if not available(name):
        pytest.skip(f"{name} is not installed (apt-get install {'espeak-ng' if name == 'espeak' else name})")
    source = make_source(name)
    assert source.synthetic and source.speakers()
    item = next(source.utterances(source.speakers()[0], random.Random(0)))
    assert item.audio.dtype == np.float32 and len(item.audio) > SR // 2 and item.text
    assert 0.01 < np.abs(item.audio).max() <= 0.99 + 1e-6


def test_engines_list_their_voices():
    if installed_flite_voices():
        assert {"kal16", "slt"} <= set(installed_flite_voices())
    if installed_festival_voices():
        assert "kal_diphone" in installed_festival_voices()
    assert set(SOURCES) == {"real", "espeak", "flite", "festival"}


# augmentations

@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_keeps_length_and_is_deterministic(name):
    wav = vowel(1.0)
    aug = make_augmentation(name)
    outs = [aug(wav, SR, np.random.default_rng(3)) for _ in range(2)]
    assert outs[0].shape == wav.shape and outs[0].dtype == np.float32
    np.testing.assert_array_equal(outs[0], outs[1])
    assert np.isfinite(outs[0]).all() and power(outs[0]) > 0


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_coloured_noise_at_the_requested_snr(exponent):
    wav = vowel(1.0)
    out = Noise().apply(wav, SR, NoiseParams(15.0, "", exponent), np.random.default_rng(0))
    assert 10 * np.log10(power(wav) / power(out - wav)) == pytest.approx(15.0, abs=0.05)


def test_recorded_noise_at_the_requested_snr(tmp_path):
    sf.write(tmp_path / "hum.wav", np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1, 8000)
    noise = Noise(NoiseConfig(noise_dir=str(tmp_path), file_share=1.0))
    params = noise.sample(np.random.default_rng(0))
    assert params.file == "hum.wav" and 10 <= params.snr_db <= 40
    wav = vowel(1.5)  # longer than the 0.5 s file: it is looped
    out = noise.apply(wav, SR, params, np.random.default_rng(1))
    assert 10 * np.log10(power(wav) / power(out - wav)) == pytest.approx(params.snr_db, abs=0.05)


def test_band_limit_removes_energy_outside_the_band():
    white = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    freqs = np.fft.rfftfreq(SR, 1 / SR)

    def share(out, mask):
        spectrum = np.abs(np.fft.rfft(out)) ** 2
        return spectrum[mask].sum() / spectrum.sum()

    lowpass = BandLimit().apply(white, SR, BandParams(0.0, 4000.0))  # 8th-order Butterworth
    assert share(white, freqs > 4000) > 0.4 and share(lowpass, freqs > 4000) < 0.03
    assert share(lowpass, freqs > 5000) < 1e-3
    phone = BandLimit().apply(white, SR, BandParams(300.0, 3400.0, "gsm"))
    assert share(phone, (freqs < 150) | (freqs > 4000)) < 0.02


def test_pseudo_speaker_moves_formants_and_pitch_the_right_way():
    wav, speaker = vowel(1.0, f0=120), Speaker()
    up = speaker.apply(wav, SR, SpeakerParams(1.3, 1.0, 1.0))
    down = speaker.apply(wav, SR, SpeakerParams(0.8, 1.0, 1.0))
    assert centroid(up) > 1.1 * centroid(wav) and centroid(down) < 0.95 * centroid(wav)
    assert median_f0(up) == pytest.approx(120, rel=0.08)  # formants moved, pitch kept
    higher = speaker.apply(wav, SR, SpeakerParams(1.0, 1.5, 1.0))
    assert median_f0(higher) == pytest.approx(180, rel=0.08)
    a, b = (speaker.sample(np.random.default_rng(7)) for _ in range(2))
    assert a == b  # one seed, one pseudo-speaker


def test_room_lengthens_the_energy_decay(tmp_path):
    burst = np.zeros(SR, np.float32)
    burst[:800] = np.random.default_rng(0).standard_normal(800) * 0.3
    tail = slice(int(0.1 * SR), int(0.4 * SR))
    simulated = Room().apply(burst, SR, RoomParams("", (6.0, 5.0, 3.0), 0.6, (1.5, 2.0, 1.5), (4.0, 3.0, 1.2)))
    assert power(simulated[tail]) > 1e-4 * power(simulated) > 0 and power(burst[tail]) == 0
    decay = np.exp(-np.arange(SR // 2) / (0.1 * 44100)) * np.random.default_rng(1).standard_normal(SR // 2)
    sf.write(tmp_path / "hall.flac", decay.astype(np.float32) * 0.5, 44100)
    room = Room(RoomConfig(rir_dir=str(tmp_path), measured_share=1.0))
    params = room.sample(np.random.default_rng(0))
    assert params.measured == "hall.flac"
    measured = room.apply(burst, SR, params)
    assert power(measured[tail]) > 1e-4 * power(measured)


# the mixed corpus

def test_mixed_corpus_keeps_voices_apart_and_never_reads_heldout(speech_tree):
    train = ("real", "espeak") if available("espeak") else ("real",)
    heldout = ("flite",) if available("flite") else ()
    config = MixedCorpusConfig(hours=0.004, train_sources=train, heldout_sources=heldout, heldout_minutes=0.05,
                               pseudo_speakers=2, session_utterances=2,
                               real=RealSourceConfig(folders=(str(speech_tree / "librispeech" / "train-clean"),
                                                              str(speech_tree / "ocean"))))
    root = build_mixed_corpus(speech_tree / "corpus", config, workers=1, progress=False)
    corpus = MixedCorpus(root)
    assert corpus.config == config and corpus.records
    voices, conditions = {}, {}
    for r in corpus.records:
        assert r["split"] in (TRAIN, HELDOUT) and (r["split"] == HELDOUT) == (r["source"] in heldout)
        assert not is_heldout(r["origin"]) and "test-other" not in r["origin"]
        wav = corpus.audio(r)
        assert sf.info(root / r["path"]).subtype == "PCM_16" and len(wav) / SR == pytest.approx(r["seconds"], abs=1e-3)
        voice = (r["source"], r["source_speaker"], json.dumps(r["pseudo_speaker"]))
        assert voices.setdefault(r["speaker"], voice) == voice  # one speaker = one source voice x pseudo-speaker
        assert conditions.setdefault(r["session"], (r["speaker"], r["condition"])) == (r["speaker"], r["condition"])
    assert len({v[0] for v in voices.values()}) == len(train) + len(heldout)
    assert sum(r["seconds"] for r in corpus.split(TRAIN)) >= 0.004 * 3600
    manifest = json.loads((root / "corpus.json").read_text())
    assert set(manifest["voices"]) == set(voices)
    assert build_mixed_corpus(root, config, workers=1, progress=False) == root  # complete: returned at once
    for r in corpus.records:  # token streams (training windows) are sessions: one voice, one condition
        assert r["stream"] == r["session"]
    with pytest.raises(ValueError, match="held-out"):
        build_mixed_corpus(speech_tree / "other", MixedCorpusConfig(
            hours=0.001, train_sources=("real",), heldout_sources=(),
            real=RealSourceConfig(folders=(str(speech_tree / "librispeech"),))), workers=1, progress=False)


def test_a_hanging_praat_call_is_cut_off_and_the_answer_kept_otherwise():
    import time

    from audiolm.data.augment.speaker import _with_deadline
    np.testing.assert_array_equal(_with_deadline(lambda: np.arange(300_000, dtype=np.float64), 10.0),
                                  np.arange(300_000))  # more than one pipe buffer comes back whole
    started = time.monotonic()
    assert _with_deadline(lambda: time.sleep(30) or np.zeros(3), 0.5) is None
    assert time.monotonic() - started < 5
    assert _with_deadline(lambda: 1 / 0, 5.0) is None  # a failing call is no answer either
