"""Tokenize a corpus once: semantic and acoustic ids of every utterance, cached on disk.

Each utterance is trimmed to whole alignment units (640 samples at 25/50 Hz) so that it has
exactly ``rate_ratio`` acoustic frames per semantic frame, as the pipeline's prompts do.
Stages train on per-speaker *streams*: a speaker's utterances concatenated, so that windows
cross utterance boundaries with the voice kept, the situation of continuation and of
acoustic generation with a voice prompt.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm


@dataclass
class TokenCache:
    semantic: list[torch.Tensor]  # per utterance (T_s,)
    acoustic: list[torch.Tensor]  # per utterance (Q, T_a)
    records: list[dict]  # the corpus records, same order

    def streams(self, tail_frames: tuple[int, int] = (0, 0)) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-speaker (speech) or per-piece (music, a record's ``stream``) concatenations:
        semantic ``(1, T_s)`` and acoustic ``(Q, T_a)`` streams, without their last ``tail_frames``
        (semantic, acoustic)."""
        cut_sem, cut_aco = tail_frames
        return self.per_stream([s[None] for s in self.semantic], cut_sem), self.per_stream(self.acoustic, cut_aco)

    def per_stream(self, values: list[torch.Tensor], tail: int = 0) -> list[torch.Tensor]:
        """``values`` (one ``(rows, T)`` tensor per record, in ``records``' order) concatenated per speaker or piece
        as ``streams`` does, without their last ``tail`` frames."""
        by_stream: dict[int | str, list[int]] = {}
        for i, record in enumerate(self.records):
            by_stream.setdefault(record.get("stream", record.get("speaker")), []).append(i)
        joined = [torch.cat([values[i] for i in idx], 1) for idx in by_stream.values()]
        return [v[:, :max(0, v.shape[1] - tail)] for v in joined]

    def save(self, path: Path, fingerprint: str) -> None:
        tensors = {"semantic": torch.cat(self.semantic), "acoustic": torch.cat(self.acoustic, 1),
                   "semantic_lengths": torch.tensor([len(s) for s in self.semantic]),
                   "acoustic_lengths": torch.tensor([a.shape[1] for a in self.acoustic])}
        save_file({k: v.to(torch.int32).contiguous() for k, v in tensors.items()}, str(path),
                  metadata={"fingerprint": fingerprint, "ids": json.dumps([r["id"] for r in self.records])})

    @classmethod
    def load(cls, path: Path, records_by_id: dict[str, dict]) -> "TokenCache":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            ids = json.loads(f.metadata()["ids"])
        t = {k: v.long() for k, v in load_file(str(path)).items()}
        semantic = list(torch.split(t["semantic"], t["semantic_lengths"].tolist()))
        acoustic = list(torch.split(t["acoustic"], t["acoustic_lengths"].tolist(), dim=1))
        return cls(semantic, acoustic, [records_by_id[i] for i in ids])


def fingerprint(*folders: Path) -> str:
    """Changes exactly when a component's files change: a hash of their names and contents. Not of their
    times, so that a work folder copied without keeping them (``cp -r``) keeps its token cache."""
    digest = hashlib.sha256()
    for folder in folders:
        for f in sorted(p for p in Path(folder).glob("*") if p.is_file()):
            with open(f, "rb") as handle:
                digest.update(f.name.encode() + b"\0" + hashlib.file_digest(handle, "sha256").digest())
    return f"sha256:{digest.hexdigest()}"


def tokenize_corpus(corpus, split: str, codec, tokenizer, path: Path, key: str, batch_seconds: float = 60.0,
                    device: str = "cpu") -> TokenCache:
    """Tokens of every ``split`` utterance, from ``path`` when it was written for the same ``key``."""
    path = Path(path)
    records = corpus.split(split)
    if path.is_file():
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            if f.metadata().get("fingerprint") == key:
                return TokenCache.load(path, {r["id"]: r for r in records})
    unit = math.lcm(tokenizer.sample_rate // round(tokenizer.frame_rate), codec.hop_length)
    semantic, acoustic = [], []
    for record in tqdm(records, desc=f"tokenizing {split}"):
        wav = corpus.audio(record)
        wav = wav[: len(wav) // unit * unit]
        x = torch.from_numpy(np.ascontiguousarray(wav))[None].to(device)
        semantic.append(tokenizer.tokenize(x)[0].cpu())
        acoustic.append(codec.encode(x)[0].cpu())
    cache = TokenCache(semantic, acoustic, records)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache.save(path, key)
    return cache


def style_events(corpus, cache: TokenCache, style, frame_rate: float, path: Path) -> list[torch.Tensor]:
    """``style``'s events (``audiolm.styles``) of every record of ``cache``, one per semantic id, from ``path`` when
    it was written for the same style and records."""
    path = Path(path)
    key = json.dumps({"style": style.name, "ids": [r["id"] for r in cache.records],
                      "frames": [len(s) for s in cache.semantic]})
    if path.is_file():
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            if f.metadata().get("key") == key:
                events = f.get_tensor("events").long()
                return list(torch.split(events, [len(s) for s in cache.semantic]))
    events = [style.frame_events(corpus.audio(record), corpus.config.sample_rate, len(ids), frame_rate)
              for record, ids in tqdm(list(zip(cache.records, cache.semantic)), desc=f"{style.name} events")]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"events": torch.cat(events).to(torch.int32).contiguous()}, str(path), metadata={"key": key})
    return events
