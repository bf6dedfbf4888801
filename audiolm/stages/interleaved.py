"""Autoregressive stage whose cond is interleaved with its target, each cond frame just before the target
frames it covers: ``[BOS] [SEP] c0 t0 t1 c1 t2 t3 ...`` (cond frame-major with its levels, then its
``align`` target frames, each frame-major with its levels; same vocabulary and window length as ``flat``).

In the flat layout the content of the frame being generated sits hundreds of positions back, at a place the
model has to work out from the frame's position; a small coarse stage with a 6 s window mostly ignored it
(piano: harmony 0.21-0.29 from the true semantic ids, which alone predict 0.56). Here the content of every
frame is the latest cond token before it.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..sampling import SamplingConfig, sample
from .base import ProgressFn
from .flat import FlatStage
from .windows import autoregressive_windows, cond_align, pinned


class InterleavedStage(FlatStage):
    type_name, layout = "interleaved", "interleaved"

    @property
    def align(self) -> int:
        """Target frames per cond frame."""
        return cond_align(self.config.cond_rate, self.config.target_rate)

    def _has_cond(self, cond) -> bool:
        return cond is not None and self.config.cond_levels > 0

    # ----- layout -----
    def flatten(self, cond: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
        """``cond (B, Lc, >= ceil(T/align))``, ``target (B, Lt, T)`` -> ids ``(B, 2 + Lc*G + Lt*T)``, G the cond
        frames under the target (no cond: the flat layout)."""
        if not self._has_cond(cond):
            return super().flatten(cond, target)
        c, B, T, a = self.config, target.shape[0], target.shape[2], self.align
        G = -(-T // a)
        if cond.shape[2] < G:
            raise ValueError(f"cond ids must cover the target: {G} frames needed, got {cond.shape[2]}")
        self._check(cond, c.cond_levels, c.cond_codebook, "cond")
        self._check(target, c.target_levels, c.target_codebook, "target")
        head = torch.tensor([c.bos, c.sep], device=target.device).expand(B, 2)
        cond_ids = (cond[:, :, :G] + self.cond_offsets[:, None]).transpose(1, 2)  # (B, G, Lc)
        padded = F.pad(target + self.target_offsets[:, None], (0, G * a - T))  # (B, Lt, G*a)
        target_ids = padded.transpose(1, 2).reshape(B, G, a * c.target_levels)
        body = torch.cat([cond_ids, target_ids], 2).reshape(B, -1)[:, :G * c.cond_levels + T * c.target_levels]
        return torch.cat([head, body], 1)

    def target_positions(self, frames: int) -> torch.Tensor:
        """Positions ``(frames, Lt)`` of the target tokens in a window of ``frames`` frames with cond."""
        c, a = self.config, self.align
        frame = torch.arange(frames)[:, None]
        group_start = 2 + (frame // a) * (c.cond_levels + a * c.target_levels) + c.cond_levels
        return group_start + (frame % a) * c.target_levels + torch.arange(c.target_levels)[None]

    def null_cond(self, ids: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` with every cond token of ``rows`` (all if None) BOS: cond ids are the vocabulary's first rows."""
        ids = ids.clone()
        mask = ids < self.config.target_offset
        if rows is not None:
            mask &= rows[:, None]
        ids[mask] = self.config.bos
        return ids

    # ----- training -----
    def loss(self, cond: torch.Tensor | None, target: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Cross-entropy of every target token, each over its own level's codebook."""
        if not self._has_cond(cond):
            return super().loss(cond, target, generator)
        ids = self.flatten(cond, target)
        B, L, T = target.shape
        if self.training and self.config.cond_dropout > 0:
            drop = torch.rand(B, generator=generator) < self.config.cond_dropout
            ids = self.null_cond(ids, drop.to(ids.device))
        logits = self.lm(ids[:, :-1])  # position p predicts token p + 1
        predicted_from = (self.target_positions(T) - 1).to(ids.device)  # (T, L)
        K = self.config.target_codebook
        per_level = torch.stack([logits[:, predicted_from[:, i], o:o + K]
                                 for i, o in enumerate(self.target_offsets.tolist())], 2)  # (B, T, L, K)
        return F.cross_entropy(per_level.reshape(-1, K).float(), target.transpose(1, 2).reshape(-1))

    # ----- sampling -----
    @torch.inference_mode()
    def stream(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
               sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
               progress: ProgressFn | None = None, cond_ready: Callable[[int], None] | None = None):
        """As ``FlatStage.stream``; each cond frame is fed just before the first target frame it covers."""
        if not self._has_cond(cond):
            yield from super().stream(cond, prefix, total_frames, sampling, generator, progress, cond_ready)
            return
        c, sampling, a = self.config, sampling or SamplingConfig(), self.align
        B, known = prefix.shape[0], prefix.shape[2]
        weight = self.guidance(sampling, True)
        guided = weight != 1  # rows B.. hold the same context with the null cond
        if cond_ready is not None:
            cond_ready(total_frames)
        out = torch.zeros(B, c.target_levels, max(total_frames, known), dtype=torch.long, device=prefix.device)
        out[:, :, :known] = prefix
        yield known, out[:, :, :total_frames]
        todo, done = (total_frames - known) * c.target_levels, 0
        ranges = [(o, o + c.target_codebook) for o in self.target_offsets.tolist()]
        for keep, start, end, window_cond in autoregressive_windows(c, cond, known, total_frames):
            # keep and start are whole cond frames: a frame opens a cond frame exactly when frame % a == 0,
            # and the context holds the cond frames of its own frames only
            ids = self.flatten(window_cond, pinned(out, keep, start, known))
            if guided:
                ids = torch.cat([ids, self.null_cond(ids)])
            cache = self.lm.body.new_cache(ids.shape[0], capacity=ids.shape[1] + (end - known) *
                                           (c.target_levels + c.cond_levels))
            feed = ids
            for frame in range(known, end):
                if frame % a == 0:
                    cond_ids = cond[:, :, frame // a] + self.cond_offsets  # (B, Lc)
                    if guided:
                        cond_ids = torch.cat([cond_ids, torch.full_like(cond_ids, c.bos)])
                    feed = torch.cat([feed, cond_ids], 1)
                for level, (lo, hi) in enumerate(ranges):
                    logits = self.lm(feed, cache, vocab_range=(lo, hi))[:, -1]
                    if guided:
                        logits = logits[B:] + weight * (logits[:B] - logits[B:])
                    token = sample(logits, sampling, generator)
                    out[:, level, frame] = token
                    feed = (token + lo)[:, None].repeat(2 if guided else 1, 1)
                done += c.target_levels
                if progress is not None:
                    progress(done, todo)
                yield frame + 1, out[:, :, :total_frames]
            known = end
