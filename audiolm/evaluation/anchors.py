"""The codecs a user would pick instead of ours, run through their own command-line tools on the
same files: Opus (``opusenc``/``opusdec``, Debian ``opus-tools``) and Codec2 (``c2enc``/``c2dec``,
Debian ``codec2``), beside our codec at a chosen number of RVQ levels.

Every codec here is a :class:`RoundTrip`: a name, a bitrate and ``__call__(wav) -> wav`` at the
evaluation's sample rate. A tool that is not installed makes the codec *unavailable* with the
install hint, so the report prints "skipped: install X" instead of failing.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .round_trips import resynthesize


class RoundTrip:
    """Encode then decode a clip: float32 mono at ``sample_rate`` in and out, same length."""
    name: str
    kbps: float
    tools: tuple[str, ...] = ()  # executables the round trip needs
    install_hint: str = ""

    def unavailable(self) -> str | None:
        """Why this codec cannot run here ("install X"), or None when it can."""
        missing = [t for t in self.tools if shutil.which(t) is None]
        return f"skipped: install {self.install_hint} ({', '.join(missing)} not found)" if missing else None

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        raise NotImplementedError


def align(reference: np.ndarray, degraded: np.ndarray, max_shift: int) -> np.ndarray:
    """``degraded`` shifted by the lag (within ``±max_shift`` samples) that best correlates it with
    ``reference``, cut or zero-padded to ``reference``'s length (codecs add a delay: score after it)."""
    n = len(reference)
    padded = np.zeros(n + 2 * max_shift, np.float32)
    m = min(len(degraded), n + max_shift)
    padded[max_shift:max_shift + m] = degraded[:m]
    # correlation of reference with every window of padded: lag k means degraded[t + k] ~ reference[t]
    corr = np.correlate(padded, reference.astype(np.float32), mode="valid")  # (2 * max_shift + 1,)
    lag = int(np.argmax(corr)) - max_shift
    return padded[max_shift + lag:max_shift + lag + n]


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


@dataclass
class Opus(RoundTrip):
    """Opus at a target bitrate with opusenc's defaults (VBR, as a user gets it: measured stronger
    than ``--hard-cbr`` at 6 kbps), decoded at the input's rate; opusdec removes the pre-skip,
    :func:`align` any delay left."""
    kbps: float = 6.0
    tools = ("opusenc", "opusdec")
    install_hint = "opus-tools (apt-get install opus-tools)"

    @property
    def name(self) -> str:
        return f"Opus {self.kbps:g} kbps"

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="audiolm-opus-") as tmp:
            src, coded, out = Path(tmp, "in.wav"), Path(tmp, "x.opus"), Path(tmp, "out.wav")
            sf.write(src, wav, sample_rate, subtype="PCM_16")
            _run(["opusenc", "--quiet", "--bitrate", f"{self.kbps:g}", str(src), str(coded)])
            _run(["opusdec", "--quiet", "--rate", str(sample_rate), str(coded), str(out)])
            decoded, _ = sf.read(out, dtype="float32")
        return align(wav, decoded, max_shift=sample_rate // 20)


@dataclass
class Codec2(RoundTrip):
    """Codec2 (narrowband, 8 kHz) at 3200 bit/s: resampled down, coded, resampled back up."""
    mode: int = 3200
    tools = ("c2enc", "c2dec")
    install_hint = "codec2 (apt-get install codec2)"

    @property
    def name(self) -> str:
        return f"Codec2 {self.kbps:g} kbps"

    @property
    def kbps(self) -> float:
        return self.mode / 1000

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        narrow = soxr.resample(wav, sample_rate, 8000)
        pcm = (np.clip(narrow, -1, 1) * 32767).round().astype("<i2")
        with tempfile.TemporaryDirectory(prefix="audiolm-codec2-") as tmp:
            src, coded, out = Path(tmp, "in.raw"), Path(tmp, "x.c2"), Path(tmp, "out.raw")
            src.write_bytes(pcm.tobytes())
            _run(["c2enc", str(self.mode), str(src), str(coded)])
            _run(["c2dec", str(self.mode), str(coded), str(out)])
            decoded = np.frombuffer(out.read_bytes(), "<i2").astype(np.float32) / 32768
        return align(wav, soxr.resample(decoded, 8000, sample_rate), max_shift=sample_rate // 20)


class OurCodec(RoundTrip):
    """A bundle's codec keeping the first ``levels`` RVQ levels."""

    def __init__(self, model, levels: int, label: str):
        self.model, self.levels, self.label = model, levels, label
        config = model.config
        self.kbps = levels * np.log2(config.codebook_size) * config.acoustic_rate / 1000

    @property
    def name(self) -> str:
        return f"ours, {self.label}={self.levels} levels"

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        return resynthesize(self.model, wav, self.levels)


class Uncoded(RoundTrip):
    """The original clip (16-bit PCM): the row every other one is measured against."""
    name = "original (16-bit PCM, no codec)"
    kbps = 256.0

    def __call__(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        return wav


def reference_codecs() -> list[RoundTrip]:
    """The anchors every codec table shows: Opus at 6 and 8 kbps, Codec2 at 3.2 kbps."""
    return [Opus(6.0), Opus(8.0), Codec2(3200)]


def our_codecs(model) -> list[OurCodec]:
    """A bundle's codec at Q and at Q' levels."""
    return [OurCodec(model, model.config.num_quantizers, "Q"), OurCodec(model, model.config.num_coarse, "Q'")]


def side_by_side(codecs: list[RoundTrip], waves: list[np.ndarray], sample_rate: int, mos=None) -> list[dict]:
    """One row per codec over the same clips: PESQ-WB, STOI, mel distance, and the predicted MOS
    when ``mos`` is given; an unavailable codec gets a row saying why."""
    from tqdm.auto import tqdm

    from .metrics import mel_distance, pesq_wb, stoi
    rows = []
    for codec in codecs:
        row = {"codec": codec.name, "kbps": round(float(codec.kbps), 3)}
        why = codec.unavailable()
        if why:
            rows.append(row | {"skipped": why})
            continue
        scores: dict[str, list] = {"pesq_wb": [], "stoi": [], "mel_distance": []} | ({"mos": []} if mos else {})
        for wav in tqdm(waves, desc=codec.name, leave=False):
            y = codec(wav, sample_rate)
            scores["pesq_wb"].append(pesq_wb(wav, y, sample_rate))
            scores["stoi"].append(stoi(wav, y, sample_rate))
            scores["mel_distance"].append(mel_distance(wav, y, sample_rate))
            if mos:
                scores["mos"].append(mos.predict(y))
        rows.append(row | {k: float(np.mean(v)) for k, v in scores.items()} | {"clips": len(waves)})
    return rows
