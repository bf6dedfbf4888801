"""Audio input: any file librosa/soundfile reads -> validated mono float32 at the model rate.

Policy for long inputs: audio longer than ``max_seconds`` is *trimmed* to its first
``max_seconds`` with a warning (a user who uploads a long file still gets a result);
pass ``on_too_long="error"`` to refuse instead.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile

from .errors import AudioInputError

DEFAULT_MIN_SECONDS = 0.5
DEFAULT_MAX_SECONDS = 30.0
SILENCE_RMS = 1e-4


@dataclass(frozen=True)
class AudioLimits:
    min_seconds: float = DEFAULT_MIN_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS
    on_too_long: str = "trim"  # "trim" (with a warning) or "error"
    allow_silence: bool = False


def load_audio(path: str | Path, sample_rate: int = 16000, limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Read ``path`` (wav, flac, mp3, ogg, ...), mix to mono, resample, validate."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"Audio file not found: {path}. Check the path.")
    if path.stat().st_size == 0:
        raise AudioInputError(f"Audio file {path.name} is empty (0 bytes). Upload a recording.")
    try:
        with warnings.catch_warnings():  # librosa's soundfile -> audioread fallback chatter
            warnings.simplefilter("ignore", (UserWarning, FutureWarning))
            wav, sr = librosa.load(path, sr=None, mono=False)
    except Exception as exc:  # soundfile/audioread raise many unrelated types
        raise AudioInputError(
            f"Could not decode {path.name} ({type(exc).__name__}). "
            "Use a wav, flac, mp3 or ogg file that plays in a media player."
        ) from exc
    return prepare_audio(wav, sr, sample_rate, limits)


def prepare_audio(wav, sr: int, sample_rate: int = 16000, limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Validate an in-memory signal (``[T]``, ``[C, T]`` or ``[T, C]`` for int/float dtypes)."""
    wav = np.asarray(wav)
    if wav.size == 0:
        raise AudioInputError("The audio is empty. Record or upload at least "
                              f"{limits.min_seconds:g} s of sound.")
    if not sr or sr <= 0:
        raise AudioInputError(f"Invalid sample rate {sr}.")
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
    if seconds > limits.max_seconds:
        if limits.on_too_long == "error":
            raise AudioInputError(f"The audio is {seconds:.1f} s long; the limit is {limits.max_seconds:g} s. "
                                  "Cut it shorter.")
        warnings.warn(f"Audio is {seconds:.1f} s long; using its first {limits.max_seconds:g} s.", stacklevel=2)
        wav = wav[: int(limits.max_seconds * sr)]
    if sr != sample_rate:
        wav = librosa.resample(wav, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    peak = float(np.abs(wav).max())
    if peak > 1.0:
        wav = wav / peak
    if not limits.allow_silence and float(np.sqrt(np.mean(wav ** 2))) < SILENCE_RMS:
        raise AudioInputError("The audio is silent. Check the microphone or upload a recording with sound.")
    return np.ascontiguousarray(wav, dtype=np.float32)


def save_audio(path: str | Path, wav: np.ndarray, sample_rate: int) -> Path:
    """Write a mono float waveform as 16-bit PCM wav (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(np.asarray(wav, dtype=np.float32), -1, 1), sample_rate, subtype="PCM_16")
    return path
