"""Warm-start a stage across a change of semantic tokenizer.

A stage trained on one tokenizer's ids (say k-means of encoder block 2) means nothing to another
tokenizer's ids (block 1, or a retrained encoder), even when the vocabulary size is the same: id 17 is
another sound. Tokenize the same audio with both, count which old id each new id shares its frames with,
and set each new id's rows in the stage's id-indexed tables (embeddings, and output rows where the stage
predicts the ids) to the mean of the old ids' rows, weighted by those counts. The rest of the stage is
kept. Measured on the speech bundle (block 2 -> block 1, 1024 clusters each, 10 real held-out readers,
``benchmarks/coarse_ce.py``): the coarse stage's teacher-forced level-1 cross-entropy is 3.22 nats on its
own ids, 6.18 on the new ids as they are, 3.25 on the new ids after the remap.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..semantic.tokenizer import SemanticTokenizer
from ..serialization import CONFIG_NAME, WEIGHTS_NAME
from ..stages import load_stage

# the stream of each role's stage that holds semantic ids (the fine stage reads none)
SEMANTIC_STREAM = {"semantic": "target", "coarse": "cond"}


def same_tokenizer(a: SemanticTokenizer, b: SemanticTokenizer) -> bool:
    return a.config == b.config and torch.equal(a.centroids, b.centroids) and all(
        torch.equal(x, y) for x, y in zip(a.encoder.state_dict().values(), b.encoder.state_dict().values()))


def cooccurrence(old_ids: torch.Tensor, new_ids: torch.Tensor, vocab: int) -> torch.Tensor:
    """``(vocab, vocab)`` counts of frames where the new tokenizer says the row's id and the old one the column's."""
    if old_ids.shape != new_ids.shape:
        raise ValueError(f"the two tokenizations differ in length: {tuple(old_ids.shape)} and {tuple(new_ids.shape)}")
    flat = new_ids.reshape(-1).long() * vocab + old_ids.reshape(-1).long()
    return torch.bincount(flat, minlength=vocab * vocab).reshape(vocab, vocab).double()


def remap_rows(state: dict[str, torch.Tensor], rows: dict[str, list[int]], counts: torch.Tensor) -> dict:
    """``state`` with, for each table and level start in ``rows``, new id j's row = the count-weighted mean
    of the old ids' rows (``counts (V, V)``: the two tokenizers have one vocabulary size). New ids seen on no
    frame keep their old row. Returns a new dict."""
    vocab = counts.shape[0]
    if counts.shape != (vocab, vocab):
        raise ValueError(f"the tokenizers' vocabularies differ ({counts.shape[1]} -> {counts.shape[0]} ids)")
    seen = counts.sum(1) > 0
    weights = (counts / counts.sum(1, keepdim=True).clamp_min(1)).float()
    out = dict(state)
    for name, starts in rows.items():
        table = state[name].float().clone()
        for start in starts:
            mixed = weights @ table[start:start + vocab]
            table[start:start + vocab][seen] = mixed[seen]
        out[name] = table
    return out


def tokenize_both(old: SemanticTokenizer, new: SemanticTokenizer, waves) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tokenizers' ids of every wave, concatenated (frames line up: same rate and lengths)."""
    a, b = [], []
    for wav in waves:
        x = torch.as_tensor(np.asarray(wav, dtype=np.float32))[None]
        a.append(old.tokenize(x)[0])
        b.append(new.tokenize(x)[0])
    return torch.cat(a), torch.cat(b)


def remap_stage(source: str | Path, stream: str, counts: torch.Tensor, out: str | Path) -> dict:
    """The stage component in ``source`` saved into ``out`` with ``stream``'s id rows remapped; returns a
    summary (also written to ``out/remap.json``)."""
    stage = load_stage(source)
    rows = stage.id_rows(stream)
    if not rows:
        raise ValueError(f"the {stage.layout} layout has no id-indexed tables to remap")
    state = remap_rows({k: v.detach().float() for k, v in stage.state_dict().items()}, rows, counts)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(source) / CONFIG_NAME, out / CONFIG_NAME)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / WEIGHTS_NAME))
    seen = counts.sum(1) > 0
    summary = {"source": str(source), "frames": int(counts.sum()), "new_ids_seen": int(seen.sum()),
               "mean_share_of_the_most_shared_old_id": round(float((counts.max(1).values[seen]
                                                                    / counts.sum(1)[seen]).mean()), 3),
               "tables": {name: len(starts) for name, starts in rows.items()}}
    (out / "remap.json").write_text(json.dumps(summary, indent=1))
    return summary
