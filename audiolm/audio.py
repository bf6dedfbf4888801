"""Audio input: any file librosa/soundfile reads -> validated mono float32 at the model rate.

Policy for long inputs: audio longer than ``max_seconds`` is *trimmed* to its first
``max_seconds`` with a warning (a user who uploads a long file still gets a result);
pass ``on_too_long="error"`` to refuse instead. Files are decoded block by block and only as
far as ``max_seconds``, mixed to mono as they are read: the memory a file takes is bounded
whatever its length, rate or channel count.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile

from .errors import AudioInputError

DEFAULT_MIN_SECONDS = 0.5
DEFAULT_MAX_SECONDS = 30.0
SILENCE_RMS = 1e-4  # below this (after removing any DC offset) the audio counts as silent
BLOCK_VALUES = 1 << 20  # samples (frames x channels) decoded at a time


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = DEFAULT_MIN_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS
    on_too_long: str = "trim"  # "trim" (with a warning) or "error"
    allow_silence: bool = False
    min_sample_rate: int = 4000  # telephone speech is 8 kHz; below 4 kHz a header is broken or hostile
    max_sample_rate: int = 768000

    def check_rate(self, sr) -> None:
        if not self.min_sample_rate <= sr <= self.max_sample_rate:
            raise AudioInputError(f"Sample rate {sr} Hz is outside {self.min_sample_rate}-{self.max_sample_rate} Hz: "
                                  "the file's header is broken. Re-export it at a usual rate (16-48 kHz).")

    def keep_frames(self, frames: int, sr: int) -> int:
        """How many of ``frames`` to decode: all, or the first ``max_seconds`` with a warning (or an error)."""
        seconds = frames / sr
        if seconds <= self.max_seconds:
            return frames
        if self.on_too_long == "error":
            raise AudioInputError(f"The audio is {seconds:.1f} s long; the limit is {self.max_seconds:g} s. "
                                  "Cut it shorter.")
        warnings.warn(f"Audio is {seconds:.1f} s long; using its first {self.max_seconds:g} s.", stacklevel=3)
        return int(self.max_seconds * sr)


def load_audio(path: str | Path, sample_rate: int = 16000, limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Read ``path`` (wav, flac, mp3, ogg, ...), mix to mono, resample, validate."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"Audio file not found: {path}. Check the path.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"Audio file {path.name} is empty (0 bytes). Upload a recording.")
    try:
        with warnings.catch_warnings():  # librosa's soundfile -> audioread fallback chatter
            warnings.simplefilter("ignore", FutureWarning)
            wav, sr = _read_mono(path, limits)
    except AudioInputError:
        raise
    except Exception as exc:  # soundfile/audioread raise many unrelated types
        raise AudioInputError(
            f"Could not decode {path.name} ({type(exc).__name__}). "
            "Use a wav, flac, mp3 or ogg file that plays in a media player."
        ) from exc
    return prepare_audio(wav, sr, sample_rate, limits)


def _read_mono(path: Path, limits: AudioLimits) -> tuple[np.ndarray, int]:
    """The first ``limits.max_seconds`` of ``path`` as mono float32, decoded block by block."""
    try:
        file = soundfile.SoundFile(path)
    except soundfile.LibsndfileError:
        return _read_mono_audioread(path, limits)
    with file:
        limits.check_rate(file.samplerate)
        keep = limits.keep_frames(file.frames, file.samplerate)
        mono, filled = np.empty(keep, np.float32), 0
        for block in file.blocks(blocksize=max(1, BLOCK_VALUES // file.channels), frames=keep, dtype="float32",
                                 always_2d=True):
            mono[filled:filled + len(block)] = block.mean(axis=1)
            filled += len(block)
        return mono[:filled], file.samplerate


def _read_mono_audioread(path: Path, limits: AudioLimits) -> tuple[np.ndarray, int]:
    """Formats libsndfile does not read: audioread's header first, then at most ``max_seconds``."""
    import audioread

    with audioread.audio_open(str(path)) as file:
        sr, seconds = file.samplerate, file.duration
    limits.check_rate(sr)
    keep = limits.keep_frames(round(seconds * sr), sr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        wav, sr = librosa.load(path, sr=None, mono=True, duration=keep / sr)
    return wav[:keep], sr


def prepare_audio(wav, sr: int, sample_rate: int = 16000, limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Validate an in-memory signal (``[T]``, ``[C, T]`` or ``[T, C]`` for int/float dtypes)."""
    wav = np.asarray(wav)
    if wav.size == 0:
        raise AudioInputError("The audio is empty. Record or upload at least "
                              f"{limits.min_seconds:g} s of sound.")
    limits.check_rate(sr)
    if np.issubdtype(wav.dtype, np.integer):
        wav = wav.astype(np.float32) / np.iinfo(wav.dtype).max
    wav = wav.astype(np.float32, copy=False)
    if wav.ndim == 2:  # channels first or last: the shorter axis is channels
        wav = wav.mean(axis=0 if wav.shape[0] <= wav.shape[1] else 1)
    elif wav.ndim != 1:
        raise AudioInputError(f"Expected mono or multichannel audio, got an array of shape {wav.shape}.")
    if not np.isfinite(wav).all():
        raise AudioInputError("The audio contains NaN or infinite samples. Re-export the file.")
    seconds = len(wav) / sr
    if seconds < limits.min_seconds:
        raise AudioInputError(f"The audio is {seconds:.2f} s long; at least {limits.min_seconds:g} s is needed.")
    wav = wav[:limits.keep_frames(len(wav), sr)]
    if sr != sample_rate:
        wav = librosa.resample(wav, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    peak = float(np.abs(wav).max())
    if peak > 1.0:
        wav = wav / peak
    if not limits.allow_silence and float(np.std(wav)) < SILENCE_RMS:  # a constant (DC) signal is silence too
        raise AudioInputError("The audio is silent. Check the microphone or upload a recording with sound.")
    return np.ascontiguousarray(wav, dtype=np.float32)


def check_waveform(wav, what: str, sample_rate: int, min_samples: int = 1) -> np.ndarray:
    """What the library's modes take: a mono (1-D) float array at ``sample_rate``, finite, in [-1, 1], at
    least ``min_samples`` long. Anything else is refused (``prepare_audio`` converts other arrays)."""
    arr = np.asarray(wav)
    fix = "prepare_audio(wav, sr) converts integer PCM, channels and other rates."
    if arr.dtype.kind != "f":
        raise AudioInputError(f"The {what} is a {arr.dtype} array; pass float samples in [-1, 1]. {fix}")
    if arr.ndim != 1:
        raise AudioInputError(f"The {what} must be mono (a 1-D array), got shape {arr.shape}. {fix}")
    if len(arr) < min_samples:
        raise AudioInputError(f"The {what} is {len(arr)} samples long; at least {min_samples} "
                              f"({min_samples / sample_rate * 1000:g} ms at {sample_rate} Hz) are needed.")
    if not np.isfinite(arr).all():
        raise AudioInputError(f"The {what} contains NaN or infinite samples.")
    if np.abs(arr).max() > 1:
        raise AudioInputError(f"The {what} has samples beyond [-1, 1] (peak {np.abs(arr).max():.4g}). {fix}")
    return arr.astype(np.float32, copy=False)


# output suffix -> libsndfile format; 16-bit PCM where the format holds PCM, else its own codec
OUTPUT_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF", ".aif": "AIFF"}


def output_format(path: str | Path) -> str:
    """The libsndfile format ``path``'s suffix names, or an ``AudioInputError`` listing the supported ones."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None or fmt not in soundfile.available_formats():
        supported = ", ".join(s for s, f in OUTPUT_FORMATS.items() if f in soundfile.available_formats())
        raise AudioInputError(f"Cannot write {Path(path).name!r}: give the output one of the suffixes {supported}.")
    return fmt


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that ``save_audio`` could not write, before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise AudioInputError(f"{path} is a folder; give a file name such as {path / 'out.wav'}.")
    output_format(path)
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise AudioInputError(f"Cannot write {path}: {parent} is not a writable folder.")
    return path


def to_pcm16(wav: np.ndarray) -> np.ndarray:
    """Float samples -> 16-bit PCM, rounded to the nearest step: the samples that are played and the
    samples that are written are the same."""
    return np.round(np.clip(np.asarray(wav, dtype=np.float32), -1, 1) * 32767).astype(np.int16)


def save_audio(path: str | Path, wav: np.ndarray, sample_rate: int) -> Path:
    """Write a mono float waveform (creating parent folders) in the format the suffix names
    (``OUTPUT_FORMATS``): 16-bit PCM (``to_pcm16``) for wav, flac and aiff; Vorbis or MP3 for ogg, mp3."""
    path = Path(path)
    fmt = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "PCM_16" if soundfile.check_format(fmt, "PCM_16") else soundfile.default_subtype(fmt)
    soundfile.write(path, to_pcm16(wav), sample_rate, subtype=subtype, format=fmt)
    return path
