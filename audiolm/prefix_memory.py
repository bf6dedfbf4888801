"""kNN-LM over a stage's known prefix: Khandelwal et al. (2020)'s datastore, built from the prompt alone.

A stage continuing a prompt meets, at every step, a context much like some it met in the prompt, where the prompt
holds the token that came next. ``PrefixMemory`` keeps, for each prompt token, the stage's last hidden state that
predicted it (the key) and the token (the value), level by level; each generated token is then drawn from
``(1 - w) p_stage + w p_kNN``, ``p_kNN`` the softmax of the keys' cosine similarity to the current hidden state at
temperature ``tau``, summed per token. The stage still writes every token; the memory leans it toward what the
prompt did in contexts like the present one. In the piano bundle's semantic stage it keeps more of the prompt's
harmony, not its tempo (``benchmarks/piano_sweep.py --prefix-knn-stage semantic``); in a coarse stage it cost the
piano's note clarity and, on speech, the speaker similarity to the prompt and the content
(``benchmarks/results/*-progress.json``), so both bundles leave it off there.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class PrefixMemory:
    """Keys and values of the known target frames of a stage's first window, one table per target level."""

    def __init__(self, hidden: torch.Tensor, positions: torch.Tensor, tokens: torch.Tensor, weight: float,
                 temperature: float):
        """``hidden (B, S, d)``: the stage's last hidden states over the window's ids but the last (the rows of
        the samples, not guidance's null rows); ``positions (F, L)``: where the window's ``F`` known frames'
        tokens sit in those ids (each is predicted from the state just before it); ``tokens (B, L, F)``: those
        tokens, as ids within each level's codebook."""
        keys = F.normalize(hidden.float(), dim=-1)
        self.keys = [keys[:, positions[:, level] - 1] for level in range(positions.shape[1])]  # (B, F, d) each
        self.tokens, self.weight, self.temperature = tokens, float(weight), float(temperature)

    def mix(self, logits: torch.Tensor, hidden: torch.Tensor, level: int) -> torch.Tensor:
        """``logits (B, K)`` of ``level`` given the stage's current state ``hidden (B, d)`` -> the log of
        ``(1 - w) softmax(logits) + w p_kNN`` (what temperature, top-k and top-p then apply to)."""
        similarity = torch.einsum("bd,bfd->bf", F.normalize(hidden.float(), dim=-1), self.keys[level])
        neighbours = (similarity / self.temperature).softmax(-1)
        p_knn = torch.zeros_like(logits, dtype=torch.float).scatter_add_(1, self.tokens[:, level], neighbours)
        mixed = (1 - self.weight) * logits.float().softmax(-1) + self.weight * p_knn
        return mixed.clamp_min(torch.finfo(mixed.dtype).tiny).log()
