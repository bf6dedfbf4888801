"""Where the shared recordings live: ``../shared/data`` next to the repository (read-only)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg")


def shared_data_path(*parts: str, repo_root: str | Path = REPO_ROOT) -> Path | None:
    """``../shared/data/<parts>`` relative to ``repo_root``, or None where it is not there."""
    path = Path(repo_root).parent.joinpath("shared", "data", *parts)
    return path if path.exists() else None


def audio_files(folder: str | Path) -> list[Path]:
    """The recordings directly in ``folder``, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
