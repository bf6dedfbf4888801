"""The synthetic multi-speaker speech corpus (espeak-ng), reproducible from the repo.

Layout of a corpus folder::

    corpus.json        the config and the speaker list
    metadata.jsonl     one record per utterance: id, split, speaker, text, phones, path, seconds
    wavs/<split>/<speaker>/<n>.wav   16 kHz mono int16

Splits: ``train`` (training speakers, training sentences) and ``heldout`` (unseen speakers
built from espeak variants no training speaker uses, and sentences the training split never
contains).
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm.auto import tqdm

from .corpus import CorpusReader
from .espeak import Espeak, Voice
from .sentences import sentences

LANGUAGES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
             "en-us-nyc")
# espeak-ng variants that sound like people (no whisper, croak, robots or effects)
VARIANTS = ("m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 Alex Andy Annie aunty belinda "
            "benjamin caleb david ed edward Gene Hugo Jacky john Lee linda max Michael Mike norbert paul pedro "
            "quincy rob robert sandro shelby steph travis victor zac grandma grandpa adam Alicia Andrea boris "
            "iven Marco michel Nguyen").split()


@dataclass
class SpeechCorpusConfig:
    hours: float = 3.0  # training audio
    train_speakers: int = 48
    heldout_speakers: int = 8
    heldout_utterances: int = 30  # per held-out speaker
    min_sentences: int = 2  # per utterance
    max_sentences: int = 3
    sample_rate: int = 16000
    seed: int = 0


def make_speakers(config: SpeechCorpusConfig) -> tuple[list[Voice], list[Voice]]:
    """Training and held-out voices; held-out voices use variants no training voice uses."""
    total = config.train_speakers + config.heldout_speakers
    rng = random.Random(config.seed)
    variants = list(VARIANTS)
    rng.shuffle(variants)
    heldout_variants = variants[:config.heldout_speakers]
    train_variants = variants[config.heldout_speakers:]
    if not train_variants or total > 4 * len(VARIANTS):
        raise ValueError(f"at most {4 * len(VARIANTS)} speakers")

    def voice(variant: str) -> Voice:
        return Voice(rng.choice(LANGUAGES), variant, rng.randrange(20, 80), rng.randrange(15, 85),
                     rng.randrange(130, 195))

    train = [voice(train_variants[i % len(train_variants)]) for i in range(config.train_speakers)]
    heldout = [voice(v) for v in heldout_variants]
    return train, heldout


_ENGINE: Espeak | None = None


def _synthesize(job: dict) -> dict:
    global _ENGINE  # one engine per worker process (the C library is process-global)
    if _ENGINE is None:
        _ENGINE = Espeak()
    voice = Voice(**job["voice"])
    utt = _ENGINE.synthesize(job["text"], voice)
    audio = soxr.resample(utt.audio.astype(np.float32) / 32768, utt.sample_rate, job["sample_rate"])
    peak = float(np.abs(audio).max()) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    path = Path(job["root"]) / job["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, job["sample_rate"], subtype="PCM_16")
    return {"id": job["id"], "split": job["split"], "speaker": job["speaker"], "voice": voice.name,
            "text": job["text"], "phones": utt.phonemes, "path": job["path"], "seconds": len(audio) / job["sample_rate"]}


def _jobs(root: Path, config: SpeechCorpusConfig, split: str, voices: list[Voice], first_speaker: int):
    rng = random.Random(f"{config.seed}-{split}")
    index = 0
    while True:
        speaker = index % len(voices)
        n = rng.randint(config.min_sentences, config.max_sentences)
        text = " ".join(sentences(rng, heldout=split == "heldout", count=n))
        utt = index // len(voices)
        yield {"id": f"{split}-{first_speaker + speaker:03d}-{utt:04d}", "split": split,
               "speaker": first_speaker + speaker, "voice": asdict(voices[speaker]), "text": text,
               "path": f"wavs/{split}/{first_speaker + speaker:03d}/{utt:04d}.wav", "root": str(root),
               "sample_rate": config.sample_rate}
        index += 1


def build_speech_corpus(root: str | Path, config: SpeechCorpusConfig | None = None,
                        workers: int = 2) -> Path:
    """Synthesize the corpus into ``root`` (skipped when a complete one with this config is there)."""
    root, config = Path(root), config or SpeechCorpusConfig()
    manifest = root / "corpus.json"
    if manifest.is_file() and json.loads(manifest.read_text())["config"] == asdict(config) \
            and (root / "metadata.jsonl").is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    train_voices, heldout_voices = make_speakers(config)
    records = []
    with get_context("fork").Pool(workers) as pool:
        total = config.hours * 3600
        bar = tqdm(total=round(total), unit="s", desc="train speech")
        done = 0.0
        jobs = _jobs(root, config, "train", train_voices, 0)
        while done < total:  # bounded batches: Pool.imap would drain an endless job generator
            batch = [next(jobs) for _ in range(16 * workers)]
            for record in pool.imap(_synthesize, batch, chunksize=4):
                if done >= total:
                    break
                records.append(record)
                done += record["seconds"]
                bar.update(round(done) - bar.n)
        bar.close()
        count = config.heldout_utterances * len(heldout_voices)
        heldout_jobs = _jobs(root, config, "heldout", heldout_voices, len(train_voices))
        jobs = [next(heldout_jobs) for _ in range(count)]
        records += list(tqdm(pool.imap(_synthesize, jobs, chunksize=4), total=count, desc="held-out speech"))
    with open(root / "metadata.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    speakers = [{"id": i, "split": "train" if i < len(train_voices) else "heldout", **asdict(v), "name": v.name}
                for i, v in enumerate(train_voices + heldout_voices)]
    manifest.write_text(json.dumps({"config": asdict(config), "speakers": speakers}, indent=2))
    return root


class SpeechCorpus(CorpusReader):
    """Read access to a speech corpus folder."""
    config_class = SpeechCorpusConfig
    build_command = "python -m audiolm train corpus"

    def frame_phones(self, record: dict, frame_rate: float, num_frames: int) -> list[str]:
        """The phone sounding at the centre of each frame ('_' for silence before the first)."""
        starts = [t for t, _ in record["phones"]]
        names = [p for _, p in record["phones"]]
        labels = []
        for i in range(num_frames):
            k = int(np.searchsorted(starts, (i + 0.5) / frame_rate, side="right")) - 1
            labels.append(names[k] if k >= 0 else "_")
        return labels
