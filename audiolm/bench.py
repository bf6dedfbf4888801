"""Speed and memory: real-time factor per stage and per mode, tokens/s, peak memory, load time.

``run_peer`` times lucidrains' audiolm-pytorch stages at the same width, depth and heads in a
subprocess (``peer_lucidrains.py``, under the interpreter that has that package) so both sets
of figures come from the same run on the same machine.
"""
from __future__ import annotations

import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from .pipeline import AudioLM
from .streaming import stream_continuation, stream_unconditional, time_to_first_audio
from .testing import synthetic_voice

PEER_SCRIPT = Path(__file__).with_name("peer_lucidrains.py")
STAGES = ("semantic", "coarse", "fine")


@dataclass
class BenchReport:
    device: str
    threads: int
    batch: int
    seconds: float
    repeats: int
    load_seconds: float | None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_memory_mb: float = 0.0
    peak_memory_kind: str = ""
    peer: dict = field(default_factory=dict)  # lucidrains' stages, or {"skipped": why}
    streamed: dict[str, dict[str, float]] = field(default_factory=dict)  # time to first audio (audiolm.streaming)

    def to_dict(self) -> dict:
        return asdict(self)


def _stage_rows(stages: dict) -> list[str]:
    return [f"| {name} | {s.get('size', '—')} | {s['tokens_per_s']:.0f} | {s['ms_per_token']:.2f} | {s['rtf']:.3f} |"
            for name, s in stages.items()]


def markdown(report: dict) -> str:
    """The tables of one bench run (a ``BenchReport.to_dict()``), and the peer's side by side."""
    lines = [f"device {report['device']}, {report['threads']} threads, batch {report['batch']}, "
             f"{report['seconds']:g} s of audio, best of {report['repeats']}", "",
             "| stage | size | tokens/s | ms/token | RTF |", "|---|---|---|---|---|", *_stage_rows(report["stages"]),
             "", "| mode | wall s | audio s | RTF |", "|---|---|---|---|"]
    for name, m in report["modes"].items():
        lines.append(f"| {name} | {m['wall_s']:.2f} | {m['audio_s']:.2f} | {m['rtf']:.3f} |")
    for name, t in report.get("streamed", {}).items():
        lines.append(f"\nstreamed {name}: first audio after {t['first_audio_s']:.2f} s, first generated audio "
                     f"after {t['first_new_audio_s']:.2f} s, all {t['audio_s']:g} s after {t['total_s']:.2f} s")
    lines.append("")
    if report.get("load_seconds") is not None:
        lines.append(f"model load: {report['load_seconds']:.2f} s")
    lines.append(f"peak memory ({report['peak_memory_kind']}): {report['peak_memory_mb']:.0f} MB")
    peer = report.get("peer", {})
    if peer.get("skipped"):
        lines.append(f"\nlucidrains' audiolm-pytorch not timed: {peer['skipped']}")
    elif peer.get("stages"):
        lines += ["", f"Side by side with lucidrains' {peer['package']} (torch {peer['torch']}), same width, depth and "
                  f"heads, random weights, {peer['seconds']:g} s of audio, batch {peer['batch']}; its fine stage "
                  f"is autoregressive (the paper's layout). Its peak memory: {peer['peak_memory_mb']:.0f} MB.", "",
                  "| stage | ours: size | tokens/s | ms/token | RTF | lucidrains: size | tokens/s | ms/token | RTF "
                  "| our time ÷ theirs |", "|" + "---|" * 10]
        for name, s in peer["ours"].items():
            p = peer["stages"].get(s.get("peer_stage", name))
            theirs = (f" d{p['dim']}×{p['depth']}, {p['params_m']:.1f} M | {p['tokens_per_s']:.0f} | "
                      f"{p['ms_per_token']:.2f} | {p['wall_s'] / peer['seconds']:.3f} | {s['wall_s'] / p['wall_s']:.2g} |"
                      if p else " — | — | — | — | — |")
            lines.append(_stage_rows({name: s})[0] + theirs)
    return "\n".join(lines)


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _best_time(fn, device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def stage_geometry(model: AudioLM) -> dict[str, dict[str, int]]:
    """Width, depth and heads of each stage's transformer (what the peer is built with)."""
    out = {}
    for name in STAGES:
        t = getattr(model, f"{name}_stage").config.transformer
        out[name] = {"dim": t.d_model, "depth": t.n_layers, "heads": t.n_heads}
    return out


def time_stages(model: AudioLM, seconds: float, batch: int = 1, repeats: int = 1, log=print,
                transformers_only: bool = False) -> dict[str, dict]:
    """Tokens/s, ms/token and RTF of each stage generating ``seconds`` of audio from random ids
    (plus the codec and the tokenizers unless ``transformers_only``); one warm-up run each."""
    device, c = model.device, model.config
    gen = torch.Generator(device).manual_seed(0)
    frames = round(seconds * c.acoustic_rate)
    sem_frames = round(seconds * c.semantic_rate)
    empty = lambda levels: torch.zeros(batch, levels, 0, dtype=torch.long, device=device)  # noqa: E731
    stages = {}

    def stage(name, fn, tokens, module=None):
        fn()  # warm-up at full length
        wall = _best_time(fn, device, repeats)
        stages[name] = {"tokens": tokens, "wall_s": wall, "tokens_per_s": tokens * batch / wall,
                        "ms_per_token": 1000 * wall / tokens, "rtf": wall / seconds}
        if module is not None:
            t = module.config.transformer
            params = sum(p.numel() for p in module.parameters()) / 1e6
            stages[name]["size"] = f"d{t.d_model}×{t.n_layers}, {params:.1f} M"
        log(f"{name}: {tokens} tokens in {wall:.2f} s")

    sem = torch.randint(0, c.semantic_vocab, (batch, 1, sem_frames), generator=gen, device=device)
    coarse = torch.randint(0, c.codebook_size, (batch, c.num_coarse, frames), generator=gen, device=device)
    own = model.default_settings  # each stage sampled as the bundle samples it (the coarse stage's guidance)
    stage("semantic", lambda: model.semantic_stage.generate(None, empty(1), sem_frames, own.semantic, gen),
          sem_frames, model.semantic_stage)
    stage("coarse", lambda: model.coarse_stage.generate(sem, empty(c.num_coarse), frames, own.coarse, gen),
          frames * c.num_coarse, model.coarse_stage)
    if own.coarse.guidance != 1:
        stages["coarse"]["size"] += f", guidance {own.coarse.guidance:g}"
    fine_levels = c.num_quantizers - c.num_coarse
    stage("fine", lambda: model.fine_stage.generate(coarse, empty(fine_levels), frames, own.fine, gen),
          frames * fine_levels, model.fine_stage)
    stages["fine"]["size"] += f", {model.fine_stage.layout}"
    twin = autoregressive_fine_twin(model)
    if twin is not None:  # the paper's layout at the same size: the per-token comparison with the peer
        stage("fine, autoregressive", lambda: twin.generate(coarse, empty(fine_levels), frames, own.fine, gen),
              frames * fine_levels, twin)
        stages["fine, autoregressive"].update(size=stages["fine, autoregressive"]["size"] + ", random weights",
                                              peer_stage="fine")
    if not transformers_only:
        all_ids = torch.randint(0, c.codebook_size, (batch, c.num_quantizers, frames), generator=gen, device=device)
        stage("codec decode", lambda: model.codec.decode(all_ids), frames)
        wav = synthetic_voice(seconds, c.sample_rate)
        stage("tokenize (semantic + codec encode)", lambda: model.tokenize(wav), frames)
    return stages


def run_bench(model: AudioLM, seconds: float = 10.0, prompt_seconds: float = 3.0, batch: int = 1,
              repeats: int = 1, load_seconds: float | None = None, log=print) -> BenchReport:
    device, c = model.device, model.config
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    report = BenchReport(str(device), torch.get_num_threads(), batch, seconds, repeats, load_seconds)
    model.unconditional(0.5, batch)  # warm-up
    report.stages = time_stages(model, seconds, batch, repeats, log)
    wav = synthetic_voice(seconds, c.sample_rate)

    def mode(name, fn, audio_s):
        wall = _best_time(fn, device, repeats)
        report.modes[name] = {"wall_s": wall, "audio_s": audio_s, "rtf": wall / audio_s}
        log(f"{name}: {audio_s:g} s of audio in {wall:.2f} s")

    prompt = synthetic_voice(prompt_seconds, c.sample_rate, seed=1)
    mode("unconditional", lambda: model.unconditional(seconds, batch), seconds)
    mode("acoustic generation", lambda: model.acoustic_generation(wav, num_samples=batch), seconds)
    mode("acoustic generation + voice prompt", lambda: model.acoustic_generation(wav, prompt, num_samples=batch),
         seconds)
    mode("continuation", lambda: model.continuation(prompt, seconds, batch), seconds)
    short = seconds / 5  # marginal RTF: (t(seconds) - t(seconds / 5)) / (4/5 seconds)
    wall_short = _best_time(lambda: model.continuation(prompt, short, batch), device, repeats)
    long = report.modes["continuation"]["wall_s"]
    report.modes["continuation (marginal)"] = {"wall_s": long - wall_short, "audio_s": seconds - short,
                                               "rtf": (long - wall_short) / (seconds - short)}
    # streamed (the Space's continuation and unconditional tabs): time to first audio, best of the repeats
    streams = {f"continuation of a {prompt_seconds:g} s prompt": lambda: stream_continuation(model, prompt, seconds, batch),
               "unconditional": lambda: stream_unconditional(model, seconds, batch)}
    for name, make in streams.items():
        runs = [time_to_first_audio(make) for _ in range(repeats)]
        report.streamed[name] = {key: min(r[key] for r in runs) for key in runs[0]}
        log(f"streamed {name}: first audio after {report.streamed[name]['first_audio_s']:.2f} s")
    if device.type == "cuda":
        report.peak_memory_mb = torch.cuda.max_memory_allocated() / 2 ** 20
        report.peak_memory_kind = "CUDA allocated"
    else:
        report.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report.peak_memory_kind = "process RSS"
    return report


def autoregressive_fine_twin(model: AudioLM):
    """A randomly initialised fine stage in the paper's flattened layout, with the same transformer
    width, depth, heads and window as ``model``'s fine one; None if the fine stage is already autoregressive."""
    from .stages import StageSize, layout_class, stage_specs

    if model.fine_stage.layout == "autoregressive":
        return None
    fine = model.fine_stage.config
    t = fine.transformer
    cls = layout_class("autoregressive")
    config = cls.config_for(stage_specs(model.config)["fine"], StageSize(
        d_model=t.d_model, n_layers=t.n_layers, n_heads=t.n_heads, window_frames=fine.window_frames))
    config = replace(config, transformer=replace(t, causal=True, max_seq_len=config.transformer.max_seq_len))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return cls(config).to(model.device).eval()


def side_by_side(python: str, model: AudioLM, seconds: float, batch: int = 1, repeats: int = 1, log=print) -> dict:
    """Our stages and lucidrains' (``run_peer``), both timed at ``seconds`` of audio, one after the other."""
    log(f"ours and lucidrains' stages at {seconds:g} s ({python}) ...")
    ours = time_stages(model, seconds, batch, repeats, log, transformers_only=True)
    return {"seconds": seconds, "ours": ours, **run_peer(python, model, seconds, batch, repeats)}


def peer_interpreter(choice: str = "auto") -> tuple[str | None, str]:
    """The Python to run lucidrains' stages with, or None and why not.

    ``auto``: ``$AUDIOLM_PEER_PYTHON`` if set, else this interpreter when it can import
    audiolm_pytorch; ``off``: none; anything else is a path to an interpreter.
    """
    if choice == "off":
        return None, "turned off (--peer off)"
    if choice != "auto":
        return choice, ""
    if os.environ.get("AUDIOLM_PEER_PYTHON"):
        return os.environ["AUDIOLM_PEER_PYTHON"], ""
    if importlib.util.find_spec("audiolm_pytorch") is not None:
        return sys.executable, ""
    return None, ("audiolm-pytorch is not installed here; see the docstring of audiolm/peer_lucidrains.py "
                  "for its venv, then pass --peer PATH/TO/python")


def run_peer(python: str, model: AudioLM, seconds: float, batch: int = 1, repeats: int = 1,
             timeout: float = 3600) -> dict:
    """Time lucidrains' three stages at our stages' geometry; ``{"skipped": why}`` when that fails."""
    c = model.config
    cmd = [python, str(PEER_SCRIPT), "--geometry", json.dumps(stage_geometry(model)),
           "--semantic-tokens", str(round(seconds * c.semantic_rate)), "--frames", str(round(seconds * c.acoustic_rate)),
           "--codebook", str(c.codebook_size), "--num-quantizers", str(c.num_quantizers),
           "--num-coarse", str(c.num_coarse), "--semantic-vocab", str(c.semantic_vocab), "--batch", str(batch),
           "--threads", str(torch.get_num_threads()), "--repeats", str(repeats), "--device", str(model.device)]
    env = dict(os.environ, TQDM_DISABLE="1", HF_HUB_OFFLINE="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"skipped": f"peer_lucidrains.py exited with {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])
