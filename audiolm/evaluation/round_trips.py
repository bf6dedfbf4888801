"""What every speech figure starts from: a clip through the bundle's codec, a clip's semantic ids,
and how often two id sequences agree."""
from __future__ import annotations

import numpy as np
import torch


def resynthesize(model, wav: np.ndarray, levels: int | None = None) -> np.ndarray:
    ids = model.codec.encode(torch.from_numpy(wav)[None].to(model.device))
    return model.codec.decode(ids[:, :levels])[0].float().cpu().numpy()[: len(wav)]


def semantic_ids(tokenizer, wav: np.ndarray) -> np.ndarray:
    return tokenizer.tokenize(torch.from_numpy(wav)[None])[0].numpy()


def agreement(ids: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of frames (over the shorter sequence) where the ids equal the reference's."""
    n = min(len(ids), len(reference))
    return float((ids[:n] == reference[:n]).mean())
