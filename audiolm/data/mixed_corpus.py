"""The mixed speech corpus: real recordings and synthesizers, pseudo-speakers, recording conditions.

One command rebuilds it from the repository and ``../shared/data``::

    python -m audiolm.data.mixed_corpus --out data/speech-mixed --hours 10 [--real-speech DIR ...]

Layout (what :class:`~audiolm.data.corpus.CorpusReader` reads)::

    corpus.json        the config, the sources used and every voice
    metadata.jsonl     one record per clip: id, split, speaker, source, source_speaker, pseudo_speaker,
                       condition, session, text (or null), path, seconds, origin
    wavs/<split>/<source>/<voice>/<session round>-<n>.wav   16 kHz mono int16

A *voice* (the record's ``speaker``) is one source speaker (a reader, a synthesizer voice) times
one pseudo-speaker (``p0`` = its own voice, ``p1``... = a fixed formant / pitch change drawn from
the voice's name), so a training window of one speaker never mixes two voices. A *session* is
a few utterances of one voice sharing one recording condition (room, noise, EQ, band). Splits:
``train`` and ``heldout_synthetic`` (engines kept out of training entirely, reading the
sentence generator's held-out sentences). The real held-out set (librispeech/test-other) is
never read: every real folder and file passes :func:`~audiolm.data.heldout.check_not_heldout`.

The build is resumable: finished sessions are appended to ``metadata.partial.jsonl`` and skipped
on a rerun with the same config; ``metadata.jsonl`` appears when the corpus is complete.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import random
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from .augment import Condition, ConditionConfig, Speaker, SpeakerConfig
from .corpus import CorpusReader
from .sources import (EspeakSourceConfig, FestivalSourceConfig, FliteSourceConfig, RealSourceConfig, SpeechSource,
                      default_real_speech_dirs, make_source)

TRAIN, HELDOUT = "train", "heldout_synthetic"


@dataclass
class MixedCorpusConfig:
    hours: float = 10.0  # training audio
    train_sources: tuple[str, ...] = ("real", "espeak", "flite")
    heldout_sources: tuple[str, ...] = ("festival",)  # engines kept out of training entirely
    real_share: float = 0.5  # of the training hours; the training synthesizers share the rest equally
    heldout_minutes: float = 10.0  # per held-out engine
    pseudo_speakers: int = 4  # per source speaker, beside its own voice
    keep_original: bool = True  # the source speaker's own voice is one of its voices
    session_utterances: int = 3  # utterances per speaker-session (recordings: up to this many of the speaker's)
    sample_rate: int = 16000
    seed: int = 0
    real: RealSourceConfig = field(default_factory=RealSourceConfig)
    espeak: EspeakSourceConfig = field(default_factory=EspeakSourceConfig)
    flite: FliteSourceConfig = field(default_factory=FliteSourceConfig)
    festival: FestivalSourceConfig = field(default_factory=FestivalSourceConfig)
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    condition: ConditionConfig = field(default_factory=ConditionConfig)


@dataclass(frozen=True)
class Session:
    """A few utterances of one voice in one recording condition."""
    split: str
    source: str
    source_speaker: str
    pseudo: int  # 0 = the source speaker's own voice
    round: int  # the how-many-th session of this voice

    @property
    def voice(self) -> str:
        return f"{self.source}/{self.source_speaker}/p{self.pseudo}"

    @property
    def id(self) -> str:
        return f"{_safe(self.voice)}-r{self.round}"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text)


def stable_seed(*parts) -> int:
    """A seed from strings and numbers, the same in every process and Python run."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "little")


def sessions(config: MixedCorpusConfig, split: str, source: str, speakers: list[str]) -> Iterator[Session]:
    """Every voice once per round (in a shuffled order), then again with new conditions, endlessly."""
    pseudos = range(0 if config.keep_original else 1, config.pseudo_speakers + 1)
    for round_ in itertools.count():
        pairs = [(s, p) for s in speakers for p in pseudos]
        random.Random(stable_seed(config.seed, split, source, round_)).shuffle(pairs)
        for speaker, pseudo in pairs:
            yield Session(split, source, speaker, pseudo, round_)


class SessionMaker:
    """Synthesizes or reads, augments and writes one session's clips; returns their records."""

    def __init__(self, root: Path, config: MixedCorpusConfig, sources: dict[str, SpeechSource]):
        self.root, self.config, self.sources = root, config, sources
        self.speaker = Speaker(config.speaker)
        self.condition = Condition(config.condition)

    def pseudo_speaker(self, session: Session):
        """The voice's fixed perturbation (None for the source speaker's own voice)."""
        if session.pseudo == 0:
            return None
        return self.speaker.sample(np.random.default_rng(stable_seed(self.config.seed, session.voice)))

    def __call__(self, session: Session) -> list[dict]:
        c, sr = self.config, self.config.sample_rate
        rng = np.random.default_rng(stable_seed(c.seed, session.id))
        voice_params = self.pseudo_speaker(session)
        condition = self.condition.sample(rng)
        utterances = self.sources[session.source].utterances(
            session.source_speaker, random.Random(stable_seed(c.seed, session.id, "text")),
            heldout_text=session.split != TRAIN)
        records = []
        for k, item in enumerate(itertools.islice(utterances, c.session_utterances)):
            wav = item.audio
            if voice_params is not None:
                wav = self.speaker.apply(wav, sr, voice_params, rng)
            wav = self.condition.apply(wav, sr, condition, rng)
            peak = float(np.abs(wav).max()) if len(wav) else 0.0
            if peak > 0.99:
                wav = wav * (0.99 / peak)
            path = f"wavs/{session.split}/{session.source}/{_safe(session.voice)}/{session.round:03d}-{k}.wav"
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            sf.write(self.root / path, wav, sr, subtype="PCM_16")
            records.append({"id": f"{session.id}-{k}", "split": session.split, "speaker": session.voice,
                            "source": session.source, "source_speaker": session.source_speaker,
                            "pseudo_speaker": asdict(voice_params) if voice_params else None,
                            "condition": Condition.describe(condition), "session": session.id, "text": item.text,
                            "path": path, "seconds": round(len(wav) / sr, 4), "origin": item.origin})
        return records


def _worker(maker: SessionMaker, tasks, results) -> None:
    for session in iter(tasks.get, None):
        try:
            results.put(maker(session))
        except Exception:  # noqa: BLE001 - reported to the parent, which raises
            results.put(traceback.format_exc())


class _Runner:
    """Runs sessions in ``workers`` forked processes (each keeps its own engines), or inline."""

    def __init__(self, maker: SessionMaker, workers: int):
        self.maker, self.workers, self.processes = maker, workers, []
        if workers > 1:
            ctx = get_context("fork")
            self.tasks, self.results = ctx.Queue(), ctx.Queue()
            self.processes = [ctx.Process(target=_worker, args=(maker, self.tasks, self.results), daemon=True)
                              for _ in range(workers)]
            for p in self.processes:
                p.start()

    def run(self, batch: list[Session]) -> Iterator[list[dict]]:
        if not self.processes:
            yield from map(self.maker, batch)
            return
        for session in batch:
            self.tasks.put(session)
        for _ in batch:
            out = self.results.get()
            if isinstance(out, str):
                raise RuntimeError(f"a corpus worker failed:\n{out}")
            yield out

    def close(self) -> None:
        for _ in self.processes:
            self.tasks.put(None)
        for p in self.processes:
            p.join(timeout=30)


def _batch(records: list[dict], remaining: float, workers: int) -> int:
    """Sessions to start now: enough to keep the workers busy, few enough not to overshoot much."""
    sessions_done = len({r["session"] for r in records})
    mean = sum(r["seconds"] for r in records) / sessions_done if sessions_done else 20.0
    return max(1, min(2 * workers, math.ceil(remaining / mean)))


def _plain(config: MixedCorpusConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))


def _load_sources(config: MixedCorpusConfig, log) -> dict[str, SpeechSource]:
    overlap = set(config.train_sources) & set(config.heldout_sources)
    if overlap:
        raise ValueError(f"{sorted(overlap)} cannot be both a training and a held-out source")
    sources = {}
    for name in (*config.train_sources, *config.heldout_sources):
        try:
            sources[name] = make_source(name, getattr(config, name), config.sample_rate)
        except RuntimeError as exc:  # an engine that is not installed: the corpus goes on without it
            log(f"skipping source {name}: {exc}")
    return sources


def _targets(config: MixedCorpusConfig, sources: dict) -> list[tuple[str, str, float]]:
    """(split, source, seconds) in build order."""
    train = [s for s in config.train_sources if s in sources]
    synthetic = [s for s in train if sources[s].synthetic]
    real = [s for s in train if not sources[s].synthetic]
    total = config.hours * 3600
    real_total = total * config.real_share if synthetic else total
    synth_total = total - real_total if real else total
    out = [(TRAIN, s, real_total / len(real)) for s in real]
    out += [(TRAIN, s, synth_total / len(synthetic)) for s in synthetic]
    out += [(HELDOUT, s, config.heldout_minutes * 60) for s in config.heldout_sources if s in sources]
    return out


def resolve(config: MixedCorpusConfig) -> MixedCorpusConfig:
    """The config with the default real-speech folders filled in (as recorded in corpus.json)."""
    if "real" in config.train_sources and not config.real.folders:
        config = replace(config, real=replace(config.real, folders=default_real_speech_dirs()))
    return config


def build_mixed_corpus(root: str | Path, config: MixedCorpusConfig | None = None, workers: int = 2,
                       log=print, progress: bool = True) -> Path:
    """Build the corpus into ``root`` (resumes a partial build, returns at once if it is complete)."""
    root, config = Path(root), resolve(config or MixedCorpusConfig())
    plain = _plain(config)
    manifest, final, partial, pending = (root / n for n in ("corpus.json", "metadata.jsonl",
                                                            "metadata.partial.jsonl", "build.json"))
    for path in (manifest, pending):
        if path.is_file() and json.loads(path.read_text())["config"] != plain:
            raise ValueError(f"{root} holds a corpus built with another config: choose another folder "
                             "or delete it")
    if manifest.is_file() and final.is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    pending.write_text(json.dumps({"config": plain}, indent=1))
    start = time.time()
    records = [json.loads(line) for line in open(partial)] if partial.is_file() else []
    done_sessions = {r["session"] for r in records}
    sources = _load_sources(config, log)
    targets = _targets(config, sources)
    maker = SessionMaker(root, config, sources)
    runner = _Runner(maker, workers)
    bar = tqdm(total=round(sum(t for *_, t in targets)), unit="s", desc="mixed corpus", disable=not progress)
    try:
        with open(partial, "a") as out:
            for split, name, target in targets:
                done = sum(r["seconds"] for r in records if r["split"] == split and r["source"] == name)
                bar.update(round(min(done, target)))
                stream = (s for s in sessions(config, split, name, sources[name].speakers())
                          if s.id not in done_sessions)
                while done < target:
                    for session_records in runner.run(list(itertools.islice(stream, _batch(records, target - done,
                                                                                           workers)))):
                        for record in session_records:
                            out.write(json.dumps(record) + "\n")
                        out.flush()
                        records += session_records
                        seconds = sum(r["seconds"] for r in session_records)
                        bar.update(round(min(done + seconds, target)) - round(min(done, target)))
                        done += seconds
    finally:
        runner.close()
        bar.close()
    records.sort(key=lambda r: (r["split"] != TRAIN, r["id"]))
    voices = {}
    for r in records:
        voices.setdefault(r["speaker"], {"split": r["split"], "source": r["source"],
                                         "source_speaker": r["source_speaker"], "pseudo_speaker": r["pseudo_speaker"]})
    manifest.write_text(json.dumps({
        "config": plain,
        "sources": {name: {"split": HELDOUT if name in config.heldout_sources else TRAIN,
                           "speakers": s.speakers()} for name, s in sources.items()},
        "hours": {split: round(sum(r["seconds"] for r in records if r["split"] == split) / 3600, 4)
                  for split in (TRAIN, HELDOUT)},
        "voices": voices, "build_seconds": round(time.time() - start, 1)}, indent=1))
    with open(final.with_suffix(".tmp"), "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    final.with_suffix(".tmp").replace(final)
    partial.unlink()
    pending.unlink()
    return root


class MixedCorpus(CorpusReader):
    """Read access to a mixed corpus folder."""
    config_class = MixedCorpusConfig
    build_command = "python -m audiolm.data.mixed_corpus --out DIR --hours H"

    def __init__(self, root: str | Path):
        super().__init__(root)
        for record in self.records:  # token streams (training windows) never leave a session: one voice,
            record.setdefault("stream", record["session"])  # one recording condition

    def sessions(self, split: str) -> dict[str, list[dict]]:
        """{session id: its records}: utterances of one voice in one recording condition."""
        out: dict[str, list[dict]] = {}
        for record in self.split(split):
            out.setdefault(record["session"], []).append(record)
        return out


def main(argv: list[str] | None = None) -> None:
    defaults = MixedCorpusConfig()
    p = argparse.ArgumentParser(prog="python -m audiolm.data.mixed_corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="corpus folder (resumed if a build with this config is there)")
    p.add_argument("--hours", type=float, default=defaults.hours, help="training audio")
    p.add_argument("--real-speech", nargs="+", metavar="DIR", default=[],
                   help="folders of recordings (default: ../shared/data's librispeech/train-clean and speechocean762)")
    p.add_argument("--train-sources", nargs="+", default=list(defaults.train_sources))
    p.add_argument("--heldout-sources", nargs="*", default=list(defaults.heldout_sources))
    p.add_argument("--real-share", type=float, default=defaults.real_share)
    p.add_argument("--heldout-minutes", type=float, default=defaults.heldout_minutes, help="per held-out engine")
    p.add_argument("--pseudo-speakers", type=int, default=defaults.pseudo_speakers,
                   help="perturbed voices per source speaker, beside its own")
    p.add_argument("--session-utterances", type=int, default=defaults.session_utterances)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    config = replace(defaults, hours=a.hours, train_sources=tuple(a.train_sources),
                     heldout_sources=tuple(a.heldout_sources), real_share=a.real_share,
                     heldout_minutes=a.heldout_minutes, pseudo_speakers=a.pseudo_speakers,
                     session_utterances=a.session_utterances, seed=a.seed,
                     real=RealSourceConfig(folders=tuple(a.real_speech)))
    root = build_mixed_corpus(a.out, config, workers=a.workers, log=lambda m: print(m, file=sys.stderr))
    summary = json.loads((root / "corpus.json").read_text())
    print(f"{root}: {summary['hours']} hours, {len(summary['voices'])} voices, built in {summary['build_seconds']} s")


if __name__ == "__main__":
    main()
