"""Real recordings from any folders: speakers from the folder layout, words from transcripts.

Speaker of a file: the first subfolder below the given folder (``SPEAKER0001/x.flac``,
LibriSpeech's ``103/1240/103-1240-0000.flac``), or, for files directly in it, the file-name
prefix before the first ``-`` or ``_`` (``103-1240-0000.flac``). Words come from Kaldi-style
``text`` files and LibriSpeech ``*.trans.txt`` files (``utterance-id words``) where present.
Every folder and file is checked against the held-out guard before it is read.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import soundfile as sf

from ..heldout import check_not_heldout
from ..shared_data import REPO_ROOT, shared_data_path
from .base import Item, SpeechSource

DEFAULT_FOLDERS = ("speech/librispeech/train-clean", "speech/speechocean762")  # under ../shared/data


def default_real_speech_dirs(repo_root: str | Path = REPO_ROOT) -> tuple[str, ...]:
    """The shared training recordings next to the repository, those that are there."""
    paths = [shared_data_path(*f.split("/"), repo_root=repo_root) for f in DEFAULT_FOLDERS]
    return tuple(str(p) for p in paths if p is not None and p.is_dir())


@dataclass
class RealSourceConfig:
    folders: tuple[str, ...] = ()  # empty: default_real_speech_dirs()
    extensions: tuple[str, ...] = (".flac", ".wav")


def _speaker_of(folder: Path, file: Path) -> str:
    rel = file.relative_to(folder)
    local = rel.parts[0] if len(rel.parts) > 1 else re.split(r"[-_]", file.stem)[0]
    return f"{folder.name}/{local}"


def _transcripts(folder: Path) -> dict[str, str]:
    texts = {}
    for path in [*folder.glob("text"), *folder.rglob("*.trans.txt")]:
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split(maxsplit=1)
            if len(fields) == 2:
                texts[fields[0]] = fields[1].strip()
    return texts


class RealSource(SpeechSource):
    name = "real"
    synthetic = False
    config_class = RealSourceConfig

    def __init__(self, config=None, sample_rate: int = 16000):
        super().__init__(config, sample_rate)
        folders = self.config.folders or default_real_speech_dirs()
        if not folders:
            raise RuntimeError("no folders of real recordings: pass some (--real-speech DIR ...)")
        self._files: dict[str, list[Path]] = {}
        self._texts: dict[Path, str] = {}
        for folder in map(Path, folders):
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} is not a folder of recordings")
            check_not_heldout(folder)
            texts = _transcripts(folder)
            for file in sorted(p for p in folder.rglob("*") if p.suffix.lower() in self.config.extensions):
                check_not_heldout(file)
                self._files.setdefault(_speaker_of(folder, file), []).append(file)
                if file.stem in texts:
                    self._texts[file] = texts[file.stem]
        if not self._files:
            raise RuntimeError(f"no {'/'.join(self.config.extensions)} recordings in {folders}")

    def speakers(self) -> list[str]:
        return list(self._files)

    def files(self, speaker: str) -> list[Path]:
        return list(self._files[speaker])

    def seconds(self, speaker: str) -> float:
        return sum(sf.info(f).duration for f in self._files[speaker])

    def utterances(self, speaker: str, rng: random.Random, heldout_text: bool = False) -> Iterator[Item]:
        files = self.files(speaker)
        rng.shuffle(files)
        for file in files:
            check_not_heldout(file)
            audio, sample_rate = sf.read(file, dtype="float32", always_2d=False)
            yield Item(self.resampled(audio, sample_rate), speaker, self._texts.get(file), str(file))
