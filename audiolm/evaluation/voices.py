"""Held-out voices as the speaker figures need them: per speaker, an *enrollment* half (speaker
centroids, the MFCC classifier) and a *test* half (prompts, inputs, "another utterance").

Two sources: the synthetic corpus' held-out speakers, and real recordings in a folder of
``SPEAKER/*.flac`` (LibriSpeech test-other by default, which no training step may read).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


@dataclass
class VoiceSet:
    name: str  # "synthetic" or "real"
    enroll: dict  # speaker -> list of float32 waves
    test: dict  # speaker -> list of float32 waves

    @property
    def speakers(self) -> list:
        return sorted(self.test)


def synthetic_voices(corpus) -> VoiceSet:
    """The corpus' held-out split: the first half of each speaker's utterances enrolls it."""
    by_speaker: dict = {}
    for record in corpus.split("heldout"):
        by_speaker.setdefault(record["speaker"], []).append(record)
    enroll = {s: [corpus.audio(r) for r in rs[: len(rs) // 2]] for s, rs in by_speaker.items()}
    test = {s: [corpus.audio(r) for r in rs[len(rs) // 2:]] for s, rs in by_speaker.items()}
    return VoiceSet("synthetic", enroll, test)


def read_speaker_folders(root: str | Path, sample_rate: int = 16000,
                         max_speakers: int | None = None) -> dict:
    """``root/SPEAKER/*.(flac|wav)`` -> speaker -> waves (mono float32 at ``sample_rate``, sorted by name)."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir())[:max_speakers]
    out = {}
    for folder in folders:
        waves = []
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".flac", ".wav")):
            wav, sr = sf.read(path, dtype="float32", always_2d=True)
            wav = wav.mean(1)
            waves.append(soxr.resample(wav, sr, sample_rate) if sr != sample_rate else wav)
        if waves:
            out[folder.name] = waves
    if not out:
        raise FileNotFoundError(f"{root} holds no SPEAKER/*.flac or SPEAKER/*.wav recordings")
    return out


def real_voices(root: str | Path, sample_rate: int = 16000, max_speakers: int | None = None) -> VoiceSet:
    """Real readers: per speaker the first half of the (sorted) utterances enrolls, the rest test."""
    waves = read_speaker_folders(root, sample_rate, max_speakers)
    return VoiceSet("real", {s: w[: len(w) // 2] for s, w in waves.items()},
                    {s: w[len(w) // 2:] for s, w in waves.items()})


def long_enough(waves: list[np.ndarray], seconds: float, sample_rate: int) -> list[np.ndarray]:
    return [w for w in waves if len(w) >= seconds * sample_rate]
