"""The guard that keeps the real held-out speech out of every training step.

The rule, in one place: the held-out set is any folder named ``test-other`` that lies under a
folder named ``librispeech`` (any case, so a full ``LibriSpeech/`` download counts too). A path
is refused when it is that folder, lies inside it, or is a folder with such a folder below it
(reading it recursively would read held-out recordings). Every reader of real speech calls
:func:`check_not_heldout` on each folder and each file it reads.
"""
from __future__ import annotations

import os
from pathlib import Path

from .shared_data import REPO_ROOT, shared_data_path

HELDOUT_NAME = "test-other"  # LibriSpeech test-other: the real-voice held-out set
CORPUS_NAME = "librispeech"


def _is_heldout_parts(parts: tuple[str, ...]) -> bool:
    lowered = [p.lower() for p in parts]
    return any(p == HELDOUT_NAME and CORPUS_NAME in lowered[:i] for i, p in enumerate(lowered))


def is_heldout(path: str | Path) -> bool:
    """Whether ``path`` is the held-out set or lies inside it (as written, or after resolving links)."""
    path = Path(path)
    return _is_heldout_parts(path.absolute().parts) or _is_heldout_parts(path.resolve().parts)


def _heldout_below(folder: Path) -> Path | None:
    for parent, dirs, _ in os.walk(folder):  # links below are caught file by file (resolved)
        for name in dirs:
            if name.lower() == HELDOUT_NAME and is_heldout(Path(parent) / name):
                return Path(parent) / name
    return None


def check_not_heldout(path: str | Path) -> Path:
    """Return ``path`` unchanged, or raise ValueError if reading it would read held-out speech."""
    path = Path(path)
    if is_heldout(path):
        raise ValueError(f"{path} is (inside) the held-out speech set ({CORPUS_NAME}/{HELDOUT_NAME}): "
                         "no training step may read it; pass training folders such as "
                         f"{CORPUS_NAME}/train-clean instead")
    if path.is_dir():
        inner = _heldout_below(path)
        if inner is not None:
            raise ValueError(f"{path} contains the held-out speech set {inner}: no training step may read "
                             "it; pass the training subfolders (e.g. librispeech/train-clean) one by one")
    return path


def default_heldout_dir(repo_root: str | Path = REPO_ROOT) -> Path | None:
    """``../shared/data/speech/librispeech/test-other`` next to the repository, if it is there."""
    return shared_data_path("speech", CORPUS_NAME, HELDOUT_NAME, repo_root=repo_root)
