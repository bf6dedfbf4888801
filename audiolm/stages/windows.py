"""Sliding-window planning shared by every stage that generates longer than its context."""
from __future__ import annotations

import torch


def plan_windows(known: int, total: int, window: int, keep: int = 0, align: int = 1):
    """Yield ``(start, end)`` windows until ``total`` frames are known.

    Each window's context is the first ``keep`` frames (the pinned prefix: a prompt stays in context)
    followed by frames ``[start, end)``, with ``keep <= start`` and ``keep + end - start <= window``
    (``start == keep`` is one contiguous window ``[0, end)``). The recent part starts at or before the
    first unknown frame and keeps up to half of its span of already-known frames as context; the last
    window is full and ends at ``total``. ``keep`` is capped at ``known`` and half a window; it is cut,
    and each ``start`` moved, to a multiple of ``align`` frames (cond frames at a lower rate stay whole,
    as in training, whose windows start on whole cond frames). ``keep=0, align=1`` is the plain sliding
    window.
    """
    if window < 2:
        raise ValueError("window must be at least 2 frames")
    keep = min(keep, known, window // 2)
    keep -= keep % align
    span = window - keep  # frames of the recent part
    while known < total:
        last = total - known <= span - span // 2
        start = max(keep, total - span if last else known - span // 2)
        # whole cond frames: the last window moves its start up (it still ends at total), the others down
        start += -(start - keep) % align if last else -((start - keep) % align)
        end = min(total, start + span)
        yield start, end
        known = end


def pinned(frames, keep: int, start: int, end: int):
    """The context of a pinned window along the last axis: ``frames[..., :keep]`` then ``[start:end]``."""
    if keep == 0:
        return frames[..., start:end]
    return torch.cat([frames[..., :keep], frames[..., start:end]], -1)


def cond_align(cond_rate: float, target_rate: float) -> int:
    """Target frames per cond frame (1 where the cond stream is as fast as the target)."""
    return round(target_rate / cond_rate) if 0 < cond_rate < target_rate else 1


def autoregressive_windows(config, cond: torch.Tensor | None, known: int, total: int):
    """The windows of an autoregressive stage (``config``: a flat or delay stage's) continuing ``known``
    frames to ``total``: yields ``(keep, start, end, window_cond)``, the context being target frames
    ``[0, keep)`` then ``[start, end)`` and ``window_cond`` the cond ids under them (None without cond).
    A stage with a cond stream pins the caller's prefix (``keep`` = up to half a window of it, whole cond
    frames); the semantic stage (no cond) slides as before."""
    has_cond = cond is not None and config.cond_levels > 0
    align = cond_align(config.cond_rate, config.target_rate)
    keep = min(known, config.window_frames // 2) if has_cond else 0
    keep -= keep % align  # as plan_windows cuts it
    for start, end in plan_windows(known, total, config.window_frames, keep, align):
        window_cond = None
        if has_cond:
            lo, hi = config.cond_span(start, end)
            window_cond = pinned(cond[:, :, :hi], config.cond_span(0, keep)[1], lo, hi)
        yield keep, start, end, window_cond
