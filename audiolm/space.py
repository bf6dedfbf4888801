"""What the Space does for one request, apart from drawing the page: load each bundle once,
read and validate the uploads, run a mode, and turn the result into files and a picture.
``app.py`` only wires these functions to Gradio components."""
from __future__ import annotations

import secrets
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from .audio import AudioLimits, load_audio, save_audio
from .errors import AudioInputError
from .pipeline import AudioLM, GenerationResult, GenerationSettings
from .sampling import SamplingConfig
from .spectrogram import spectrogram_image

MODES = ("unconditional", "acoustic_generation", "continuation")
MAX_SAMPLES = 4
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

    def get(self, name: str) -> AudioLM:
        if name not in self.sources:
            raise AudioInputError(f"Unknown bundle {name!r}; choose one of {', '.join(self.sources)}.")
        with self._lock:
            if name not in self._models:
                path, revision = self.sources[name].location()
                self._models[name] = AudioLM.from_pretrained(path, revision=revision, device=self.device)
            return self._models[name]


@dataclass
class Request:
    bundle: str
    mode: str
    audio_path: str | None = None
    voice_path: str | None = None
    seconds: float = 5.0
    temperatures: tuple[float, float, float] = (0.6, 0.8, 0.6)
    top_k: int | None = None
    seed: int | None = None  # None: a random seed, reported back
    num_samples: int = 1


@dataclass
class Response:
    audio: tuple[int, np.ndarray]  # the first sample, for gr.Audio
    files: list[str]  # every sample as a wav file
    spectrogram: np.ndarray  # RGB picture of the first sample, boundary marked
    seed: int
    notices: list[str] = field(default_factory=list)

    @property
    def info(self) -> str:
        return "\n\n".join([f"Seed: **{self.seed}**", *self.notices])


def read_upload(path: str | None, what: str, sample_rate: int, notices: list[str],
                limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Load an uploaded or recorded file; trimming and resampling are reported as notices."""
    if not path:
        raise AudioInputError(f"No {what} given: upload a file or record with the microphone.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wav = load_audio(path, sample_rate, limits)
    notices += [f"{what.capitalize()}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    try:
        info = soundfile.info(path)
    except Exception:  # formats only audioread decodes: nothing to report
        return wav
    if info.samplerate != sample_rate or info.channels > 1:
        notices.append(f"{what.capitalize()}: converted from {info.samplerate} Hz, {info.channels} channel(s) "
                       f"to {sample_rate} Hz mono.")
    return wav


def run(store: BundleStore, request: Request, progress: Callable[[float, str], None] | None = None,
        out_dir: str | None = None) -> Response:
    """Validate ``request``, generate, and write the outputs."""
    if request.mode not in MODES:
        raise AudioInputError(f"Unknown mode {request.mode!r}.")
    if not 1 <= int(request.num_samples) <= MAX_SAMPLES:
        raise AudioInputError(f"Number of samples must be between 1 and {MAX_SAMPLES}.")
    model = store.get(request.bundle)
    seed = int(request.seed) if request.seed is not None else secrets.randbelow(2 ** 31)
    settings = GenerationSettings(*(SamplingConfig(float(t), request.top_k or None) for t in request.temperatures))
    def report(stage: str, fraction: float):
        lo, hi = STAGE_SPAN[stage]
        progress(lo + (hi - lo) * fraction, stage)
    notices: list[str] = []
    kwargs = dict(num_samples=int(request.num_samples), seed=seed, settings=settings,
                  progress=report if progress is not None else None)
    sr = model.config.sample_rate
    if request.mode == "unconditional":
        result = model.unconditional(float(request.seconds), **kwargs)
    elif request.mode == "acoustic_generation":
        wav = read_upload(request.audio_path, "input audio", sr, notices)
        voice = read_upload(request.voice_path, "voice prompt", sr, notices) if request.voice_path else None
        result = model.acoustic_generation(wav, voice, **kwargs)
    else:
        wav = read_upload(request.audio_path, "prompt", sr, notices)
        result = model.continuation(wav, float(request.seconds), **kwargs)
    return _response(result, notices, out_dir)


def _response(result: GenerationResult, notices: list[str], out_dir: str | None) -> Response:
    folder = Path(out_dir or tempfile.mkdtemp(prefix="audiolm-"))
    files = [str(save_audio(folder / f"sample-{i}-seed{result.seed}.wav", audio, result.sample_rate))
             for i, audio in enumerate(result.audio)]
    picture = spectrogram_image(result.audio[0], result.sample_rate, result.prompt_samples)
    pcm = (np.clip(result.audio[0], -1, 1) * 32767).astype(np.int16)
    return Response((result.sample_rate, pcm), files, picture, result.seed, notices)
