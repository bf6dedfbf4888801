"""Dataclass configs as JSON beside safetensors weights (never pickles)."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import BundleError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INT8_SCALE = ".int8_scale"  # suffix of the per-row scales of an int8-stored tensor
INT8_MIN_NUMEL = 1024  # smaller tensors (norms, biases) stay float16


def encode_state(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """Tensors as stored: cast to ``dtype``, or for ``torch.int8`` symmetric per-row int8 with a
    float16 scale per row (``name + INT8_SCALE``) for matrices and convolution kernels, float16
    for the rest. int8 halves a float16 file; ``decode_state`` undoes it on load."""
    out = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        if dtype is torch.int8 and tensor.is_floating_point() and tensor.dim() >= 2 \
                and tensor.numel() >= INT8_MIN_NUMEL:
            rows = tensor.float().reshape(tensor.shape[0], -1)
            scale = (rows.abs().amax(1) / 127).clamp(min=1e-8).half()
            out[name] = (rows / scale.float()[:, None]).round().clamp(-127, 127).to(torch.int8).reshape(tensor.shape)
            out[name + INT8_SCALE] = scale
        elif dtype is not None and tensor.is_floating_point():
            out[name] = tensor.to(torch.float16 if dtype is torch.int8 else dtype)
        else:
            out[name] = tensor
    return {k: v.contiguous() for k, v in out.items()}


def decode_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored tensors back to floating point (int8 ones times their row scales)."""
    out = {}
    for name, tensor in state.items():
        if name.endswith(INT8_SCALE):
            continue
        scale = state.get(name + INT8_SCALE)
        if scale is not None:
            shape = (-1,) + (1,) * (tensor.dim() - 1)
            tensor = tensor.float() * scale.float().reshape(shape)
        out[name] = tensor
    return out


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(cls, data: dict):
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclass fields."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names - {"type"}
    if unknown:
        raise BundleError(f"{cls.__name__} got unknown config keys {sorted(unknown)}; "
                          "the bundle was written by a newer version of audiolm?")
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            continue
        hint = optional_of(hints[key])
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def optional_of(hint):
    """``X`` for a hint ``X | None`` (or ``Optional[X]``); the hint itself otherwise."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return next(a for a in args if a is not type(None))
    return hint


def save_module(module: torch.nn.Module, config, folder: str | Path, type_name: str,
                dtype: torch.dtype | None = None) -> Path:
    """Write ``config.json`` (with ``type``) and ``model.safetensors`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(json.dumps({"type": type_name, **config_to_dict(config)}, indent=2))
    save_file(encode_state(module.state_dict(), dtype), str(folder / WEIGHTS_NAME),
              metadata={"format": "pt", "type": type_name})
    return folder


REDOWNLOAD = "Download the bundle again (or re-save this component with save_pretrained)."


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise BundleError(f"Missing {path}. A bundle component needs config.json and model.safetensors.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}). {REDOWNLOAD}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object, not {type(data).__name__}. {REDOWNLOAD}")
    return data


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or a ``BundleError`` naming it (truncated, corrupt, missing)."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"Missing weights {path}. {REDOWNLOAD}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path} is not a readable safetensors file ({exc}): it is truncated or corrupt. "
                          f"{REDOWNLOAD}") from exc


def load_weights(module: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Load ``model.safetensors`` into ``module`` (cast to the module's dtype), strictly."""
    path = Path(folder) / WEIGHTS_NAME
    state = decode_state(read_weights(path))
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    wrong = [f"{k} is {tuple(v.shape)} in the file but {tuple(own[k].shape)} in the model"
             for k, v in state.items() if k in own and v.shape != own[k].shape]
    if wrong:
        raise BundleError(f"Weights in {path} do not fit the model {Path(folder) / CONFIG_NAME} describes: "
                          f"{'; '.join(wrong[:3])}. The two files come from different models: {REDOWNLOAD}")
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(f"Weights in {path} do not match the config: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}. {REDOWNLOAD}")
    return module
