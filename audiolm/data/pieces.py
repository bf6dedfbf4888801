"""Generated piano pieces: a melody over a chord progression with an accompaniment pattern.

Each piece draws a key (12 tonics, major or minor), tempo, meter, progression, accompaniment
style, registers, dynamics and a General MIDI piano program from one seed, so a piece is
reproducible from its seed alone. The melody repeats its opening rhythm (a motif) and
lands on chord tones on strong beats, which gives the material the melody, harmony and rhythm
that a continuation should keep. ``write_midi`` stores a piece with mido.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the V chord is raised to major (harmonic minor)
# scale degrees (0-based) of the chord roots
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 4, 0), (0, 3, 5, 4), (5, 3, 0, 4), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 6, 2), (0, 5, 3, 4)),
}
METERS = {"4/4": (4, 1.0), "3/4": (3, 1.0), "6/8": (2, 1.5)}  # (beats per bar, quarter notes per beat)
RHYTHMS = {  # melody patterns in quarter notes, one bar each
    "4/4": ((1, 1, 1, 1), (2, 1, 1), (1.5, 0.5, 1, 1), (0.5, 0.5, 1, 2), (1, 0.5, 0.5, 1, 1), (0.5,) * 8, (3, 1)),
    "3/4": ((1, 1, 1), (2, 1), (1, 0.5, 0.5, 1), (1.5, 0.5, 1), (3,)),
    "6/8": ((1.5, 1.5), (1, 0.5, 1, 0.5), (0.5,) * 6, (1.5, 1, 0.5), (3,)),
}
STYLES = ("block", "alberti", "arpeggio", "waltz", "broken_octaves")
PROGRAMS = (0, 0, 0, 1, 2, 4, 5)  # General MIDI piano family, weighted to the acoustic grand


@dataclass
class Note:
    start: float  # seconds
    end: float
    pitch: int  # MIDI note number
    velocity: int


@dataclass
class PieceSpec:
    seed: int
    tonic: int  # pitch class 0-11 (0 = C)
    mode: str  # major | minor
    tempo: float  # quarter notes per minute
    meter: str
    progression: tuple[int, ...]
    style: str
    melody_octave: int
    bass_octave: int
    velocity: int  # base loudness
    program: int
    bars: int
    notes: list[Note] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
        return f"{names[self.tonic]} {self.mode}"

    @property
    def seconds(self) -> float:
        return max(n.end for n in self.notes)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("notes")
        return out | {"key": self.key, "seconds": round(self.seconds, 3), "notes": len(self.notes)}


def _chord(scale: tuple[int, ...], degree: int, mode: str) -> list[int]:
    """Pitch classes (relative to the tonic) of the diatonic triad on ``degree``."""
    tones = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
    if mode == "minor" and degree == 4:
        tones[1] += 1  # major V in minor
    return tones


def generate_piece(seed: int, min_seconds: float = 20.0, max_seconds: float = 40.0) -> PieceSpec:
    rng = np.random.default_rng(seed)
    mode = "major" if rng.random() < 0.6 else "minor"
    meter = str(rng.choice(list(METERS), p=[0.5, 0.3, 0.2]))
    style = str(rng.choice(STYLES))
    if style == "waltz" and meter != "3/4":
        style = "block"
    spec = PieceSpec(
        seed=seed, tonic=int(rng.integers(12)), mode=mode, tempo=float(rng.integers(70, 161)), meter=meter,
        progression=tuple(int(d) for d in PROGRESSIONS[mode][rng.integers(len(PROGRESSIONS[mode]))]),
        style=style, melody_octave=int(rng.integers(4, 6)), bass_octave=int(rng.integers(2, 4)),
        velocity=int(rng.integers(50, 100)), program=int(rng.choice(PROGRAMS)), bars=0)
    beats, beat_q = METERS[meter]
    bar_seconds = beats * beat_q * 60 / spec.tempo
    spec.bars = int(np.clip(round(rng.uniform(min_seconds, max_seconds) / bar_seconds / 4) * 4, 4, 64))
    scale = MAJOR if mode == "major" else MINOR
    q = 60 / spec.tempo  # seconds per quarter note
    motif = [RHYTHMS[meter][i] for i in rng.integers(len(RHYTHMS[meter]), size=2)]
    notes: list[Note] = []
    melody_base = 12 * (spec.melody_octave + 1) + spec.tonic
    degree_now = int(rng.integers(0, 5))  # melody position in scale steps above melody_base
    for bar in range(spec.bars):
        t0 = bar * bar_seconds
        chord = _chord(scale, spec.progression[bar % len(spec.progression)], mode)
        phrase_pos = (bar % 4) / 3  # crescendo within each 4-bar phrase
        dyn = spec.velocity + int(10 * phrase_pos) - 5
        # melody: the motif's rhythm in bars 1-2 of every phrase, fresh patterns elsewhere
        rhythm = motif[bar % 2] if bar % 4 < 2 else RHYTHMS[meter][rng.integers(len(RHYTHMS[meter]))]
        t = t0
        for k, dur in enumerate(rhythm):
            strong = k == 0 or abs((t - t0) / q % (beat_q * (2 if meter == "4/4" else 1))) < 1e-6
            if strong:  # nearest chord tone to the current position
                candidates = [d for d in range(-3, 12) if scale[d % 7] % 12 in {c % 12 for c in chord}]
                degree_now = min(candidates, key=lambda d: abs(d - degree_now) + rng.random())
            else:
                degree_now += int(rng.choice([-2, -1, -1, 1, 1, 2])) - (1 if degree_now > 9 else 0) + \
                    (1 if degree_now < -2 else 0)
            pitch = melody_base + scale[degree_now % 7] + 12 * (degree_now // 7)
            if bar == spec.bars - 1 and k == len(rhythm) - 1:
                pitch = melody_base + 12 * (degree_now // 7)  # end on the tonic
            end = t + dur * q * 0.95
            notes.append(Note(t, end, int(pitch), int(np.clip(dyn + 8 + rng.integers(-6, 7), 20, 127))))
            t += dur * q
        notes += _accompaniment(spec, chord, t0, bar_seconds, q, dyn, rng)
    if notes:  # the last chord rings a little longer
        last = max(n.end for n in notes)
        notes = [Note(n.start, n.end + (0.8 if n.end >= last - 1e-6 else 0), n.pitch, n.velocity) for n in notes]
    spec.notes = sorted(notes, key=lambda n: (n.start, n.pitch))
    return spec


def _accompaniment(spec: PieceSpec, chord: list[int], t0: float, bar_seconds: float, q: float, dyn: int,
                   rng) -> list[Note]:
    base = 12 * (spec.bass_octave + 1) + spec.tonic
    root, third, fifth = (base + c for c in chord)
    beats, beat_q = METERS[spec.meter]
    v = lambda: int(np.clip(dyn - 12 + rng.integers(-4, 5), 15, 120))  # noqa: E731
    out: list[Note] = []
    if spec.style == "block":
        for b in range(beats):
            start = t0 + b * beat_q * q
            low = root if b == 0 else root + 12  # the bass note on the downbeat, the chord above
            out += [Note(start, start + beat_q * q * 0.9, p, v()) for p in (low, third + 12, fifth + 12)]
    elif spec.style == "alberti":
        pattern, step = (root, fifth, third, fifth), 0.5 * q
        for k in range(round(bar_seconds / step)):
            out.append(Note(t0 + k * step, t0 + (k + 1) * step * 0.98, pattern[k % 4] + 12, v()))
    elif spec.style == "arpeggio":
        pattern, step = (root, fifth, root + 12, third + 12, fifth + 12, third + 12), 0.5 * q
        for k in range(round(bar_seconds / step)):
            out.append(Note(t0 + k * step, t0 + (k + 1) * step * 1.5, pattern[k % len(pattern)], v()))
    elif spec.style == "waltz":
        out.append(Note(t0, t0 + q * 0.95, root, v()))
        for b in (1, 2):
            out += [Note(t0 + b * q, t0 + (b + 0.8) * q, p + 12, v()) for p in (third, fifth)]
    else:  # broken octaves in the bass, chord held above
        for k in range(round(bar_seconds / (0.5 * q))):
            out.append(Note(t0 + k * 0.5 * q, t0 + (k + 1) * 0.5 * q, root + 12 * (k % 2), v()))
        out += [Note(t0, t0 + bar_seconds * 0.95, p + 24, v()) for p in (third, fifth)]
    return out


def write_midi(spec: PieceSpec, path) -> None:
    """A type-0 MIDI file of the piece on channel 0 with its program and tempo."""
    import mido

    ticks = 480
    tempo = mido.bpm2tempo(spec.tempo)
    events = []
    for n in spec.notes:
        events.append((mido.second2tick(n.start, ticks, tempo), 1, n.pitch, n.velocity))
        events.append((mido.second2tick(n.end, ticks, tempo), 0, n.pitch, 0))
    events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at the same tick
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo),
                            mido.Message("program_change", program=spec.program, channel=0)])
    now = 0
    for tick, on, pitch, velocity in events:
        tick = round(tick)
        track.append(mido.Message("note_on" if on else "note_off", note=pitch, velocity=velocity,
                                  time=tick - now))
        now = tick
    mido.MidiFile(type=0, ticks_per_beat=ticks, tracks=[track]).save(str(path))
