"""The piano corpus: generated pieces (``pieces.py``) rendered with a General MIDI soundfont.

Rendering runs the ``fluidsynth`` command (Debian ``fluidsynth``) on the FluidR3 GM soundfont
(Debian ``fluid-soundfont-gm``). A share of the pieces (``salamander_share``) can instead be played
with the Salamander Grand Piano's recorded notes (``salamander.py``), and a share (``room_share``)
heard in a room (``augment.Room``: simulated or measured); both draws are seeded per piece, so the
held-out split gets the same mix. With either share set, records also say ``instrument``
(``salamander`` | ``fluidsynth``) and ``room`` (the room's parameters, or null). Layout of a
corpus folder::

    corpus.json        the config
    metadata.jsonl     one record per piece: id, split, piece seed, key, tempo, meter, style,
                       program, onsets (note-on times, s), path, seconds
    midi/<split>/<n>.mid
    wavs/<split>/<n>.wav   16 kHz mono int16

Splits: ``train`` and ``heldout`` (pieces from seeds the training split never uses).
Each piece is one stream: stages train on windows within a piece.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from .corpus import CorpusReader
from .pieces import generate_piece, write_midi
from .salamander import render_midi, salamander_folder

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2")
HELDOUT_SEED_OFFSET = 1_000_000  # held-out pieces come from seeds training never draws


@dataclass
class PianoCorpusConfig:
    hours: float = 3.0  # training audio
    heldout_pieces: int = 48
    min_seconds: float = 20.0  # per piece
    max_seconds: float = 40.0
    sample_rate: int = 16000
    gain: float = 0.5  # fluidsynth master gain
    seed: int = 0
    salamander_share: float = 0.0  # pieces played with the Salamander notes instead of fluidsynth
    room_share: float = 0.0  # pieces heard in a room (augment.Room, default RoomConfig)
    salamander_dir: str = ""  # "" = ../shared/data/piano/salamander


# fields added after corpora were built: left out of corpus.json at their defaults, so a corpus built
# before them (and one built now with the defaults) keeps a byte-identical corpus.json and metadata
ADDED_FIELDS = {"salamander_share": 0.0, "room_share": 0.0, "salamander_dir": ""}


def stored_config(config: PianoCorpusConfig) -> dict:
    """The config as corpus.json stores it (added fields only where they differ from their default)."""
    return {k: v for k, v in asdict(config).items() if k not in ADDED_FIELDS or v != ADDED_FIELDS[k]}


def find_soundfont() -> str | None:
    return next((p for p in SOUNDFONTS if Path(p).is_file()), None)


def renderer_missing() -> str | None:
    """Why the corpus cannot be rendered here, or None."""
    if shutil.which("fluidsynth") is None:
        return "the fluidsynth command is missing (apt-get install fluidsynth)"
    if find_soundfont() is None:
        return "no General MIDI soundfont found (apt-get install fluid-soundfont-gm)"
    return None


def render(midi: Path, wav: Path, sample_rate: int, gain: float, soundfont: str) -> np.ndarray:
    """MIDI -> mono float32 at ``sample_rate`` with fluidsynth (it writes stereo; we average)."""
    raw = wav.with_suffix(".stereo.wav")
    proc = subprocess.run(["fluidsynth", "-ni", "-q", "-g", str(gain), "-r", str(sample_rate), "-F", str(raw),
                           soundfont, str(midi)], capture_output=True, text=True)
    if proc.returncode != 0 or not raw.is_file():
        raise RuntimeError(f"fluidsynth failed on {midi}: {proc.stderr.strip()[-500:]}")
    audio, sr = sf.read(raw, dtype="float32", always_2d=True)
    raw.unlink()
    assert sr == sample_rate, (sr, sample_rate)
    mono = audio.mean(1)
    sf.write(wav, mono, sample_rate, subtype="PCM_16")
    return mono


def build_piano_corpus(root: str | Path, config: PianoCorpusConfig | None = None, workers: int = 2) -> Path:
    """Generate and render the corpus into ``root`` (skipped when a complete one with this config is there)."""
    root, config = Path(root), config or PianoCorpusConfig()
    manifest = root / "corpus.json"
    if manifest.is_file() and json.loads(manifest.read_text())["config"] == stored_config(config) \
            and (root / "metadata.jsonl").is_file():
        return root
    missing = renderer_missing() if config.salamander_share < 1 else None
    if missing:
        raise RuntimeError(f"cannot render the piano corpus: {missing}")
    if config.salamander_share > 0:
        salamander_folder(config.salamander_dir or None)  # a clear error now rather than in a worker
    soundfont = find_soundfont()
    records: list[dict] = []
    mixed = config.salamander_share > 0 or config.room_share > 0

    def make(split: str, index: int, seed: int) -> dict:
        spec = generate_piece(seed, config.min_seconds, config.max_seconds)
        midi, wav = root / "midi" / split / f"{index:04d}.mid", root / "wavs" / split / f"{index:04d}.wav"
        midi.parent.mkdir(parents=True, exist_ok=True)
        wav.parent.mkdir(parents=True, exist_ok=True)
        write_midi(spec, midi)
        draw = np.random.default_rng([seed, 16])  # this piece's instrument and room, apart from its notes
        sampled, in_room = draw.random() < config.salamander_share, draw.random() < config.room_share
        if sampled:
            audio = render_midi(midi, config.sample_rate, config.salamander_dir or None)
        else:
            audio = render(midi, wav, config.sample_rate, config.gain, soundfont)
        room = None
        if in_room:
            from .augment import Room
            reverb = Room()  # one per piece: its response cache is not shared between threads
            room = reverb.sample(draw)
            audio = reverb.apply(audio, config.sample_rate, room)
            audio = audio * min(1.0, 0.99 / max(float(np.abs(audio).max()), 1e-9))
        if sampled or in_room:
            sf.write(wav, audio, config.sample_rate, subtype="PCM_16")
        onsets = sorted({round(n.start, 4) for n in spec.notes})
        extra = {"instrument": "salamander" if sampled else "fluidsynth",
                 "room": asdict(room) if room else None} if mixed else {}
        return {"id": f"{split}-{index:04d}", "split": split, "stream": f"{split}-{index:04d}",
                **spec.summary(), "onsets": onsets, "path": str(wav.relative_to(root)),
                "midi": str(midi.relative_to(root)), "seconds": len(audio) / config.sample_rate, **extra}

    with ThreadPoolExecutor(workers) as pool:  # fluidsynth runs as a subprocess: threads suffice
        bar = tqdm(total=round(config.hours * 3600), unit="s", desc="train pieces")
        done, index = 0.0, 0
        while done < config.hours * 3600:
            batch = [pool.submit(make, "train", index + k, config.seed * 10_000_000 + index + k)
                     for k in range(4 * workers)]
            index += len(batch)
            for future in batch:
                record = future.result()
                if done >= config.hours * 3600:
                    break
                records.append(record)
                done += record["seconds"]
                bar.update(round(done) - bar.n)
        bar.close()
        heldout = [pool.submit(make, "heldout", k, HELDOUT_SEED_OFFSET + config.seed * 10_000_000 + k)
                   for k in range(config.heldout_pieces)]
        records += [f.result() for f in tqdm(heldout, desc="held-out pieces")]
    with open(root / "metadata.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    manifest.write_text(json.dumps({"config": stored_config(config), "kind": "piano"}, indent=2))
    return root


class PianoCorpus(CorpusReader):
    """Read access to a piano corpus folder."""
    config_class = PianoCorpusConfig
    build_command = "python -m audiolm train corpus --recipe piano"
