"""A small sampler: MIDI notes played with the Salamander Grand Piano's recorded notes.

The shared folder (``../shared/data/piano/salamander``, CC BY 3.0 Alexander Holm) holds one
recording per minor third from A0 to C8 (``<note><octave>v<layer>.ogg``, e.g. ``Ds4v8.ogg``) at
velocity layers 8 and 16 of 16. A MIDI note takes the nearest recorded pitch (at most one
semitone away), pitch-shifted by resampling; the loud layer above ``LOUD_VELOCITY``, the soft one
below, each scaled so that level follows ``(velocity / 127) ** 2`` (fluidsynth's default curve).
A note sounds until its note-off, then a short damper fade (``release``), or until its recording
ends. Output: mono float32 at ``sample_rate``, at the level of the corpus' fluidsynth renders.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .shared_data import shared_data_path

PITCH_CLASSES = {"C": 0, "Ds": 3, "Fs": 6, "A": 9}
LAYER_LEVEL = {16: 1.0, 8: 0.38}  # layer 8 at 0.38x layer 16 (mean RMS ratio, first second, 30 notes)
LOUD_VELOCITY = 100  # between the velocities the layers stand for on the (v/127)^2 curve: 78 and 127
MAX_SECONDS = 10.0  # recordings are cut (with a fade) to this length: no generated note rings longer
LEVEL = 0.19  # mix gain: renders at the RMS of FluidR3's grand with fluidsynth -g 0.5 (median over 10 pieces)


def salamander_folder(folder: str | Path | None = None) -> Path:
    """The notes' folder (default ``../shared/data/piano/salamander``); a clear error where absent."""
    path = Path(folder) if folder else shared_data_path("piano", "salamander")
    if path is None or not path.is_dir() or not any(path.glob("*v16.ogg")):
        where = folder or "../shared/data/piano/salamander"
        raise FileNotFoundError(f"no Salamander Grand Piano notes in {where} (<note><octave>v<layer>.ogg, "
                                "e.g. C4v8.ogg; CC BY 3.0 Alexander Holm, as kept in tambien/Piano)")
    return path


@lru_cache(maxsize=8)
def recorded_pitches(folder: str) -> dict[tuple[int, int], Path]:
    """(MIDI pitch, layer) -> file, for every recording in ``folder``."""
    out = {}
    for path in Path(folder).glob("*.ogg"):
        match = re.fullmatch(r"(C|Ds|Fs|A)(\d)v(\d+)", path.stem)
        if match:
            note, octave, layer = match.groups()
            out[12 * (int(octave) + 1) + PITCH_CLASSES[note], int(layer)] = path
    return out


@lru_cache(maxsize=512)  # per process: a piece uses a few dozen (pitch, layer) pairs
def note_sample(folder: str, pitch: int, layer: int, sample_rate: int) -> np.ndarray:
    """The recording nearest ``pitch`` at ``layer``, shifted to ``pitch``, mono, starting at its attack."""
    files = recorded_pitches(folder)
    source = min((p for p, lay in files if lay == layer), key=lambda p: (abs(p - pitch), p))
    if abs(source - pitch) > 1.5:
        raise ValueError(f"MIDI pitch {pitch} is outside the recorded range of {folder}")
    audio, rate = sf.read(files[source, layer], dtype="float32", always_2d=True)
    mono = audio.mean(1)
    attack = int(np.argmax(np.abs(mono) > 0.05 * np.abs(mono).max()))
    mono = mono[max(attack - int(0.002 * rate), 0):int(attack + MAX_SECONDS * rate)]
    # played back 2^(shift/12) times faster: read as if recorded at that rate, resample to sample_rate
    wav = soxr.resample(mono, rate * 2 ** ((pitch - source) / 12), sample_rate).astype(np.float32)
    fade = min(len(wav), int(0.1 * sample_rate))
    wav[len(wav) - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    wav.setflags(write=False)
    return wav


def midi_notes(path: str | Path) -> list[tuple[float, float, int, int]]:
    """(start s, end s, pitch, velocity) of every note in a MIDI file (mido; tempo changes honoured)."""
    import mido

    t, sounding, notes = 0.0, {}, []
    for message in mido.MidiFile(str(path)):  # iterating a MidiFile yields delta times in seconds
        t += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault((message.channel, message.note), []).append((t, message.velocity))
        elif message.type in ("note_on", "note_off") and sounding.get((message.channel, message.note)):
            start, velocity = sounding[message.channel, message.note].pop(0)
            notes.append((start, t, message.note, velocity))
    notes += [(start, t, note, v) for (_, note), held in sounding.items() for start, v in held]  # never released
    return sorted(notes)


def render_notes(notes, sample_rate: int = 16000, folder: str | Path | None = None, release: float = 0.25,
                 tail: float = 2.5, level: float = LEVEL) -> np.ndarray:
    """``notes``: (start, end, pitch, velocity) tuples or objects with those attributes (``pieces.Note``).
    Returns mono float32 lasting until the last note-off plus ``tail`` seconds."""
    folder = str(salamander_folder(folder))
    notes = [(n.start, n.end, n.pitch, n.velocity) if hasattr(n, "pitch") else tuple(n) for n in notes]
    out = np.zeros(int(round((max((n[1] for n in notes), default=0.0) + tail) * sample_rate)), np.float32)
    fade = np.linspace(1, 0, max(int(release * sample_rate), 1), dtype=np.float32) ** 2
    for start, end, pitch, velocity in notes:
        layer = 16 if velocity >= LOUD_VELOCITY else 8
        gain = level * (velocity / 127) ** 2 / LAYER_LEVEL[layer]
        sample = note_sample(folder, int(pitch), layer, sample_rate)
        begin = int(round(start * sample_rate))
        held = min(max(int(round((end - start) * sample_rate)), 0), len(sample), len(out) - begin)
        if held <= 0:
            continue
        out[begin:begin + held] += gain * sample[:held]
        damped = min(len(fade), len(sample) - held, len(out) - begin - held)
        out[begin + held:begin + held + damped] += gain * sample[held:held + damped] * fade[:damped]
    peak = float(np.abs(out).max()) if len(out) else 0.0
    return out / peak * 0.99 if peak > 0.99 else out


def render_midi(midi: str | Path, sample_rate: int = 16000, folder: str | Path | None = None,
                **kwargs) -> np.ndarray:
    """A MIDI file played with the Salamander notes (see :func:`render_notes`)."""
    return render_notes(midi_notes(midi), sample_rate, folder, **kwargs)
