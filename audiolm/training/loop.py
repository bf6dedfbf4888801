"""One resumable training loop for every component.

- AdamW with linear warm-up and cosine decay, gradient clipping; one optimizer per named part
  (``parts``: a codec and its discriminator, say), the step function updating the others with
  ``Trainer.update``;
- CUDA when present, CPU otherwise; bfloat16 autocast where the device multiplies bfloat16 in hardware
  (``precision``);
- a tqdm bar with the running losses, and ``log.jsonl`` in the run folder;
- checkpoints as safetensors (model + optimizer moments) plus ``state.json``; a run started
  again in the same folder resumes from its last checkpoint;
- at the end (and at every checkpoint) the model is exported with its ``save_pretrained``
  into ``<run>/model`` (dataclass config + weights), the shape bundles are assembled from.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

STATE_WEIGHTS, STATE_JSON = "state.safetensors", "state.json"


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    save_every: int = 250
    seed: int = 0
    device: str = "auto"  # auto: cuda when present
    threads: int = 0  # CPU threads; 0 keeps torch's default
    # a component folder (e.g. a shipped bundle's ``codec``) whose weights start a new run (a warm start);
    # tensors whose shape changed are copied where they overlap. Ignored when the run resumes.
    init_from: str = ""
    # matrix products under bfloat16 autocast (weights, optimizer and loss stay float32). auto: where the device
    # computes bfloat16 in hardware (``native_bfloat16``). On this project's 2-core Xeon (AMX) a step of the
    # transformer stages takes 0.51x the float32 time (benchmarks/train_precision.py); a 600-step coarse run from
    # scratch 0.70x, to the same held-out CE (benchmarks/results/piano-mixed-progress.json)
    precision: str = "auto"  # auto | bfloat16 | float32

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def uses_bfloat16(self, device: torch.device) -> bool:
        return self.precision == "bfloat16" or (self.precision == "auto" and native_bfloat16(device))


PRECISIONS = ("auto", "bfloat16", "float32")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: CUDA, or a CPU with AVX512-BF16 or AMX.
    Elsewhere torch emulates bfloat16 on the CPU, slower than float32."""
    if device.type == "cuda":
        return True
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's own probes (private)
    return device.type == "cpu" and any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def lr_at(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    floor = config.min_lr_ratio
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


LossFn = Callable[[int, torch.Generator], tuple[torch.Tensor, dict[str, float]]]


@contextmanager
def seeded(seed: int):
    """Run a block with torch's global generator seeded (initialisers and data-dependent inits draw from it),
    and the caller's generator state restored after it."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield


def adamw(module: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and kernels only."""
    decay = [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in module.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))


class Trainer:
    """Runs ``loss_fn(step, generator) -> (loss, metrics)`` for ``config.steps`` steps.

    ``parts`` names the submodules that get an optimizer each (default: the whole model, one
    optimizer); the loss ``loss_fn`` returns updates the first part, and ``loss_fn`` updates the
    others itself with ``update(loss, name)`` (a discriminator's step before the generator's)."""

    def __init__(self, model: torch.nn.Module, run_dir: str | Path, config: TrainConfig,
                 export: Callable[[Path], None], description: str = "train",
                 parts: dict[str, torch.nn.Module] | None = None):
        self.model, self.config, self.export, self.description = model, config, export, description
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.device = config.resolved_device()
        self.bfloat16 = config.uses_bfloat16(self.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model.to(self.device)
        self.parts = parts or {"model": model}
        self.optimizers = {name: adamw(part, config) for name, part in self.parts.items()}
        self.step = 0
        self.elapsed = 0.0  # training seconds over every resumed segment
        self._started: float | None = None  # wall clock of the running segment's start
        self.generator = torch.Generator().manual_seed(config.seed)
        self._resume()
        if self.step == 0 and config.init_from:
            warm_start(self.model, config.init_from)

    # ----- checkpoints -----
    def _params(self):
        """(optimizer, parameter) pairs, numbered alike in every checkpoint."""
        return [(opt, p) for opt in self.optimizers.values() for group in opt.param_groups for p in group["params"]]

    def update(self, loss: torch.Tensor, part: str | None = None) -> torch.Tensor:
        """Backward ``loss`` and step ``part``'s optimizer (the first part's by default); the gradient norm."""
        part = part or next(iter(self.parts))
        optimizer = self.optimizers[part]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.parts[part].parameters(), self.config.grad_clip)
        optimizer.step()
        return norm

    def _training_state(self) -> dict[str, torch.Tensor]:
        """Parameters and *every* buffer, persistent or not (e.g. the codec's EMA statistics)."""
        return {**dict(self.model.named_buffers()), **self.model.state_dict()}

    def save(self) -> None:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self._training_state().items()}
        for i, (optimizer, p) in enumerate(self._params()):
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value):
                    tensors[f"optim.{i}.{key}"] = value.detach().cpu().reshape(value.shape).contiguous()
        tmp = self.run_dir / (STATE_WEIGHTS + ".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.run_dir / STATE_WEIGHTS)  # atomic: an interrupted save never corrupts the last one
        state = {"step": self.step, "elapsed": round(self._elapsed(), 1),
                 "generator": self.generator.get_state().tolist(), "config": asdict(self.config),
                 "precision": "bfloat16" if self.bfloat16 else "float32"}
        (self.run_dir / STATE_JSON).write_text(json.dumps(state))
        self.export(self.run_dir / "model")

    def _elapsed(self) -> float:
        return self.elapsed + (time.time() - self._started if self._started else 0.0)

    def _resume(self) -> None:
        path = self.run_dir / STATE_WEIGHTS
        if not path.is_file():
            return
        tensors = load_file(str(path))
        saved = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        persistent = self.model.state_dict().keys()
        self.model.load_state_dict({k: v for k, v in saved.items() if k in persistent})
        buffers = dict(self.model.named_buffers())
        for name, value in saved.items():
            if name not in persistent and name in buffers:
                buffers[name].copy_(value)
        for i, (optimizer, p) in enumerate(self._params()):
            state = {k.split(".", 2)[2]: v.to(self.device) for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
            if state:
                state["step"] = state["step"].cpu()
                optimizer.state[p] = state
        meta = json.loads((self.run_dir / STATE_JSON).read_text())
        self.step = meta["step"]
        self.elapsed = meta.get("elapsed", 0.0)
        self.generator.set_state(torch.tensor(meta["generator"], dtype=torch.uint8))

    # ----- the loop -----
    def run(self, loss_fn: LossFn) -> dict[str, float]:
        c = self.config
        self.model.train()
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16)
        running: dict[str, float] = {}
        log = open(self.run_dir / "log.jsonl", "a")
        bar = tqdm(total=c.steps, initial=self.step, desc=self.description, dynamic_ncols=True)
        self._started = time.time()
        while self.step < c.steps:
            for optimizer in self.optimizers.values():
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(c, self.step)
            with autocast:
                loss, metrics = loss_fn(self.step, self.generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.description}: loss is {loss.item()} at step {self.step}; "
                                         "lower the learning rate or resume from the last checkpoint")
            norm = self.update(loss)
            self.step += 1
            metrics = {"loss": loss.item(), **metrics, "grad_norm": norm.item()}
            running = {k: 0.95 * running.get(k, v) + 0.05 * v for k, v in metrics.items()}
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in running.items() if k != "grad_norm"})
            if self.step % 10 == 0:
                log.write(json.dumps({"step": self.step, "lr": lr_at(c, self.step - 1),
                                      "seconds": round(self._elapsed(), 1), **metrics}) + "\n")
                log.flush()
            if self.step % c.save_every == 0 or self.step == c.steps:
                self.save()
        bar.close()
        log.close()
        self.elapsed, self._started = self._elapsed(), None
        self.model.eval()
        self.export(self.run_dir / "model")  # also when resumed with nothing left: keeps the export current
        return running


@torch.no_grad()
def warm_start(model: torch.nn.Module, folder: str | Path) -> dict[str, str]:
    """Load ``folder``'s weights (a bundle component, any stored dtype) into ``model``: equal shapes whole,
    changed shapes where they overlap (a longer position table keeps the learned start, a new window's
    rows start from the old ones; a module's ``fit_saved`` reshapes its saved weights first, as grouped-query attention
    pools the saved key/value heads). Returns ``{name: "whole" | "overlap"}``; names only one side has are skipped,
    except that blocks the saved model lacks start as identities (``start_as_identity``: a deeper stage
    warm-started from a shallower one starts as it)."""
    from ..serialization import WEIGHTS_NAME, decode_state, read_weights
    saved = decode_state(read_weights(Path(folder) / WEIGHTS_NAME))
    for prefix, module in model.named_modules():  # saved weights a module reshapes to fit (grouped-query attention)
        if hasattr(module, "fit_saved"):
            for name in [n for n in saved if n.startswith(prefix + ".")]:
                saved[name] = module.fit_saved(name[len(prefix) + 1:], saved[name])
    own = model.state_dict()
    loaded = {}
    for name, value in saved.items():
        if name not in own:
            continue
        target = own[name]
        if value.shape == target.shape:
            target.copy_(value.to(target.dtype))
            loaded[name] = "whole"
        elif value.dim() == target.dim():
            region = tuple(slice(0, min(a, b)) for a, b in zip(value.shape, target.shape))
            target[region] = value[region].to(target.dtype)
            loaded[name] = "overlap"
    model.load_state_dict(own)  # through load_state_dict: modules' load hooks run (the codebooks' EMA)
    if not loaded:
        raise ValueError(f"warm start: no weights of {folder} fit the model")
    for prefix, module in model.named_modules():
        if hasattr(module, "start_as_identity") and not any(name.startswith(prefix + ".") for name in saved):
            module.start_as_identity()
    if hasattr(model, "warm_started"):  # rows the saved model lacks, started from its own (a stage's style classes)
        model.warm_started(loaded)
    return loaded


def training_seconds(run_dir: str | Path) -> float:
    """Training time of a run from its log. ``seconds`` counts across resumes, from the checkpoint's clock: a
    resume after steps past the last checkpoint goes back in time, and those lost steps' time is added (they
    were trained twice). Older logs restart their clock near 0 on every resume."""
    path = Path(run_dir) / "log.jsonl"
    if not path.is_file():
        return 0.0
    total, last = 0.0, 0.0
    for line in open(path):
        seconds = json.loads(line)["seconds"]
        if seconds < last:
            total += last if seconds < last / 2 else last - seconds  # an older log's restart, or lost steps
        last = seconds
    return total + last
