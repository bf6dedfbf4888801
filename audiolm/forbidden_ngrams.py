"""The n-grams of a stage's known prefix, forbidden while it continues the prefix.

A continuation should go on from its prompt, not replay it. Where a stage has been adapted to its prompt
(``audiolm.prompt_adaptation``) it learns the prompt's ids by heart and, unchecked, repeats stretches of half a
second or more. ``ForbiddenNGrams`` masks, at every step, each id that would complete an n-gram of the prefix
(the last ``n - 1`` ids of the level's stream followed by that id), so no n-gram of the prompt comes back while
shorter overlaps, as in real speech, stay possible. Forbidding the prompt's 4-grams without the adaptation is not
a lever of its own on the speech bundle's continuations: their speaker similarity moved by +0.001 to +0.014 from
one block of draws to another (progress entries ``real_ids_plans_and_prompt_adaptation_2026_12_07`` and
``prompt_adaptation_2026_12_07`` in ``benchmarks/results/speech-mixed-progress.json``).
"""
from __future__ import annotations

from collections import defaultdict

import torch


class ForbiddenNGrams:
    """For each sample and level of a prefix ``(B, L, P)``: which ids follow each of its ``(n - 1)``-grams."""

    def __init__(self, prefix: torch.Tensor, n: int):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.next_ids: list[list[dict[tuple[int, ...], list[int]]]] = []
        for row in prefix.tolist():
            levels = []
            for stream in row:
                following = defaultdict(set)
                for i in range(len(stream) - n + 1):
                    following[tuple(stream[i:i + n - 1])].add(stream[i + n - 1])
                levels.append({context: sorted(ids) for context, ids in following.items()})
            self.next_ids.append(levels)

    def mask(self, logits: torch.Tensor, history: torch.Tensor, level: int) -> torch.Tensor:
        """``logits (B, K)`` of ``level``'s next id with every id that would complete one of the prefix's n-grams
        after ``history (B, t)`` (the level's ids so far, prefix included) set to -inf; a row whose every id would
        be forbidden keeps its logits."""
        if history.shape[1] < self.n - 1:
            return logits
        contexts = history[:, history.shape[1] - self.n + 1:].tolist()
        out = None
        for row, context in enumerate(contexts):
            banned = self.next_ids[row][level].get(tuple(context))
            if banned and len(banned) < logits.shape[-1]:
                out = logits.clone() if out is None else out
                out[row, banned] = float("-inf")
        return logits if out is None else out
