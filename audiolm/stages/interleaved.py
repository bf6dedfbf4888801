"""Autoregressive stage whose cond is interleaved with its target, each cond frame just before the target
frames it covers: ``[BOS] [SEP] c0 t0 t1 c1 t2 t3 ...`` (cond frame-major with its levels, then its
``align`` target frames, each frame-major with its levels; same vocabulary and window length as ``flat``).

In the flat layout the content of the frame being generated sits hundreds of positions back, at a place the
model has to work out from the frame's position; a small coarse stage with a 6 s window mostly ignored it
(piano: harmony 0.21-0.29 from the true semantic ids, which alone predict 0.56). Here the content of every
frame is the latest cond token before it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .flat import FlatStage
from .windows import cond_align


class InterleavedStage(FlatStage):
    type_name, layout = "interleaved", "interleaved"

    @property
    def align(self) -> int:
        """Target frames per cond frame."""
        return cond_align(self.config.cond_rate, self.config.target_rate)

    # ----- layout -----
    def flatten(self, cond: torch.Tensor | None, target: torch.Tensor) -> torch.Tensor:
        """``cond (B, Lc, >= ceil(T/align))``, ``target (B, Lt, T)`` -> ids ``(B, 2 + Lc*G + Lt*T)``, G the cond
        frames under the target (no cond: the flat layout)."""
        if not self.has_cond(cond):
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
    def loss_positions(self, cond: torch.Tensor | None, ids: torch.Tensor, frames: int) -> torch.Tensor:
        return self.target_positions(frames) if self.has_cond(cond) else super().loss_positions(cond, ids, frames)

    # ----- sampling -----
    @property
    def opening_tokens(self) -> int:
        return self.config.cond_levels

    def frame_opening(self, cond: torch.Tensor | None, frame: int) -> torch.Tensor | None:
        """The cond frame that ``frame`` opens, fed just before it (``FlatStage.stream`` does the rest). A
        window's keep and start are whole cond frames, so a frame opens one exactly when ``frame % align ==
        0``, and a window's context holds only the cond frames of its own frames."""
        if not self.has_cond(cond) or frame % self.align:
            return None
        return cond[:, :, frame // self.align] + self.cond_offsets  # (B, Lc)
