"""Speed and memory: real-time factor per stage and per mode, tokens/s, peak memory, load time."""
from __future__ import annotations

import json
import platform
import resource
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .pipeline import AudioLM


@dataclass
class BenchReport:
    device: str
    threads: int
    seconds: float
    load_seconds: float | None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_memory_mb: float = 0.0
    machine: str = field(default_factory=lambda: f"{platform.machine()} {platform.processor() or ''}".strip())

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def to_markdown(self) -> str:
        lines = [f"device {self.device}, {self.threads} threads, {self.seconds:g} s of audio",
                 "", "| stage | tokens/s | ms/token | RTF |", "|---|---|---|---|"]
        for name, s in self.stages.items():
            lines.append(f"| {name} | {s['tokens_per_s']:.0f} | {s['ms_per_token']:.2f} | {s['rtf']:.3f} |")
        lines += ["", "| mode | wall s | audio s | RTF |", "|---|---|---|---|"]
        for name, m in self.modes.items():
            lines.append(f"| {name} | {m['wall_s']:.2f} | {m['audio_s']:.2f} | {m['rtf']:.3f} |")
        if self.load_seconds is not None:
            lines.append(f"\nmodel load: {self.load_seconds:.2f} s")
        lines.append(f"peak memory: {self.peak_memory_mb:.0f} MB")
        return "\n".join(lines)


def _timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def synthetic_voice(seconds: float, sample_rate: int, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """A voiced-like test signal: harmonic tone with a wandering pitch around ``f0``, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = f0 + 0.2 * f0 * np.sin(2 * np.pi * (0.5 + 0.5 * rng.random()) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 + 0.01 * rng.standard_normal(len(t))
    return wav.astype(np.float32)


def run_bench(model: AudioLM, seconds: float = 10.0, prompt_seconds: float = 3.0, batch: int = 1,
              load_seconds: float | None = None, log=print) -> BenchReport:
    device, c = model.device, model.config
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    report = BenchReport(str(device), torch.get_num_threads(), seconds, load_seconds)
    gen = torch.Generator(device).manual_seed(0)
    frames = round(seconds * c.acoustic_rate)
    sem_frames = round(seconds * c.semantic_rate)
    empty = lambda levels: torch.zeros(batch, levels, 0, dtype=torch.long, device=device)  # noqa: E731
    model.unconditional(0.5, batch)  # warm-up

    def stage(name, fn, tokens):
        _, wall = _timed(fn, device)
        report.stages[name] = {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens * batch / wall,
                               "ms_per_token": 1000 * wall / tokens, "rtf": wall / seconds}
        log(f"{name}: {tokens} tokens in {wall:.2f} s")

    sem = torch.randint(0, c.semantic_vocab, (batch, 1, sem_frames), generator=gen, device=device)
    coarse = torch.randint(0, c.codebook_size, (batch, c.num_coarse, frames), generator=gen, device=device)
    all_ids = torch.randint(0, c.codebook_size, (batch, c.num_quantizers, frames), generator=gen, device=device)
    stage("semantic", lambda: model.semantic_stage.generate(None, empty(1), sem_frames, generator=gen), sem_frames)
    stage("coarse", lambda: model.coarse_stage.generate(sem, empty(c.num_coarse), frames, generator=gen),
          frames * c.num_coarse)
    fine_levels = c.num_quantizers - c.num_coarse
    stage("fine", lambda: model.generate_fine(coarse, empty(fine_levels), generator=gen), frames * fine_levels)
    stage("codec decode", lambda: model.codec.decode(all_ids), frames)
    wav = synthetic_voice(seconds, c.sample_rate)
    stage("tokenize (semantic + codec encode)", lambda: model.tokenize(wav), frames)

    def mode(name, fn, audio_s):
        _, wall = _timed(fn, device)
        report.modes[name] = {"wall_s": wall, "audio_s": audio_s, "rtf": wall / audio_s}
        log(f"{name}: {audio_s:g} s of audio in {wall:.2f} s")

    prompt = synthetic_voice(prompt_seconds, c.sample_rate, seed=1)
    mode("unconditional", lambda: model.unconditional(seconds, batch), seconds)
    mode("acoustic generation", lambda: model.acoustic_generation(wav, num_samples=batch), seconds)
    mode("acoustic generation + voice prompt", lambda: model.acoustic_generation(wav, prompt, num_samples=batch),
         seconds)
    mode("continuation", lambda: model.continuation(prompt, seconds, batch), seconds)
    short = seconds / 5  # marginal RTF: (t(seconds) - t(seconds / 5)) / (4/5 seconds)
    _, wall_short = _timed(lambda: model.continuation(prompt, short, batch), device)
    marginal = (report.modes["continuation"]["wall_s"] - wall_short) / (seconds - short)
    report.modes["continuation (marginal)"] = {"wall_s": report.modes["continuation"]["wall_s"] - wall_short,
                                               "audio_s": seconds - short, "rtf": marginal}
    if device.type == "cuda":
        report.peak_memory_mb = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report
