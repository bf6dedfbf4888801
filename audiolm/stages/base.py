"""What every stage is: a network (ids -> logits) with its token layout, filling one of three roles.

A role (``StageSpec``) is what the bundle asks of a stage: which token streams condition it and
which it generates, at what rates and codebook sizes. A stage class (a layout) turns a role and
a size into its config (``config_for``: the one place its sequence length is computed), trains
(``loss``), generates (``generate``, one signature for every layout) and says where it does not
fit a role (``mismatches``).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
from torch import nn

from ..errors import SettingsError
from ..sampling import SamplingConfig, TokenBias
from ..serialization import config_from_dict, load_weights, read_config, save_module

ProgressFn = Callable[[int, int], None]  # (done, total)
ROLES = ("semantic", "coarse", "fine")


def cond_span(cond_rate: float, target_rate: float, start: int, end: int) -> tuple[int, int]:
    """Cond frames covering target frames ``[start, end)``."""
    ratio = cond_rate / target_rate
    return math.floor(start * ratio), math.ceil(end * ratio)


@dataclass(frozen=True)
class StageSpec:
    """A role in a bundle: cond streams ``(B, cond_levels, T_c)`` -> target streams ``(B, target_levels, T)``."""
    name: str  # semantic | coarse | fine
    cond_levels: int
    cond_codebook: int
    cond_rate: float  # cond frames per second
    target_levels: int
    target_codebook: int
    target_rate: float  # target frames per second
    first_target_level: int  # codec level of the first target stream (0 coarse, Q' fine)

    def cond_span(self, start: int, end: int) -> tuple[int, int]:
        return cond_span(self.cond_rate, self.target_rate, start, end)


def stage_specs(bundle) -> dict[str, StageSpec]:
    """The three roles of a ``BundleConfig``: semantic ids; the first Q' codec levels given them; the rest."""
    b, fine_levels = bundle, bundle.num_quantizers - bundle.num_coarse
    return {
        "semantic": StageSpec("semantic", 0, 0, b.semantic_rate, 1, b.semantic_vocab, b.semantic_rate, 0),
        "coarse": StageSpec("coarse", 1, b.semantic_vocab, b.semantic_rate, b.num_coarse, b.codebook_size,
                            b.acoustic_rate, 0),
        "fine": StageSpec("fine", b.num_coarse, b.codebook_size, b.acoustic_rate, fine_levels, b.codebook_size,
                          b.acoustic_rate, b.num_coarse),
    }


@dataclass(kw_only=True)
class StreamStageConfig:
    """The role part of an autoregressive stage's config (flat and delay layouts): the streams it reads and
    writes, their rates and codebooks, and its context window in target frames."""
    name: str = "coarse"  # semantic | coarse | fine
    cond_levels: int = 1
    cond_codebook: int = 512
    cond_rate: float = 25.0  # cond frames per second
    target_levels: int = 4
    target_codebook: int = 1024
    target_rate: float = 50.0  # target frames per second
    first_target_level: int = 0  # codec level of the first target stream (0 coarse, Q' fine)
    window_frames: int = 500  # target frames per context window (10 s at 50 Hz)

    @staticmethod
    def role_fields(spec: StageSpec, size: "StageSize") -> dict:
        """This part filled from a role and a size (a layout's ``config_for`` adds its own fields)."""
        return dict(name=spec.name, cond_levels=spec.cond_levels, cond_codebook=spec.cond_codebook,
                    cond_rate=spec.cond_rate, target_levels=spec.target_levels,
                    target_codebook=spec.target_codebook, target_rate=spec.target_rate,
                    first_target_level=spec.first_target_level, window_frames=size.window_frames)

    @property
    def target_offset(self) -> int:  # the first target embedding row: the cond levels' rows come first
        return self.cond_levels * self.cond_codebook

    def cond_span(self, start: int, end: int) -> tuple[int, int]:
        """Cond frames covering target frames ``[start, end)``."""
        return cond_span(self.cond_rate, self.target_rate, start, end)

    def mismatches(self, spec: StageSpec) -> list[tuple[str, object, object]]:
        """``(what, this config's value, the role's value)`` for each stream the role sees otherwise."""
        fields = ["target_levels", "target_codebook", "target_rate", "cond_levels"]
        if spec.cond_levels:  # the semantic stage has no cond stream: its cond codebook and rate mean nothing
            fields += ["cond_codebook", "cond_rate"]
        return [(name, getattr(self, name), getattr(spec, name)) for name in fields
                if getattr(self, name) != getattr(spec, name)]


@dataclass(frozen=True)
class StageSize:
    """Transformer width, depth and heads, target frames per context window, the share of training windows
    trained without their cond (classifier-free guidance), and a style read at every window's start with the
    share of windows trained without it (``audiolm.styles``); the last three the flat layouts' only."""
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None  # None: n_heads (``TransformerConfig.n_kv_heads``)
    window_frames: int = 250
    cond_dropout: float = 0.0
    style: str | None = None
    style_dropout: float = 0.0


def check_flat_only(layout: str, size: StageSize) -> None:
    """For layouts that cannot train without their cond or read a style: a clear error rather than a silently
    ignored knob."""
    if size.cond_dropout:
        raise ValueError(f"the {layout} layout does not train with cond_dropout (classifier-free guidance); "
                         "use the flat (autoregressive) layout or set cond_dropout to 0")
    if size.style is not None or size.style_dropout:
        raise ValueError(f"the {layout} layout reads no style; use the flat (autoregressive) or interleaved "
                         "layout or leave style unset")


def one_draw_per_token(levels: int, known: int, total: int, sampling: SamplingConfig) -> int:
    """``Stage.draws`` of an autoregressive layout: one uniform per generated token, none when greedy."""
    return 0 if sampling.temperature == 0 else max(0, total - known) * levels


class Stage(nn.Module, ABC):
    type_name: ClassVar[str]  # the ``type`` in the stage's config.json
    layout: ClassVar[str]  # the name a bundle config and the factory use ("autoregressive", "parallel")
    config_class: ClassVar[type]

    def __init__(self, config):
        super().__init__()
        self.config = config

    @classmethod
    @abstractmethod
    def config_for(cls, spec: StageSpec, size: StageSize):
        """The config of this layout filling ``spec`` at ``size``."""

    @abstractmethod
    def mismatches(self, spec: StageSpec) -> list[tuple[str, object, object]]:
        """``(what, this stage's value, the role's value)`` for each way the stage does not fit ``spec``."""

    @abstractmethod
    def loss(self, cond: torch.Tensor | None, target: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Training loss of ``target (B, Lt, T)`` given ``cond (B, Lc, Tc)`` (None for the semantic stage)."""

    @abstractmethod
    def generate(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
                 sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
                 progress: ProgressFn | None = None, bias: TokenBias | None = None) -> torch.Tensor:
        """Continue ``prefix (B, Lt, P)`` to ``(B, Lt, total_frames)`` given ``cond (B, Lc, Tc)``; ``bias`` is
        added to the logits of the frames it covers (after guidance, before temperature)."""

    @property
    def style(self) -> str | None:
        """The style (``audiolm.styles``) whose class this stage reads at the start of every window, or None. A stage
        with one takes ``style=`` classes ``(B,)`` in ``loss``, ``generate`` and ``stream`` (the flat layouts)."""
        return None

    def id_rows(self, stream: str) -> dict[str, list[int]]:
        """Where the ids of ``stream`` ("cond" or "target") sit in this stage's weights: for each state-dict
        table indexed by token id, the first row of each level's codebook. Used to carry a stage across a
        change of tokenizer (``audiolm.training.remap``). Layouts without such tables return {}."""
        return {}

    def stream(self, cond: torch.Tensor | None, prefix: torch.Tensor, total_frames: int,
               sampling: SamplingConfig | None = None, generator: torch.Generator | None = None,
               progress: ProgressFn | None = None, cond_ready: Callable[[int], None] | None = None,
               bias: TokenBias | None = None):
        """``generate`` in steps for a streaming caller: yields ``(known, out)`` whenever more of the output
        ``out (B, Lt, total_frames)`` is final (its frames ``< known``), drawing from ``generator`` exactly
        as ``generate`` does. ``cond`` may still be filling: ``cond_ready(n)`` is called before the cond of
        target frames ``< n`` is read. This default is one step; layouts override it with finer ones."""
        if cond_ready is not None:
            cond_ready(total_frames)
        yield total_frames, self.generate(cond, prefix, total_frames, sampling, generator, progress, bias)

    def guidance(self, sampling: SamplingConfig, cond_given: bool = True) -> float:
        """The guidance weight ``sampling`` asks of this stage (1: none), or a ``SettingsError`` where the stage
        cannot be guided (``cond_given``: whether the call passes a cond). Layouts that can (a cond, trained
        with cond dropout) override it."""
        if sampling.guidance != 1:
            raise SettingsError(f"the {self.config.name} stage ({self.layout} layout) cannot be guided: guidance "
                                "needs a conditioned flat stage trained with cond_dropout; set guidance to 1.")
        return 1.0

    def style_guidance(self, sampling: SamplingConfig, style_given: bool = True) -> float:
        """The style-guidance weight ``sampling`` asks of this stage (1: none), or a ``SettingsError`` where the stage
        cannot be guided by a style class (``style_given``: whether the call passes one). Layouts that can (a style,
        trained with style dropout) override it."""
        if sampling.style_guidance != 1:
            raise SettingsError(f"the {self.config.name} stage ({self.layout} layout) cannot be guided by a style: "
                                "style_guidance needs a stage with a style trained with style_dropout; set "
                                "style_guidance to 1.")
        return 1.0

    def prefix_knn(self, sampling: SamplingConfig) -> float:
        """The share of each next-token distribution ``sampling`` asks this stage to draw from its known prefix
        (``audiolm.prefix_memory``; 0: none), or a ``SettingsError`` where the layout cannot. Autoregressive
        layouts that can override it."""
        return self._off_here(sampling, "prefix_knn", "draw on its prefix")

    def forbid_prefix_ngrams(self, sampling: SamplingConfig) -> int:
        """The n of the known prefix's n-grams ``sampling`` asks this stage not to repeat
        (``audiolm.forbidden_ngrams``; 0: none), or a ``SettingsError`` where the layout cannot. Autoregressive
        layouts that can override it."""
        return self._off_here(sampling, "forbid_prefix_ngrams", "forbid its prefix's n-grams")

    def _off_here(self, sampling: SamplingConfig, option: str, doing: str):
        """``sampling``'s ``option`` (a prefix option of the flat layouts) where it is off (0), else a
        ``SettingsError`` saying that this layout cannot (``doing``: what the option asks)."""
        value = getattr(sampling, option)
        if value:
            raise SettingsError(f"the {self.config.name} stage ({self.layout} layout) cannot {doing}: {option} needs "
                                f"a flat or interleaved stage; set {option} to 0.")
        return value

    def draws(self, known: int, total: int, sampling: SamplingConfig) -> int | None:
        """How many uniforms ``generate`` draws from its generator continuing ``known`` frames to ``total``
        (what lets a streaming caller advance a copy of the generator past them), or None where the layout
        does not say (autoregressive layouts: ``one_draw_per_token``)."""
        return None

    def save_pretrained(self, folder, dtype: torch.dtype | None = None) -> None:
        save_module(self, self.config, folder, self.type_name, dtype)

    @classmethod
    def from_folder(cls, folder) -> "Stage":
        return load_weights(cls(config_from_dict(cls.config_class, read_config(folder))), folder).eval()
