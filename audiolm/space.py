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
from typing import Callable, Iterator

import numpy as np
import soundfile

from .audio import AudioLimits, load_audio, save_audio, to_pcm16
from .errors import AudioInputError, BundleError, SettingsError
from .loudness import loudness_gain
from .pipeline import AudioLM, GenerationResult, GenerationSettings
from .sampling import SEED_MAX, check_seed, sample_seed, shorten
from .spectrogram import spectrogram_figure
from .streaming import stream_continuation, stream_unconditional

MODES = ("unconditional", "acoustic_generation", "continuation")
STREAMED_MODES = ("unconditional", "continuation")
MAX_SAMPLES = 4
MAX_SECONDS = 30.0
MAX_TEMPERATURE = 1.5
MAX_TOP_K = 1024
MAX_GUIDANCE = 8.0  # of the coarse stage's classifier-free guidance weight
MAX_VOICE_PRIOR = 30.0  # of the voice prior's weight (audiolm.voice_prior)
MAX_PROMPT_ADAPTATION = 60  # steps of the semantic stage's adaptation to a prompt (audiolm.prompt_adaptation)
MAX_SEMANTIC_PLANS = 16  # semantic plans drawn per sample (GenerationSettings.semantic_candidates); 32 kept less voice
# overall progress at the start of each stage: the coarse stage dominates the time
STAGE_SPAN = {"semantic": (0.0, 0.2), "coarse": (0.2, 0.85), "fine": (0.85, 0.97), "decode": (0.97, 1.0)}
STAGE_NAMES = {"semantic": "semantic tokens (content)", "coarse": "coarse acoustic tokens",
               "fine": "fine acoustic tokens", "decode": "codec decoding"}


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
    temperatures: tuple[float, float, float] | None = None  # semantic, coarse, fine; None: the bundle's own
    top_k: int | None = None
    seed: int | None = None  # None: a random seed, reported back
    num_samples: int = 1
    top_p: float | None = None  # 1 (or None) = off; the page offers it, the named endpoints do not
    guidance: float | None = None  # the coarse stage's; None: the bundle's own (the page offers it, as top_p)
    voice_prior: float | None = None  # the voice prior's weight; None: the bundle's own (the page offers it)
    # steps of the semantic stage's adaptation to a continuation's prompt; None: the bundle's own (the page offers it)
    prompt_adaptation: int | None = None
    # semantic plans drawn per sample, the one whose ids change most kept; None: the bundle's own (the page offers it)
    semantic_plans: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise AudioInputError(f"Unknown mode {shorten(self.mode)}.")
        for what, path in (("input audio", self.audio_path), ("voice prompt", self.voice_path)):
            if path is not None and not isinstance(path, (str, Path)):
                raise AudioInputError(f"The {what} must be an uploaded file, got {shorten(path)}.")
        self.seconds = float(number("Seconds", self.seconds, 0, MAX_SECONDS))
        if self.temperatures is not None:
            if not isinstance(self.temperatures, (tuple, list)) or len(self.temperatures) != 3:
                raise SettingsError("Three temperatures are needed (semantic, coarse, fine), "
                                    f"got {shorten(self.temperatures)}.")
            self.temperatures = tuple(float(number(f"{stage} temperature", t, 0, MAX_TEMPERATURE))
                                      for stage, t in zip(("Semantic", "Coarse", "Fine"), self.temperatures))
        if self.top_k is not None:
            self.top_k = int(number("Top-k", self.top_k, 0, MAX_TOP_K, whole=True)) or None  # 0 = off
        self.seed = None if self.seed is None else check_seed(self.seed)
        self.num_samples = int(number("Number of samples", self.num_samples, 1, MAX_SAMPLES, whole=True))
        if self.top_p is not None:
            self.top_p = float(number("Top-p", self.top_p, 0.01, 1))
            self.top_p = None if self.top_p >= 1 else self.top_p
        if self.guidance is not None:
            self.guidance = float(number("Coarse guidance", self.guidance, 0, MAX_GUIDANCE))
        if self.voice_prior is not None:
            self.voice_prior = float(number("Voice matching", self.voice_prior, 0, MAX_VOICE_PRIOR))
        if self.prompt_adaptation is not None:
            self.prompt_adaptation = int(number("Prompt adaptation", self.prompt_adaptation, 0, MAX_PROMPT_ADAPTATION,
                                                whole=True))
        if self.semantic_plans is not None:
            self.semantic_plans = int(number("Semantic plans", self.semantic_plans, 1, MAX_SEMANTIC_PLANS, whole=True))

    def settings_for(self, model: AudioLM) -> GenerationSettings:
        """The bundle's own settings with this request's temperatures, top-k, top-p, coarse guidance, voice prior,
        prompt adaptation and semantic plans where it sets them."""
        return model.default_settings.with_overrides(self.temperatures, self.top_k, self.top_p, self.guidance,
                                                     self.voice_prior, self.prompt_adaptation, self.semantic_plans)


@dataclass
class Response:
    audio: tuple[int, np.ndarray]  # the first sample, for gr.Audio
    files: list[str]  # every sample as a wav file
    spectrogram: np.ndarray  # RGB picture of the first sample (below its input), axes, boundary marked
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


def read_input(model: AudioLM, path: str | None, what: str, notices: list[str]) -> np.ndarray:
    """``read_upload`` at the model's rate, with a notice where the model will hear the input at another level
    (outside its training loudness range, ``audiolm.loudness``)."""
    wav = read_upload(path, what, model.config.sample_rate, notices)
    gain = loudness_gain(wav, model.config.sample_rate, model.config.input_loudness)
    if gain != 1:
        low, high = model.config.input_loudness
        notices.append(f"{what.capitalize()}: {'quieter' if gain > 1 else 'louder'} than this model's training audio "
                       f"({low:g} to {high:g} LUFS); the model hears it {20 * math.log10(gain):+.1f} dB, and the output "
                       "comes back at its level.")
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
    notices: list[str] = []
    skipped = ("semantic",) if request.mode == "acoustic_generation" else ()  # the input's semantic ids are kept
    kwargs = dict(num_samples=request.num_samples, seed=seed, settings=request.settings_for(model),
                  progress=_overall(progress, skipped))
    wav = None
    if request.mode == "unconditional":
        result = model.unconditional(request.seconds, **kwargs)
    elif request.mode == "acoustic_generation":
        wav = read_input(model, request.audio_path, "input audio", notices)
        voice = read_input(model, request.voice_path, "voice prompt", notices) if request.voice_path else None
        result = model.acoustic_generation(wav, voice, **kwargs)
    else:
        wav = read_input(model, request.audio_path, "prompt", notices)
        result = model.continuation(wav, request.seconds, **kwargs)
    return _response(result, notices, out_dir, wav if request.mode == "acoustic_generation" else None)


def run_streamed(store: BundleStore, request: Request, progress: Callable[[float, str], None] | None = None,
                 out_dir: str | Path | None = None) -> Iterator[tuple[int, np.ndarray] | Response]:
    """``run`` for the unconditional and continuation modes as a stream (``audiolm.streaming``): yields the
    first sample's audio chunk by chunk (``(sample rate, int16)``, as in the first file), then the ``Response``,
    whose audio is those chunks put together (the same as ``run``'s for the same seed)."""
    if request.mode not in STREAMED_MODES:
        raise AudioInputError(f"Only {' and '.join(STREAMED_MODES)} stream, not {shorten(request.mode)}.")
    model = store.get(request.bundle)
    seed = request.seed if request.seed is not None else secrets.randbelow(SEED_MAX + 1)
    notices: list[str] = []
    kwargs = dict(num_samples=request.num_samples, seed=seed, settings=request.settings_for(model),
                  progress=_overall(progress))
    if request.mode == "unconditional":
        stream = stream_unconditional(model, request.seconds, **kwargs)
    else:
        wav = read_input(model, request.audio_path, "prompt", notices)
        stream = stream_continuation(model, wav, request.seconds, **kwargs)
    for chunk in stream:
        yield stream.sample_rate, to_pcm16(chunk[0])
    yield _response(stream.result, notices, out_dir)


def _overall(progress: Callable[[float, str], None] | None, skipped: tuple[str, ...] = ()):
    """A library progress callback (stage, fraction of it) -> ``progress(overall fraction, stage name)``: the
    stages weighted by their share of the time (``STAGE_SPAN``)."""
    if progress is None:
        return None

    done = {stage: float(stage in skipped) for stage in STAGE_SPAN}  # streaming interleaves the stages

    def report(stage: str, fraction: float):
        done[stage] = fraction
        progress(sum((hi - lo) * done[name] for name, (lo, hi) in STAGE_SPAN.items()), STAGE_NAMES[stage])
    return report


def _response(result: GenerationResult, notices: list[str], out_dir: str | Path | None,
              input_audio: np.ndarray | None = None) -> Response:
    folder = Path(out_dir or tempfile.mkdtemp(prefix="audiolm-"))
    files = [str(save_audio(folder / f"sample-{i + 1}-seed{sample_seed(result.seed, i)}.wav", audio,
                            result.sample_rate)) for i, audio in enumerate(result.audio)]
    if input_audio is not None:  # acoustic generation: the input above, the output below, one time scale
        panels = [("Input", input_audio, 0), ("Output (sample 1)", result.audio[0], 0)]
    elif result.prompt_samples:
        panels = [("Prompt and continuation (sample 1)", result.audio[0], result.prompt_samples)]
    else:
        panels = [("Generated (sample 1)", result.audio[0], 0)]
    picture = spectrogram_figure(panels, result.sample_rate)
    # the played first sample is the first file's samples (save_audio writes to_pcm16 too)
    return Response((result.sample_rate, to_pcm16(result.audio[0])), files, picture, result.seed, notices)


ABOUT = """**AudioLM** ([Borsos et al., 2022](https://arxiv.org/abs/2209.03143)) generates audio as a language model
generates text. A speech encoder's features, quantized, give *semantic tokens* (25 per second: what is said or
played); a neural codec gives *acoustic tokens* (50 frames per second, 12 levels: voice, timbre, room). Three
transformers generate them in turn: semantic tokens, then the first 4 codec levels (*coarse*), then the other 8
(*fine*); the codec's decoder turns them into sound.

- **Unconditional**: new audio from nothing. It plays while it is generated.
- **Acoustic generation**: keeps the input's semantic tokens (what is said) and generates new acoustic tokens: a
  new voice, or the voice prompt's (speaker conversion). The picture shows the input above the output.
- **Continuation**: continues a prompt (upload, record with the microphone, or pick an example). It plays while
  it is generated: first the prompt, re-synthesized by the codec, then the continuation.

*Advanced* holds the sampling settings: per-stage temperatures (each model's own defaults; the paper's are 0.6 / 0.8 /
0.6), top-k, top-p, the coarse stage's guidance (higher follows what is said more closely and the voice less; only
models trained for it take it), voice matching (continuation and a voice prompt: higher draws the codes more from
the prompt's frames that say the same thing: the prompt's voice, at some cost in what is said or in note clarity;
0 is off), prompt adaptation (continuation: the semantic model first learns from the prompt for this many steps, about
0.4 s per 20: more of the prompt's voice, a little less natural, most at about 20; it never repeats 4 of the prompt's
tokens in a row; 0 is off), semantic plans (continuation: of this many plans of what is said, the one whose tokens
change most: more of the prompt's voice, less natural; 1 is off; with prompt adaptation at 20 and 16 plans, the
evaluation's real voices scored a speaker similarity 0.02 to 0.03 higher, 0.748 to 0.755, and a predicted MOS 0.15
to 0.25 lower), the seed (the same seed and settings give the same audio) and the number of samples."""


def model_card_summary(card: Path) -> str:
    """What a bundle's model card (``README.md``) says it is and what it measured: its first paragraph, its
    data, and the first table of its metrics (regenerated from the evaluation JSON, never typed by hand)."""
    if not card.is_file():
        return ""
    sections = {}
    for part in ("\n" + card.read_text()).split("\n## ")[1:]:
        title, _, body = part.partition("\n")
        sections[title.split(" (")[0].strip()] = body.strip()
    head = card.read_text().split("\n## ")[0].split("\n# ", 1)[-1]
    intro = head.partition("\n")[2].strip().split("\n\n")[0]
    data = sections.get("Data", "").split("\n- Rebuild")[0]
    metrics = sections.get("Metrics", "")
    table = "\n".join(line for line in metrics.split("\n\n", 2)[1].splitlines() if line.startswith("|")) \
        if metrics.count("\n\n") >= 1 else ""
    measured = metrics.split("\n\n")[0] if metrics else ""
    parts = [intro, f"**Trained on**\n\n{data}" if data else "",
             f"**Measured limits** ({measured[0].lower() + measured[1:]})\n\n{table}" if table else ""]
    return "\n\n".join(part for part in parts if part)
