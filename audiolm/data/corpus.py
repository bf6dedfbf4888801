"""Read access to a corpus folder: ``corpus.json`` (the config), ``metadata.jsonl`` (one record
per clip, with its split and relative ``path``) and 16-bit wav files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from ..serialization import config_from_dict


class CorpusReader:
    config_class: type  # the corpus' dataclass config, as stored in corpus.json
    build_command: str  # how to build one, for the error message

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / "metadata.jsonl").is_file():
            raise FileNotFoundError(f"{self.root} holds no corpus (metadata.jsonl missing): "
                                    f"build one with `{self.build_command}`")
        manifest = json.loads((self.root / "corpus.json").read_text())
        self.config = config_from_dict(self.config_class, manifest["config"])
        self.records = [json.loads(line) for line in open(self.root / "metadata.jsonl")]

    def split(self, name: str) -> list[dict]:
        return [r for r in self.records if r["split"] == name]

    def audio(self, record: dict) -> np.ndarray:
        wav, sr = sf.read(self.root / record["path"], dtype="float32")
        assert sr == self.config.sample_rate, (sr, self.config.sample_rate)
        return wav
