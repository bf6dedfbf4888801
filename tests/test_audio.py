import warnings

import numpy as np
import pytest
import soundfile

from audiolm.audio import AudioLimits, check_output_path, load_audio, prepare_audio, save_audio, to_pcm16
from audiolm.testing import synthetic_voice
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


def test_a_long_many_channel_file_is_decoded_only_as_far_as_it_is_used(tmp_path):
    """Peak memory does not grow with the file: 3 min of 8 channels (46 MB of PCM, 92 MB as float32) are
    read block by block, mixed to mono as they come, and only the first 30 s of them."""
    import tracemalloc

    path, sr = tmp_path / "long.wav", 16000
    voice = synthetic_voice(1.0, sr).astype(np.float32)
    with soundfile.SoundFile(path, "w", sr, 8, "PCM_16") as f:
        for _ in range(180):
            f.write(np.repeat(voice[:, None], 8, 1))
    assert path.stat().st_size > 45e6
    tracemalloc.start()
    try:
        with pytest.warns(UserWarning, match="180.0 s long; using its first 30 s"):
            out = load_audio(path, sr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(out) == 30 * sr and np.allclose(out[:sr], voice, atol=1e-3)
    assert peak < 40e6, f"decoding took {peak / 1e6:.0f} MB"  # 30 s of mono + a block; the whole file: 92 MB
    with pytest.raises(AudioInputError, match="180.0 s long; the limit is 30 s"):
        load_audio(path, sr, AudioLimits(on_too_long="error"))


def test_absurd_sample_rates_are_refused(tmp_path):
    """A 1 Hz header made a 300-byte file a "128 s" input."""
    path = tmp_path / "one-hertz.wav"
    soundfile.write(path, synthetic_voice(1.0, 128)[:128], 1, subtype="PCM_16")
    assert path.stat().st_size < 400
    with pytest.raises(AudioInputError, match="Sample rate 1 Hz is outside 4000-768000 Hz"):
        load_audio(path)
    with pytest.raises(AudioInputError, match="Sample rate 1000000 Hz"):
        prepare_audio(synthetic_voice(1.0, 16000), 1_000_000)


def test_dc_is_silence(tmp_path):
    path = tmp_path / "dc.wav"
    soundfile.write(path, np.full(16000, 0.5, np.float32), 16000)
    with pytest.raises(AudioInputError, match="silent"):
        load_audio(path)
    with pytest.raises(AudioInputError, match="silent"):
        prepare_audio(np.full(16000, -0.3, np.float32) + 1e-6 * synthetic_voice(1.0, 16000), 16000)
    assert len(prepare_audio(0.5 + 0.4 * synthetic_voice(1.0, 16000), 16000)) == 16000  # offset speech is sound


@pytest.mark.parametrize("suffix,subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"),
                                            (".mp3", "MPEG_LAYER_III"), (".aiff", "PCM_16")])
def test_every_output_format_soundfile_writes(tmp_path, suffix, subtype):
    path = save_audio(tmp_path / f"out{suffix}", synthetic_voice(1.0, 16000), 16000)
    assert soundfile.info(path).subtype == subtype and abs(len(load_audio(path)) - 16000) < 1200


def test_written_samples_are_the_rounded_pcm():
    """What the app plays (to_pcm16) and what it writes are the same samples, rounded to nearest."""
    wav = np.array([0.5, -0.5, 1 / 32767 * 0.6, 1.2, -1.2, 0.999999], np.float32)
    assert to_pcm16(wav).tolist() == [16384, -16384, 1, 32767, -32767, 32767]
    import io
    buffer = io.BytesIO()
    soundfile.write(buffer, to_pcm16(wav), 16000, subtype="PCM_16", format="WAV")
    buffer.seek(0)
    assert soundfile.read(buffer, dtype="int16")[0].tolist() == to_pcm16(wav).tolist()


@pytest.mark.parametrize("name,match", [("", "is a folder"), ("noext", "suffixes .wav, .flac"),
                                        ("out.xyz", "suffixes"), ("file.wav/out.wav", "not a writable folder")])
def test_bad_output_paths_are_refused_up_front(tmp_path, name, match):
    (tmp_path / "file.wav").write_bytes(b"x")
    with pytest.raises(AudioInputError, match=match):
        check_output_path(tmp_path / name if name else tmp_path)
    assert check_output_path(tmp_path / "new" / "sub" / "out.flac") == tmp_path / "new" / "sub" / "out.flac"
