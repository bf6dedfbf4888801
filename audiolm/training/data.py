"""Training batches: random audio crops from a corpus, random windows of cached token streams."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


class AudioCrops:
    """All utterances of a split in one array; random fixed-length crops inside utterances."""

    def __init__(self, waves: list[np.ndarray]):
        waves = [w for w in waves if len(w)]
        self.audio = torch.from_numpy(np.concatenate(waves).astype(np.float32))
        self.ends = torch.from_numpy(np.cumsum([len(w) for w in waves]))
        self.starts = self.ends - torch.tensor([len(w) for w in waves])

    @classmethod
    def from_corpus(cls, corpus, split: str = "train") -> "AudioCrops":
        records = corpus.split(split)
        return cls([corpus.audio(r) for r in tqdm(records, desc=f"loading {split} audio", leave=False)])

    def batch(self, batch_size: int, length: int, generator: torch.Generator, gain_db: float = 0.0) -> torch.Tensor:
        """``(batch_size, length)`` crops (each within one utterance), random gain in ``[-gain_db, 0]`` dB."""
        positions = torch.randint(0, len(self.audio), (batch_size,), generator=generator)
        utt = torch.searchsorted(self.ends, positions, right=True).clamp(max=len(self.ends) - 1)
        starts = torch.minimum(positions, self.ends[utt] - length).clamp(min=self.starts[utt])
        index = starts[:, None] + torch.arange(length)[None]
        crops = self.audio[index.clamp(max=len(self.audio) - 1)]
        if gain_db:
            gains = 10 ** (-gain_db * torch.rand(batch_size, 1, generator=generator) / 20)
            crops = crops * gains
        return crops


class TokenWindows:
    """Random windows of token streams (each stream: ``(levels, frames)``), one frame rate."""

    def __init__(self, streams: list[torch.Tensor]):
        self.indices = [k for k, s in enumerate(streams) if s.shape[-1] > 0]  # empty streams are never drawn
        self.lengths = torch.tensor([streams[k].shape[-1] for k in self.indices], dtype=torch.float64)

    def starts(self, batch_size: int, frames: int, generator: torch.Generator) -> list[tuple[int, int]]:
        """(stream index in the given list, start frame) pairs, streams drawn in proportion to their length."""
        chosen = torch.multinomial(self.lengths, batch_size, replacement=True, generator=generator)
        out = []
        for i in chosen.tolist():
            room = max(1, int(self.lengths[i]) - frames + 1)
            out.append((self.indices[i], int(torch.randint(0, room, (1,), generator=generator))))
        return out
