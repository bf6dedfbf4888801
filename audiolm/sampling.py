"""Temperature / top-k / top-p sampling with an explicit ``torch.Generator`` (no global seed), the seed
range, and per-sample generators (sample i of a seed is the same whatever the number of samples)."""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

import numpy as np
import torch

from .errors import SettingsError

SEED_MAX = 2 ** 32 - 1  # seeds are whole numbers in [0, SEED_MAX]
SEED_RANGE = f"a whole number from 0 to {SEED_MAX}"


def shorten(value, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters: error messages never echo a huge input back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def check_seed(seed) -> int:
    """``seed`` as an int, or a ``SettingsError`` that states the range."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= SEED_MAX:
        raise SettingsError(f"seed must be {SEED_RANGE}, got {shorten(seed)}.")
    return int(seed)


def parse_seed(text: str) -> int:
    """A seed typed by a user: ASCII digits only (no sign, ``_``, spaces inside or other scripts' digits)."""
    text = str(text).strip()
    if not re.fullmatch(r"[0-9]+", text) or len(text) > len(str(SEED_MAX)) or int(text) > SEED_MAX:
        raise SettingsError(f"Seed must be {SEED_RANGE}, not {shorten(text)}.")
    return int(text)


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a batch seeded with ``seed``: ``seed`` itself for sample 0, a hash of
    (seed, index) in the seed range for the others. Generating with that seed alone gives the same sample."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1, np.uint32)[0])


def candidate_seed(seed: int, index: int) -> int:
    """The seed of candidate ``index > 0`` of a sample seeded with ``seed`` (``SampleGenerators.with_candidates``):
    hashed apart from ``sample_seed``, so that one sample's candidates are not the batch's other samples."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


class SampleGenerators:
    """One ``torch.Generator`` per sample of a batch. ``sample`` draws each sample's rows from its own
    generator, seeded by ``sample_seed(seed, i)`` alone, so sample i comes out the same whatever the
    number of samples, and the same as sample 0 of ``sample_seed(seed, i)`` (sample 0's generator is a
    single ``torch.Generator().manual_seed(seed)``, as before per-sample generators)."""

    def __init__(self, seed: int, num_samples: int, device: str | torch.device = "cpu"):
        self.generators = [torch.Generator(device).manual_seed(sample_seed(check_seed(seed), i))
                           for i in range(num_samples)]

    @classmethod
    def of(cls, generators: list[torch.Generator]) -> "SampleGenerators":
        """Samples drawing from these generators, one per sample in this order (copies, candidates)."""
        out = cls.__new__(cls)
        out.generators = list(generators)
        return out

    def with_candidates(self, count: int) -> "SampleGenerators":
        """Generators for ``count`` candidates of every sample, candidate-major like ``ids.repeat(count, ...)``:
        candidate 0 draws from these very generators (what one candidate would draw), candidate ``j > 0`` of a
        sample from a generator seeded by ``candidate_seed(the sample's seed, j)``."""
        return SampleGenerators.of(self.generators + [
            torch.Generator(g.device).manual_seed(candidate_seed(g.initial_seed(), j))
            for j in range(1, count) for g in self.generators])

    def rand(self, rows: int, device: torch.device) -> torch.Tensor:
        """``(rows, 1)`` uniforms; rows are batch-major, ``rows / num_samples`` per sample."""
        per, left = divmod(rows, len(self.generators))
        if left:
            raise ValueError(f"{rows} rows do not split into {len(self.generators)} samples")
        if len(self.generators) == 1:
            return torch.rand(per, 1, generator=self.generators[0], device=device)
        return torch.cat([torch.rand(per, 1, generator=g, device=device) for g in self.generators])


def _number(name: str, value, integer: bool = False):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite {'whole ' if integer else ''}number, got {shorten(value)}.")
    return value


@dataclass
class SamplingConfig:
    temperature: float = 1.0  # 0 means greedy
    top_k: int | None = None
    top_p: float | None = None
    # classifier-free guidance of a conditioned stage trained with cond dropout: logits = null + w (cond - null)
    # with the null cond's logits; 1 is off (the stage as trained), above 1 follows the cond more
    guidance: float = 1.0
    # classifier-free guidance by a stage's style class (``audiolm.styles``; a stage trained with style dropout):
    # logits = no-style + w (style - no-style), the no-style rows reading BOS where the class would be; 1 is off.
    # Where a call gives no class (unconditional generation) there is nothing to guide by and it is off
    style_guidance: float = 1.0
    # kNN-LM over the stage's known prefix (``audiolm.prefix_memory``): the share of each next-token distribution
    # drawn from the prefix's tokens whose contexts the stage sees as nearest, at this softmax temperature over
    # cosine similarity; 0 is off
    prefix_knn: float = 0.0
    prefix_knn_temperature: float = 0.02
    # n > 0: every id that would complete an n-gram of the stage's known prefix (the prompt) is forbidden, level by
    # level (``audiolm.forbidden_ngrams``): the continuation cannot replay the prompt; 0 is off
    forbid_prefix_ngrams: int = 0

    def __post_init__(self):
        if _number("temperature", self.temperature) < 0:
            raise SettingsError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}.")
        if self.top_k is not None and _number("top_k", self.top_k, integer=True) < 1:
            raise SettingsError(f"top_k must be >= 1, or None (off), got {self.top_k}.")
        if self.top_p is not None and not 0 < _number("top_p", self.top_p) <= 1:
            raise SettingsError(f"top_p must be in (0, 1], or None (off), got {self.top_p}.")
        if _number("guidance", self.guidance) < 0:
            raise SettingsError(f"guidance must be >= 0 (1 = off), got {self.guidance}.")
        if _number("style_guidance", self.style_guidance) < 0:
            raise SettingsError(f"style_guidance must be >= 0 (1 = off), got {self.style_guidance}.")
        if not 0 <= _number("prefix_knn", self.prefix_knn) <= 1:
            raise SettingsError(f"prefix_knn must be in [0, 1] (0 = off), got {self.prefix_knn}.")
        if _number("prefix_knn_temperature", self.prefix_knn_temperature) <= 0:
            raise SettingsError(f"prefix_knn_temperature must be > 0, got {self.prefix_knn_temperature}.")
        if _number("forbid_prefix_ngrams", self.forbid_prefix_ngrams, integer=True) < 0:
            raise SettingsError(f"forbid_prefix_ngrams must be a whole number >= 0 (0 = off), got "
                                f"{self.forbid_prefix_ngrams}.")


@dataclass(frozen=True)
class TokenBias:
    """Additive logits for a stage's output: ``weight`` on ``tokens (B, L, T, k)``, the candidate ids of each
    sample, target level and output frame (a token listed twice counts once); frames past ``T`` get none.
    What a prior over the output's codes (``audiolm.voice_prior``) hands a stage's sampling."""
    tokens: torch.Tensor
    weight: float

    def logits(self, level: int, lo: int, hi: int, codebook: int) -> torch.Tensor:
        """The bias of output frames ``[lo, hi)`` of ``level``: ``(B, hi - lo, codebook)``."""
        B, _, T, _ = self.tokens.shape
        out = torch.zeros(B, hi - lo, codebook, device=self.tokens.device)
        if lo < T:
            out[:, :min(hi, T) - lo].scatter_(-1, self.tokens[:, level, lo:min(hi, T)], self.weight)
        return out


def _uniform(generator: torch.Generator | SampleGenerators | None, rows: int, device) -> torch.Tensor:
    if isinstance(generator, SampleGenerators):
        return generator.rand(rows, device)
    return torch.rand(rows, 1, generator=generator, device=device)


def sample(logits: torch.Tensor, config: SamplingConfig,
           generator: torch.Generator | SampleGenerators | None = None) -> torch.Tensor:
    """``logits (..., V)`` -> sampled indices ``(...)``."""
    shape = logits.shape[:-1]
    logits = logits.reshape(-1, logits.shape[-1]).float()
    if config.temperature == 0:
        return logits.argmax(-1).reshape(shape)
    logits = logits / config.temperature
    if config.top_k is not None and config.top_k < logits.shape[-1]:
        kth = torch.topk(logits, config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p is not None and config.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= config.top_p  # keep the first token always
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    # inverse-CDF sampling: a few cheap kernels (torch.multinomial costs ~0.1 ms per call on CPU)
    cdf = logits.softmax(-1).cumsum(-1)
    u = _uniform(generator, cdf.shape[0], cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).clamp_(max=cdf.shape[-1] - 1).reshape(shape)
