"""The bundle: one folder (or Hub model repo) holding every component and a ``config.json``.

```
config.json  generation_config.json  README.md  codec/  semantic_tokenizer/  semantic/  coarse/  fine/
```
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from .errors import BundleError
from .serialization import CONFIG_NAME, config_from_dict, config_to_dict, read_config

FORMAT_VERSION = 1
T = TypeVar("T")
BUNDLE_FILES = ["config.json", "generation_config.json", "README.md", "*/config.json", "*/model.safetensors"]


@dataclass
class BundleConfig:
    format_version: int = FORMAT_VERSION
    domain: str = "speech"  # speech | piano
    sample_rate: int = 16000
    semantic_rate: float = 25.0
    acoustic_rate: float = 50.0
    num_quantizers: int = 12  # Q
    num_coarse: int = 4  # Q'
    codebook_size: int = 1024
    semantic_vocab: int = 512
    fine_layout: str = "parallel"  # "parallel" (per-level, Bark-like) or "autoregressive" (the paper's)
    # "autoregressive" (flat, the paper's), "interleaved" (each semantic id just before its codec frames) or
    # "delay" (MusicGen's pattern)
    coarse_layout: str = "autoregressive"
    # (low, high) LUFS: the training corpus' loudness range (5th and 95th percentile of its utterances); an input
    # outside it is scaled to its nearest edge, the output back (``audiolm.loudness``). (): inputs as given
    input_loudness: tuple[float, ...] = ()

    def __post_init__(self):
        low_high = self.input_loudness
        if low_high and (len(low_high) != 2 or not low_high[0] < low_high[1]):
            raise BundleError(f"input_loudness must be () or (low, high) LUFS with low < high, got {list(low_high)}.")

    def stage_layout(self, role: str) -> str:
        """The layout of a role's stage: the bundle picks the fine and coarse stages'; the semantic one is
        autoregressive."""
        return {"fine": self.fine_layout, "coarse": self.coarse_layout}.get(role, "autoregressive")

    def save(self, folder: Path) -> None:
        (Path(folder) / CONFIG_NAME).write_text(json.dumps(config_to_dict(self), indent=2))

    @classmethod
    def load(cls, folder: Path) -> "BundleConfig":
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise BundleError(f"{folder} is not an AudioLM bundle: {CONFIG_NAME} is missing.")
        config = load_part(path, lambda _: config_from_dict(cls, read_config(folder)))
        if config.format_version > FORMAT_VERSION:
            raise BundleError(f"bundle format {config.format_version} is newer than this library's "
                              f"({FORMAT_VERSION}); upgrade audiolm.")
        return config


def load_part(path: Path, load: Callable[[Path], T]) -> T:
    """``load(path)``, with any failure that is not already a ``BundleError`` (a config value of the wrong
    type, a module that cannot be built from it...) turned into one that names ``path``."""
    try:
        return load(path)
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(f"Could not load {path} ({type(exc).__name__}: {exc}). Download the bundle again, "
                          "or re-save this component with save_pretrained.") from exc


def resolve_bundle(path_or_repo_id: str | Path, revision: str | None = None, cache_dir: str | None = None,
                   token: str | bool | None = None, local_files_only: bool = False) -> Path:
    """A local folder as is; otherwise download the bundle's files from the Hub (cached)."""
    local = Path(path_or_repo_id).expanduser()
    if local.is_dir():
        return local
    repo_id = str(path_or_repo_id)
    if local.is_absolute() or repo_id.startswith(".") or repo_id.count("/") != 1:
        raise BundleError(f"No bundle folder at {repo_id!r}, and it is not a Hub repo id of the form 'owner/name'.")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError, \
        RepositoryNotFoundError, RevisionNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                                      allow_patterns=BUNDLE_FILES, local_files_only=local_files_only))
    except RevisionNotFoundError as exc:
        raise BundleError(f"Hub repo {repo_id} has no revision {revision!r}.") from exc
    except RepositoryNotFoundError as exc:
        raise BundleError(f"Hub repo {repo_id} was not found (or needs a token).") from exc
    except LocalEntryNotFoundError as exc:
        raise BundleError(f"Bundle {repo_id} is not in the local cache and the Hub cannot be reached "
                          "(offline?). Download it once with network access, or pass a local folder.") from exc
    except HFValidationError as exc:
        raise BundleError(f"{repo_id!r} is not a valid Hub repo id: {exc}") from exc
    except HfHubHTTPError as exc:
        raise BundleError(f"Downloading {repo_id} failed: {exc}") from exc
