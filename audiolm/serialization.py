"""Dataclass configs as JSON beside safetensors weights (never pickles)."""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .errors import BundleError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


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
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def save_module(module: torch.nn.Module, config, folder: str | Path, type_name: str,
                dtype: torch.dtype | None = None) -> Path:
    """Write ``config.json`` (with ``type``) and ``model.safetensors`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_NAME).write_text(json.dumps({"type": type_name, **config_to_dict(config)}, indent=2))
    state = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        state[name] = tensor.contiguous()
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "type": type_name})
    return folder


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise BundleError(f"Missing {path}. A bundle component needs config.json and model.safetensors.")
    return json.loads(path.read_text())


def load_weights(module: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """Load ``model.safetensors`` into ``module`` (cast to the module's dtype), strictly."""
    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise BundleError(f"Missing weights {path}.")
    state = load_file(str(path))
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BundleError(f"Weights in {path} do not match the config: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}.")
    return module
