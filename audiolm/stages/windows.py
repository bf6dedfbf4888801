"""Sliding-window planning shared by every stage that generates longer than its context."""
from __future__ import annotations


def plan_windows(known: int, total: int, window: int):
    """Yield ``(start, end)`` windows until ``total`` frames are known.

    Each window starts at or before the first unknown frame and keeps up to half a window of
    already-known frames as context; the last one is a full window ending at ``total``.
    """
    if window < 2:
        raise ValueError("window must be at least 2 frames")
    while known < total:
        if total - known <= window - window // 2:
            start = max(0, total - window)
        else:
            start = max(0, known - window // 2)
        end = min(total, start + window)
        yield start, end
        known = end
