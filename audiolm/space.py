"""What the Space does for one request, apart from drawing the page: load each bundle once,
read and validate the uploads, run a mode, and turn the result into files and a picture.
``app.py`` only wires these functions to Gradio components."""
from __future__ import annotations

import math
import numbers
import secrets
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from .audio import AudioLimits, load_audio, save_audio, to_pcm16
from .errors import AudioInputError, BundleError, SettingsError
from .pipeline import AudioLM, GenerationResult, GenerationSettings
from .sampling import SEED_MAX, SamplingConfig, check_seed, sample_seed, shorten
from .spectrogram import spectrogram_image

MODES = ("unconditional", "acoustic_generation", "continuation")
MAX_SAMPLES = 4
MAX_SECONDS = 30.0
MAX_TEMPERATURE = 1.5
MAX_TOP_K = 1024
# overall progress at the start of each stage: the coarse stage dominates the time
STAGE_SPAN = {"semantic": (0.0, 0.2), "coarse": (0.2, 0.85), "fine": (0.85, 0.97), "decode": (0.97, 1.0)}


@dataclass(frozen=True)
class BundleSource:
    """Where a bundle comes from: ``checkpoints/<name>`` when present, else a Hub repo."""
    name: str
    local: Path | None = None
    repo_id: str | None = None
    revision: str | None = None

    def location(self) -> tuple[str, str | None]:
        if self.local is not None and (self.local / "config.json").is_file():
            return str(self.local), None
        if self.repo_id:
            return self.repo_id, self.revision
        raise AudioInputError(f"Bundle {self.name!r} is not in {self.local} and has no Hub repo configured.")


class BundleStore:
    """Loads each bundle on first use, once, and shares it between requests (generation keeps no
    state in the model: every request has its own generator and KV caches)."""

    def __init__(self, sources: list[BundleSource], device: str = "cpu"):
        if not sources:
            raise ValueError("at least one bundle source is needed")
        self.sources = {s.name: s for s in sources}
        self.device = device
        self._models: dict[str, AudioLM] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def load_all(self) -> None:
        """Load and check every bundle now (at start-up): a broken one is a ``BundleError`` naming it."""
        for name in self.sources:
            try:
                self.get(name)
            except BundleError as exc:
                raise BundleError(f"Bundle {name!r}: {exc}") from exc

    def get(self, name: str) -> AudioLM:
        if not isinstance(name, str) or name not in self.sources:
            raise AudioInputError(f"Unknown model {shorten(name)}; choose one of {', '.join(self.sources)}.")
        with self._lock:
            if name not in self._models:
                path, revision = self.sources[name].location()
                self._models[name] = AudioLM.from_pretrained(path, revision=revision, device=self.device)
            return self._models[name]


def number(name: str, value, low: float, high: float, whole: bool = False) -> float:
    """A control's value as sent by the page or a raw API call: a finite number in ``[low, high]`` (a whole
    one if ``whole``), or a ``SettingsError`` that names the control and its range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not low <= value <= high or (whole and value != int(value)):
        raise SettingsError(f"{name} must be a {'whole ' if whole else ''}number from {low:g} to {high:g}, "
                            f"got {shorten(value)}.")
    return value


@dataclass
class Request:
    """One request's settings, checked on creation (they come from the page or from raw API calls)."""
    bundle: str
    mode: str
    audio_path: str | None = None
    voice_path: str | None = None
    seconds: float = 5.0
    temperatures: tuple[float, float, float] = (0.6, 0.8, 0.6)
    top_k: int | None = None
    seed: int | None = None  # None: a random seed, reported back
    num_samples: int = 1

    def __post_init__(self):
        if self.mode not in MODES:
            raise AudioInputError(f"Unknown mode {shorten(self.mode)}.")
        for what, path in (("input audio", self.audio_path), ("voice prompt", self.voice_path)):
            if path is not None and not isinstance(path, (str, Path)):
                raise AudioInputError(f"The {what} must be an uploaded file, got {shorten(path)}.")
        self.seconds = float(number("Seconds", self.seconds, 0, MAX_SECONDS))
        if not isinstance(self.temperatures, (tuple, list)) or len(self.temperatures) != 3:
            raise SettingsError(f"Three temperatures are needed (semantic, coarse, fine), got {shorten(self.temperatures)}.")
        self.temperatures = tuple(float(number(f"{stage} temperature", t, 0, MAX_TEMPERATURE))
                                  for stage, t in zip(("Semantic", "Coarse", "Fine"), self.temperatures))
        if self.top_k is not None:
            self.top_k = int(number("Top-k", self.top_k, 0, MAX_TOP_K, whole=True)) or None  # 0 = off
        self.seed = None if self.seed is None else check_seed(self.seed)
        self.num_samples = int(number("Number of samples", self.num_samples, 1, MAX_SAMPLES, whole=True))


@dataclass
class Response:
    audio: tuple[int, np.ndarray]  # the first sample, for gr.Audio
    files: list[str]  # every sample as a wav file
    spectrogram: np.ndarray  # RGB picture of the first sample, boundary marked
    seed: int
    notices: list[str] = field(default_factory=list)

    @property
    def info(self) -> str:
        lines = [f"Seed: **{self.seed}**"]
        if len(self.files) > 1:  # sample i is sample 0 of its own seed: regenerate a favourite alone
            lines.append("Each sample's own seed (one sample with it gives that sample again): "
                         + ", ".join(f"{i + 1}: **{sample_seed(self.seed, i)}**" for i in range(len(self.files))))
        return "\n\n".join(lines + self.notices)


def read_upload(path: str | None, what: str, sample_rate: int, notices: list[str],
                limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Load an uploaded or recorded file; trimming and resampling are reported as notices, and an error
    names ``what`` (the input or the voice prompt) was at fault."""
    if not path:
        raise AudioInputError(f"No {what} given: upload a file or record with the microphone.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            wav = load_audio(path, sample_rate, limits)
        except AudioInputError as exc:
            raise AudioInputError(f"{what.capitalize()}: {exc}") from exc
    notices += [f"{what.capitalize()}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    try:
        info = soundfile.info(path)
    except Exception:  # formats only audioread decodes: nothing to report
        return wav
    if info.samplerate != sample_rate or info.channels > 1:
        notices.append(f"{what.capitalize()}: converted from {info.samplerate} Hz, {info.channels} channel(s) "
                       f"to {sample_rate} Hz mono.")
    return wav


class OutputFolder:
    """Where requests write their sample files: a folder per request under ``root``, the oldest deleted
    once there are more than ``keep``. Gradio copies returned files into its own cache (cleaned by its
    ``delete_cache``) as it answers, so only the last few requests' files are ever read here. ``root`` is
    emptied on creation (what a killed server left) and removed by ``close``."""

    def __init__(self, root: str | Path, keep: int = 16):
        self.root, self.keep = Path(root), keep
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self._lock = threading.Lock()

    def new(self) -> Path:
        with self._lock:
            folder = Path(tempfile.mkdtemp(dir=self.root))
            for old in sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime)[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
            return folder

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def run(store: BundleStore, request: Request, progress: Callable[[float, str], None] | None = None,
        out_dir: str | Path | None = None) -> Response:
    """Generate what ``request`` asks and write the outputs into ``out_dir`` (a new temporary folder if
    None: pass an ``OutputFolder``'s ``new()`` in a server)."""
    model = store.get(request.bundle)
    seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
    settings = GenerationSettings(*(SamplingConfig(t, request.top_k) for t in request.temperatures))
    def report(stage: str, fraction: float):
        lo, hi = STAGE_SPAN[stage]
        progress(lo + (hi - lo) * fraction, stage)
    notices: list[str] = []
    kwargs = dict(num_samples=request.num_samples, seed=seed, settings=settings,
                  progress=report if progress is not None else None)
    sr = model.config.sample_rate
    if request.mode == "unconditional":
        result = model.unconditional(request.seconds, **kwargs)
    elif request.mode == "acoustic_generation":
        wav = read_upload(request.audio_path, "input audio", sr, notices)
        voice = read_upload(request.voice_path, "voice prompt", sr, notices) if request.voice_path else None
        result = model.acoustic_generation(wav, voice, **kwargs)
    else:
        wav = read_upload(request.audio_path, "prompt", sr, notices)
        result = model.continuation(wav, request.seconds, **kwargs)
    return _response(result, notices, out_dir)


def _response(result: GenerationResult, notices: list[str], out_dir: str | Path | None) -> Response:
    folder = Path(out_dir or tempfile.mkdtemp(prefix="audiolm-"))
    files = [str(save_audio(folder / f"sample-{i + 1}-seed{sample_seed(result.seed, i)}.wav", audio,
                            result.sample_rate)) for i, audio in enumerate(result.audio)]
    picture = spectrogram_image(result.audio[0], result.sample_rate, result.prompt_samples)
    # the played first sample is the first file's samples (save_audio writes to_pcm16 too)
    return Response((result.sample_rate, to_pcm16(result.audio[0])), files, picture, result.seed, notices)
