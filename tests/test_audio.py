import warnings

import numpy as np
import pytest
import soundfile

from audiolm.audio import AudioLimits, load_audio, prepare_audio, save_audio
from audiolm.bench import synthetic_voice
from audiolm.errors import AudioInputError


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_formats_load_to_mono_16k(tmp_path, fmt, ext):
    wav = synthetic_voice(1.0, 22050)
    path = tmp_path / f"x.{ext}"
    soundfile.write(path, np.stack([wav, wav], 1), 22050, format=fmt)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 16000) < 1200  # mp3 adds encoder delay/padding


def test_96k_stereo_is_resampled_and_mixed(tmp_path):
    t = np.arange(96000) / 96000
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    path = tmp_path / "hi.wav"
    soundfile.write(path, np.stack([left, right], 1).astype(np.float32) * 0.5, 96000)
    out = load_audio(path)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s -> 1 Hz bins
    assert 0.2 < np.abs(out).max() < 0.3  # mixed to mono: half the left channel


def test_int16_arrays_are_scaled():
    pcm = (synthetic_voice(1.0, 16000) * 32767).astype(np.int16)
    out = prepare_audio(pcm, 16000)
    assert np.abs(out).max() <= 1.0 and np.abs(out).max() > 0.1


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt garbage that is not audio", "decode"),
])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioInputError, match=match):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioInputError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_too_short():
    with pytest.raises(AudioInputError, match="at least 0.5 s"):
        prepare_audio(synthetic_voice(0.1, 16000), 16000)


def test_too_long_is_trimmed_with_warning_or_refused():
    ten_minutes = np.tile(synthetic_voice(1.0, 8000), 600)
    with pytest.warns(UserWarning, match="first 30 s"):
        out = prepare_audio(ten_minutes, 8000)
    assert len(out) == 30 * 16000
    with pytest.raises(AudioInputError, match="limit is 30 s"):
        prepare_audio(ten_minutes, 8000, limits=AudioLimits(on_too_long="error"))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite(bad):
    wav = synthetic_voice(1.0, 16000)
    wav[100] = bad
    with pytest.raises(AudioInputError, match="NaN or infinite"):
        prepare_audio(wav, 16000)


def test_silence_and_empty():
    with pytest.raises(AudioInputError, match="silent"):
        prepare_audio(np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioInputError, match="empty"):
        prepare_audio(np.zeros(0, np.float32), 16000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(prepare_audio(np.zeros(16000, np.float32), 16000, limits=AudioLimits(allow_silence=True))) == 16000


def test_save_round_trip(tmp_path):
    wav = synthetic_voice(1.0, 16000)
    path = save_audio(tmp_path / "sub" / "o.wav", wav, 16000)
    back, sr = soundfile.read(path, dtype="float32")
    assert sr == 16000 and np.abs(back - wav).max() < 1e-3
