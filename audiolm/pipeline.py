"""``AudioLM``: a bundle's five components chained into the three inference modes."""
from __future__ import annotations

import json
import math
import numbers
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .audio import DEFAULT_MAX_SECONDS, AudioLimits, check_waveform
from .bundle import BundleConfig, load_part, resolve_bundle
from .codec import Codec, load_codec
from .errors import BundleError, SettingsError
from .loudness import loudness_gain
from .prompt_adaptation import FORBIDDEN_NGRAMS, adapted_to_prefix
from .sampling import SampleGenerators, SamplingConfig, TokenBias, check_seed, shorten
from .serialization import config_from_dict, config_to_dict
from .semantic import SemanticTokenizer
from .stages import ROLES, Stage, load_stage, stage_specs
from .styles import style_named
from .voice_prior import FineByExample, voice_bias

Progress = Callable[[str, float], None]  # (stage name, fraction of that stage done)


GENERATION_CONFIG = "generation_config.json"  # a bundle's own default sampling, beside its config.json
MAX_SEMANTIC_CANDIDATES = 64  # semantic plans drawn per sample (``GenerationSettings.semantic_candidates``)
MAX_ADAPTATION_STEPS = 200  # a semantic stage's steps on its prompt (``GenerationSettings.semantic_adaptation_steps``)


@dataclass
class GenerationSettings:
    """Per-stage sampling; the paper's temperatures (0.6 / 0.8 / 0.6) by default. A bundle may carry its own
    (``generation_config.json``: what its stages were measured best with), which ``AudioLM`` then uses."""
    semantic: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.6))
    coarse: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.8))
    fine: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.6))
    # the voice prior's weight (``audiolm.voice_prior``): added to the logits of the codec ids of the voice
    # reference's frames that say about the same thing (the prompt, or acoustic generation's voice prompt);
    # 0 is off, as are modes without a reference
    voice_prior: float = 0.0
    # where there is a voice reference, the fine levels taken from it instead of the fine stage: the mean fine
    # residual of this many reference frames nearest in coarse latent (``audiolm.voice_prior.FineByExample``);
    # 0 is off (the fine stage), as are modes without a reference
    fine_by_example: int = 0
    # a continuation decoded by the codec's voice decoder from its first levels in the prompt's voice
    # (``Codec.decode_in_voice``) instead of from all its levels. The other modes decode as usual: with a voice
    # prompt (another recording than the content's) it took the prompt's voice less often than the fine levels by
    # example do (benchmarks/results/speech-mixed-progress.json, voice_decoder_2026_12_06)
    voice_decoder: bool = False
    # where the semantic stage plans the content (continuation, unconditional), it draws this many plans per sample
    # and keeps the one whose ids change most often (``GenerationPlan.semantic_ids``); 1 draws one. More keep more
    # of a continuation's voice and sound less natural (progress entry semantic_plans_that_change_2026_12_07)
    semantic_candidates: int = 1
    # a continuation's semantic stage adapted to its prompt first: a copy of it trained this many Adam steps at
    # ``semantic_adaptation_lr`` on crops of the prompt's ids (``audiolm.prompt_adaptation``); 0 is off, as are modes
    # without a prompt. It keeps more of the voice and replays the prompt unless its n-grams are forbidden
    # (``semantic.forbid_prefix_ngrams``)
    semantic_adaptation_steps: int = 0
    semantic_adaptation_lr: float = 3e-4

    def __post_init__(self):
        if isinstance(self.voice_prior, bool) or not isinstance(self.voice_prior, numbers.Real) \
                or not 0 <= self.voice_prior < math.inf:
            raise SettingsError(f"voice_prior must be a finite number >= 0 (0 = off), got {shorten(self.voice_prior)}.")
        if isinstance(self.fine_by_example, bool) or not isinstance(self.fine_by_example, numbers.Integral) \
                or self.fine_by_example < 0:
            raise SettingsError(f"fine_by_example must be a whole number >= 0 (reference frames; 0 = off), got "
                                f"{shorten(self.fine_by_example)}.")
        if isinstance(self.semantic_candidates, bool) or not isinstance(self.semantic_candidates, numbers.Integral) \
                or not 1 <= self.semantic_candidates <= MAX_SEMANTIC_CANDIDATES:
            raise SettingsError(f"semantic_candidates must be a whole number from 1 to {MAX_SEMANTIC_CANDIDATES}, got "
                                f"{shorten(self.semantic_candidates)}.")
        if isinstance(self.semantic_adaptation_steps, bool) \
                or not isinstance(self.semantic_adaptation_steps, numbers.Integral) \
                or not 0 <= self.semantic_adaptation_steps <= MAX_ADAPTATION_STEPS:
            raise SettingsError(f"semantic_adaptation_steps must be a whole number from 0 (off) to "
                                f"{MAX_ADAPTATION_STEPS}, got {shorten(self.semantic_adaptation_steps)}.")
        if isinstance(self.semantic_adaptation_lr, bool) or not isinstance(self.semantic_adaptation_lr, numbers.Real) \
                or not 0 < self.semantic_adaptation_lr < math.inf:
            raise SettingsError(f"semantic_adaptation_lr must be a finite number > 0, got "
                                f"{shorten(self.semantic_adaptation_lr)}.")
        if not isinstance(self.voice_decoder, bool):
            raise SettingsError(f"voice_decoder must be true or false, got {shorten(self.voice_decoder)}.")

    @property
    def temperatures(self) -> tuple[float, float, float]:
        return self.semantic.temperature, self.coarse.temperature, self.fine.temperature

    def with_overrides(self, temperatures: tuple[float, float, float] | None = None, top_k: int | None = None,
                       top_p: float | None = None, guidance: float | None = None,
                       voice_prior: float | None = None,
                       semantic_adaptation_steps: int | None = None,
                       semantic_candidates: int | None = None) -> "GenerationSettings":
        """These settings with a caller's temperatures (semantic, coarse, fine), top-k / top-p, coarse-stage
        guidance, voice prior, steps of the semantic stage's adaptation to a prompt and semantic plans drawn per
        sample; what the caller leaves None stays as is. Adaptation asked for here comes as it was measured: where
        the semantic stage forbids none of the prompt's n-grams, its 4-grams (``prompt_adaptation.FORBIDDEN_NGRAMS``),
        else the adapted stage replays the prompt. (``dataclasses.replace`` sets one field alone.)"""
        temperatures = temperatures or self.temperatures
        semantic, coarse, fine = (replace(s, temperature=t, top_k=top_k or s.top_k, top_p=top_p or s.top_p)
                                  for s, t in zip((self.semantic, self.coarse, self.fine), temperatures))
        if semantic_adaptation_steps and not semantic.forbid_prefix_ngrams:
            semantic = replace(semantic, forbid_prefix_ngrams=FORBIDDEN_NGRAMS)
        return replace(self, semantic=semantic, coarse=coarse if guidance is None else replace(coarse, guidance=guidance),
                       fine=fine, voice_prior=self.voice_prior if voice_prior is None else voice_prior,
                       semantic_adaptation_steps=self.semantic_adaptation_steps if semantic_adaptation_steps is None
                       else semantic_adaptation_steps,
                       semantic_candidates=self.semantic_candidates if semantic_candidates is None
                       else semantic_candidates)

    def save(self, folder: str | Path) -> None:
        (Path(folder) / GENERATION_CONFIG).write_text(json.dumps(config_to_dict(self), indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> "GenerationSettings":
        """A bundle folder's settings; the paper's where it has none (bundles saved before they had them)."""
        path = Path(folder) / GENERATION_CONFIG
        if not path.is_file():
            return cls()
        return load_part(path, lambda _: config_from_dict(cls, json.loads(path.read_text())))


@dataclass
class GenerationResult:
    audio: np.ndarray  # (N, samples) float32
    sample_rate: int
    prompt_samples: int  # samples of the output that come from the prompt (0 if none)
    seed: int
    semantic_ids: torch.Tensor  # (N, T_s)
    acoustic_ids: torch.Tensor  # (N, Q, T_a)


@dataclass(frozen=True)
class GenerationPlan:
    """What one generation continues and how far: the known ids, the length, what is kept."""
    semantic: torch.Tensor  # (N, 1, T_s) known semantic ids
    acoustic: torch.Tensor  # (N, Q, P) known acoustic ids
    frames: int  # acoustic frames of the output
    samples: int | None  # output samples kept (None: every decoded sample)
    prompt_samples: int = 0  # samples of the output that come from the prompt
    generate_semantic: bool = True  # False: ``semantic`` is the whole content (acoustic generation)
    # the voice reference (aligned audio), whose codec ids are the first frames of ``acoustic`` (the prompt, or
    # the voice prompt): what the voice prior draws on; None without one
    reference: np.ndarray | None = None
    # the audio whose style (``audiolm.styles``) the stages that read one are told: the prompt, or the input of
    # acoustic generation; None (unconditional): they read BOS instead
    style_source: np.ndarray | None = None
    # what the decoded audio is scaled by: the inverse of the gain that brought the input into the bundle's
    # loudness range (``audiolm.loudness``), so the output comes at the input's own level
    output_gain: float = 1.0

    @property
    def reference_continues(self) -> bool:
        """Whether the output continues its reference (a continuation's prompt, the output's first samples: the same
        voice and recording), the case the codec's voice decoder is trained on; acoustic generation's voice prompt
        is another recording, and not part of its output."""
        return self.reference is not None and self.prompt_samples > 0

    def style_kwargs(self, model: "AudioLM", stage) -> dict:
        """``{"style": classes (N,)}`` of ``stage``'s style measured on ``style_source``, for the stage's ``generate``
        or ``stream``; ``{}`` where the stage reads no style or the plan has no source."""
        if stage.style is None or self.style_source is None:
            return {}
        style, rate = style_named(stage.style), model.config.semantic_rate
        frames = max(1, round(len(self.style_source) / model.config.sample_rate * rate))
        events = style.frame_events(self.style_source, model.config.sample_rate, frames, rate)
        return {"style": style.classify(events[None], rate).expand(self.semantic.shape[0]).to(model.device)}

    def semantic_ids(self, model: "AudioLM", settings: GenerationSettings, generators: SampleGenerators,
                     progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """The output's semantic ids ``(N, 1, Ts)``: the known ones, continued by the semantic stage where the plan
        generates them. With ``settings.semantic_candidates`` K > 1 the stage draws K plans per sample in one batch
        and each sample keeps the plan whose ids change most often from one frame to the next (the first such).
        Why: among plans of one prompt, those that hold ids longest keep the least of a continuation's voice. The
        plans kept also sound less natural (predicted MOS), so the bundles draw one (the progress entry
        ``semantic_plans_that_change_2026_12_07`` in benchmarks/results/speech-mixed-progress.json).
        With ``settings.semantic_adaptation_steps`` the plans come from a copy of the stage adapted to the known ids
        (``audiolm.prompt_adaptation``)."""
        if not self.generate_semantic:
            return self.semantic
        count, (N, _, known) = settings.semantic_candidates, self.semantic.shape
        frames = math.ceil(self.frames * model.config.semantic_rate / model.config.acoustic_rate)
        style = self.style_kwargs(model, model.semantic_stage)
        stage = model.semantic_stage
        if settings.semantic_adaptation_steps and known:  # every sample continues the same prompt: one copy
            stage = adapted_to_prefix(stage, self.semantic[:1], settings.semantic_adaptation_steps,
                                      settings.semantic_adaptation_lr, style=style["style"][:1] if style else None)
        style = {key: value.repeat(count) for key, value in style.items()}
        drawn = stage.generate(None, self.semantic.repeat(count, 1, 1), frames, settings.semantic,
                               generators.with_candidates(count), progress, **style)
        drawn = drawn.unflatten(0, (count, N))  # (K, N, 1, Ts)
        new = drawn[..., max(known - 1, 0):]  # the drawn ids after the last known one
        changes = (new[..., 1:] != new[..., :-1]).sum((-1, -2))  # (K, N)
        return drawn[changes.argmax(0), torch.arange(N)]

    def biases(self, model: "AudioLM", semantic: torch.Tensor,
               settings: GenerationSettings) -> tuple[TokenBias | None, TokenBias | None]:
        """The voice prior of the coarse and fine stages given the output's semantic ids ``(N, 1, Ts)``:
        ``(None, None)`` when it is off or there is no reference."""
        if not settings.voice_prior or self.reference is None:
            return None, None
        # the reference is cut to whole alignment units: its codec frames are a whole multiple of its features'
        bias = voice_bias(model.semantic_tokenizer.centroids, model.voice_features(self.reference),
                          self.acoustic[0], semantic[:, 0], self.frames, settings.voice_prior)
        Qc = model.config.num_coarse
        return replace(bias, tokens=bias.tokens[:, :Qc]), replace(bias, tokens=bias.tokens[:, Qc:])

    def fine_source(self, model: "AudioLM", settings: GenerationSettings):
        """What makes the fine levels: ``FineByExample`` on the voice reference where the settings ask for it and
        there is one, the fine stage otherwise (both ``generate`` / ``stream`` alike)."""
        if not settings.fine_by_example or self.reference is None:
            return model.fine_stage
        return FineByExample(model.codec, self.acoustic[0], model.config.num_coarse, settings.fine_by_example)

    def decode(self, model: "AudioLM", ids: torch.Tensor, settings: GenerationSettings, first: int = 0) -> np.ndarray:
        """Audio ``(N, samples)`` of ids ``(N, Q, t)`` (the output's frames from ``first`` on) times ``output_gain``.
        One sample at a time: a batched decode differs in the last bits with the batch size. Where the settings ask
        for the voice decoder and the output continues its reference, the frames after the known ones in its voice."""
        codec = model.codec
        if settings.voice_decoder and self.reference_continues:
            known = min(max(0, self.acoustic.shape[2] - first), ids.shape[2])
            rows = [codec.decode_in_voice(row[None], self.acoustic[:1], known) for row in ids]
        else:
            rows = [codec.decode(row[None]) for row in ids]
        return torch.cat(rows).float().cpu().numpy() * self.output_gain


class AudioLM:
    def __init__(self, config: BundleConfig, codec: Codec, semantic_tokenizer: SemanticTokenizer,
                 semantic_stage: Stage, coarse_stage: Stage, fine_stage: Stage, device: str | torch.device = "cpu",
                 default_settings: GenerationSettings | None = None):
        self.config, self.codec, self.semantic_tokenizer = config, codec, semantic_tokenizer
        self.default_settings = default_settings or GenerationSettings()  # when a call passes no settings
        self.semantic_stage, self.coarse_stage, self.fine_stage = semantic_stage, coarse_stage, fine_stage
        self.device = torch.device(device)
        check_compatible(self)
        for module in (codec, semantic_tokenizer, *self.stages.values()):
            module.to(self.device).eval()
        self.limits = AudioLimits()  # of input audio
        self.max_generation_seconds = DEFAULT_MAX_SECONDS  # of generated audio (continuation, unconditional)

    @property
    def stages(self) -> dict[str, Stage]:
        return {role: getattr(self, f"{role}_stage") for role in ROLES}

    # ----- loading and saving -----
    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path, revision: str | None = None, device: str = "cpu",
                        cache_dir: str | None = None, token: str | bool | None = None,
                        local_files_only: bool = False) -> "AudioLM":
        folder = resolve_bundle(path_or_repo_id, revision, cache_dir, token, local_files_only)
        config = BundleConfig.load(folder)
        loaders = {"codec": load_codec, "semantic_tokenizer": SemanticTokenizer.from_folder, "semantic": load_stage,
                   "coarse": load_stage, "fine": load_stage}  # each failure a BundleError naming its folder
        return cls(config, *(load_part(folder / name, load) for name, load in loaders.items()), device=device,
                   default_settings=GenerationSettings.load(folder))

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None, model_card: str | None = None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder)
        self.default_settings.save(folder)
        self.codec.save_pretrained(folder / "codec", dtype)
        self.semantic_tokenizer.save_pretrained(folder / "semantic_tokenizer", dtype)
        for role, stage in self.stages.items():
            stage.save_pretrained(folder / role, dtype)
        if model_card is not None:
            (folder / "README.md").write_text(model_card)
        return folder

    def push_to_hub(self, repo_id: str, revision: str | None = None, private: bool = False,
                    token: str | None = None, dtype: torch.dtype | None = torch.float16,
                    model_card: str | None = None, commit_message: str = "Upload AudioLM bundle") -> str:
        """Save to a temporary folder and upload it as one commit; returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:  # the Hub rejects commits to a branch that does not exist yet
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, dtype, model_card)
            info = api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision,
                                     commit_message=commit_message)
        return str(info)

    # ----- tokens -----
    @property
    def alignment_samples(self) -> int:
        """Samples per unit where semantic and acoustic frames line up (640 for 25 Hz / 50 Hz)."""
        sr = self.config.sample_rate
        return math.lcm(round(sr / self.config.semantic_rate), round(sr / self.config.acoustic_rate))

    def tokenize(self, wav: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Mono wav at the bundle rate -> semantic ids ``(1, T_s)``, acoustic ids ``(1, Q, T_a)``."""
        x = torch.from_numpy(np.asarray(wav, dtype=np.float32))[None].to(self.device)
        return self.semantic_tokenizer.tokenize(x), self.codec.encode(x)

    def voice_features(self, wav: np.ndarray) -> torch.Tensor:
        """The semantic encoder's features ``(T_s, d)`` of ``wav``: a voice reference for the voice prior."""
        x = torch.from_numpy(np.asarray(wav, dtype=np.float32))[None].to(self.device)
        return self.semantic_tokenizer.features(x)[0]

    def in_loudness_range(self, wav: np.ndarray) -> tuple[np.ndarray, float]:
        """``wav`` scaled into the bundle's training loudness range (``config.input_loudness``), and the gain."""
        gain = loudness_gain(wav, self.config.sample_rate, self.config.input_loudness)
        return (wav if gain == 1 else (wav * gain).astype(np.float32)), gain

    def aligned(self, wav: np.ndarray) -> np.ndarray:
        """``wav`` cut to a whole number of alignment units (semantic and acoustic frames end together)."""
        unit = self.alignment_samples
        return wav[: len(wav) // unit * unit]

    # ----- the three modes -----
    def unconditional(self, seconds: float, num_samples: int = 1, seed: int = 0,
                      settings: GenerationSettings | None = None,
                      progress: Progress | None = None) -> GenerationResult:
        self.check_request(num_samples, seed, seconds)
        return self._generate(self.unconditional_plan(seconds, num_samples), seed, settings, progress)

    def continuation(self, prompt: np.ndarray, seconds: float, num_samples: int = 1, seed: int = 0,
                     settings: GenerationSettings | None = None,
                     progress: Progress | None = None) -> GenerationResult:
        """Continue ``prompt`` by ``seconds``; the output holds the (codec-decoded) prompt first."""
        self.check_request(num_samples, seed, seconds)
        return self._generate(self.continuation_plan(prompt, seconds, num_samples), seed, settings, progress)

    # the plans of two modes (also what audiolm.streaming streams)
    def unconditional_plan(self, seconds: float, num_samples: int = 1) -> GenerationPlan:
        empty_sem = torch.zeros(num_samples, 1, 0, dtype=torch.long, device=self.device)
        return GenerationPlan(empty_sem, self._empty_acoustic(num_samples), round(seconds * self.config.acoustic_rate),
                              round(seconds * self.config.sample_rate))

    def continuation_plan(self, prompt: np.ndarray, seconds: float, num_samples: int = 1) -> GenerationPlan:
        """Tokenize ``prompt`` (checked, cut to whole alignment units, brought into the loudness range) and plan
        ``seconds`` more."""
        prompt, gain = self.in_loudness_range(self.aligned(self._checked_audio(prompt, "prompt")))
        sem, acoustic = self.tokenize(prompt)
        return GenerationPlan(sem[:, None].expand(num_samples, -1, -1), acoustic.expand(num_samples, -1, -1),
                              frames=acoustic.shape[2] + round(seconds * self.config.acoustic_rate),
                              samples=len(prompt) + round(seconds * self.config.sample_rate),
                              prompt_samples=len(prompt), reference=prompt, style_source=prompt, output_gain=1 / gain)

    def acoustic_generation(self, wav: np.ndarray, voice: np.ndarray | None = None, num_samples: int = 1,
                            seed: int = 0, settings: GenerationSettings | None = None,
                            progress: Progress | None = None) -> GenerationResult:
        """Keep the content (semantic ids) of ``wav``; new acoustics, or those of ``voice``. Each is brought into the
        loudness range on its own; the output comes at ``wav``'s level."""
        self.check_request(num_samples, seed)
        wav, gain = self.in_loudness_range(self._checked_audio(wav, "input audio"))
        voice = None if voice is None else self.in_loudness_range(self._checked_audio(voice, "voice prompt"))[0]
        sem, _ = self.tokenize(wav)
        frames = self.codec.num_frames(len(wav))
        prefix_sem, prefix_acoustic = sem[:, :0], self._empty_acoustic(1)
        if voice is not None:
            voice = self.aligned(voice)
            prefix_sem, prefix_acoustic = self.tokenize(voice)
        cond = torch.cat([prefix_sem, sem], 1)[:, None].expand(num_samples, -1, -1)
        plan = GenerationPlan(cond, prefix_acoustic.expand(num_samples, -1, -1), prefix_acoustic.shape[2] + frames,
                              samples=None, generate_semantic=False, reference=voice, style_source=wav,
                              output_gain=1 / gain)
        result = self._generate(plan, seed, settings, progress)
        skip = prefix_acoustic.shape[2]
        result.acoustic_ids = result.acoustic_ids[:, :, skip:]
        result.semantic_ids = result.semantic_ids[:, prefix_sem.shape[1]:]
        result.audio = result.audio[:, skip * self.codec.hop_length:][:, :len(wav)]
        return result

    # ----- shared path -----
    def _empty_acoustic(self, n: int) -> torch.Tensor:
        return torch.zeros(n, self.config.num_quantizers, 0, dtype=torch.long, device=self.device)

    def check_request(self, num_samples: int, seed: int, seconds: float | None = None) -> None:
        """The library's inputs checked like a file's: ``SettingsError`` says which and what range."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples < 1:
            raise SettingsError(f"num_samples must be a whole number >= 1, got {shorten(num_samples)}.")
        check_seed(seed)
        shortest, longest = self.alignment_samples / self.config.sample_rate, self.max_generation_seconds
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, numbers.Real)
                                    or not shortest <= seconds <= longest):
            raise SettingsError(f"seconds must be between {shortest:g} (one frame) and {longest:g}, "
                                f"got {shorten(seconds)}.")

    def check_settings(self, settings: GenerationSettings) -> None:
        """A ``SettingsError`` before any work where a stage cannot sample as asked (guidance it was not
        trained for)."""
        for role, stage in self.stages.items():
            stage.guidance(getattr(settings, role))
            stage.style_guidance(getattr(settings, role))
            stage.prefix_knn(getattr(settings, role))
            stage.forbid_prefix_ngrams(getattr(settings, role))
        if settings.fine_by_example and not self.codec.residual_latent:
            raise SettingsError(f"fine_by_example needs a codec with a residual latent; the {self.codec.type_name} "
                                "codec has none: set it to 0.")
        if settings.voice_decoder and not self.codec.voice_levels:
            raise SettingsError("voice_decoder needs a codec with a voice decoder; this bundle's has none: set it "
                                "to false.")

    def _checked_audio(self, wav, what: str) -> np.ndarray:
        return check_waveform(wav, what, self.config.sample_rate, min_samples=self.alignment_samples)

    def _generate(self, plan: GenerationPlan, seed: int, settings: GenerationSettings | None,
                  progress: Progress | None) -> GenerationResult:
        """Semantic (optional) -> coarse -> fine -> decode, continuing the plan's prefixes."""
        settings = settings or self.default_settings
        self.check_settings(settings)
        sem, frames, samples = plan.semantic, plan.frames, plan.samples
        generator = SampleGenerators(seed, sem.shape[0], self.device)
        report = (lambda name: (lambda done, total: progress(name, done / max(total, 1)))) if progress else \
            (lambda name: None)
        Qc = self.config.num_coarse
        sem = plan.semantic_ids(self, settings, generator, report("semantic"))
        coarse_bias, fine_bias = plan.biases(self, sem, settings)
        coarse = self.coarse_stage.generate(sem, plan.acoustic[:, :Qc], frames, settings.coarse, generator,
                                            report("coarse"), coarse_bias, **plan.style_kwargs(self, self.coarse_stage))
        fine = plan.fine_source(self, settings).generate(coarse, plan.acoustic[:, Qc:], frames, settings.fine,
                                                         generator, report("fine"), fine_bias)
        ids = torch.cat([coarse, fine], 1)
        audio = plan.decode(self, ids, settings)
        if samples is not None:
            audio = audio[:, :samples]
        if progress:
            progress("decode", 1.0)
        return GenerationResult(np.clip(audio, -1, 1), self.config.sample_rate, plan.prompt_samples, seed,
                                sem[:, 0].cpu(), ids.cpu())


def check_compatible(model: AudioLM) -> None:
    """Assert that the bundle's parts fit together, with messages that say what to fix."""
    c, problems = model.config, []

    def expect(what, got, want):
        if got != want:
            problems.append(f"{what} is {got} but the bundle config says {want}")

    codec, tok = model.codec, model.semantic_tokenizer
    expect("codec sample_rate", codec.sample_rate, c.sample_rate)
    expect("codec frame_rate", codec.frame_rate, c.acoustic_rate)
    expect("codec num_quantizers", codec.num_quantizers, c.num_quantizers)
    expect("codec codebook_size", codec.codebook_size, c.codebook_size)
    expect("semantic tokenizer frame_rate", tok.frame_rate, c.semantic_rate)
    expect("semantic tokenizer num_clusters", tok.config.num_clusters, c.semantic_vocab)
    for role, spec in stage_specs(c).items():
        stage = model.stages[role]
        what = {"fine": "fine_layout", "coarse": "coarse_layout"}.get(role, f"{role} stage layout")
        expect(what, stage.layout, c.stage_layout(role))
        for what, got, want in stage.mismatches(spec):
            expect(f"{role} stage {what}", got, want)
    if problems:
        raise BundleError("The bundle's components do not fit together:\n- " + "\n- ".join(problems)
                          + "\nRetrain or re-export the mismatched component, or fix config.json.")
