"""Predicted MOS from a predictor nobody here trained: DistillMOS (``distillmos``, Microsoft; its
weights ship inside the wheel, so it runs offline).

distillmos declares torchaudio as a dependency but its model never calls it: only its file-reading
command-line entry point does. torchaudio pins its own torch release, so it is left out
(``pip install --no-deps -r requirements-mos.txt``) and, while distillmos is imported, a stand-in
module takes its place that raises if anything in it is ever used.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import torch

INSTALL_HINT = "skipped: install distillmos (pip install --no-deps -r requirements-mos.txt)"


class _Unused(types.ModuleType):
    def __getattr__(self, name):
        raise RuntimeError(f"torchaudio.{name} was called: the MOS predictor is not meant to need torchaudio")


def _import_distillmos():
    stub = "torchaudio" not in sys.modules
    if stub:
        try:
            import torchaudio  # noqa: F401  (a real install is fine too)
            stub = False
        except ImportError:
            sys.modules["torchaudio"] = _Unused("torchaudio")
    try:
        import distillmos
    finally:
        if stub:
            del sys.modules["torchaudio"]
    return distillmos


class MOSPredictor:
    """``predict(wav) -> MOS`` (1..5) for 16 kHz mono float audio."""

    def __init__(self):
        distillmos = _import_distillmos()
        self.model = distillmos.ConvTransformerSQAModel(load_weights=False)
        from distillmos.sqa import DEFAULT_WEIGHTS_CHKPT
        state = torch.load(DEFAULT_WEIGHTS_CHKPT, map_location="cpu", weights_only=True)
        self.model.load_state_dict(state["model"])
        self.model.eval()

    @staticmethod
    def unavailable() -> str | None:
        try:
            _import_distillmos()
        except ImportError:
            return INSTALL_HINT
        return None

    @torch.no_grad()
    def predict(self, wav: np.ndarray) -> float:
        x = torch.from_numpy(np.asarray(wav, np.float32))[None]
        return float(self.model(x)[0])

    def mean(self, waves: list[np.ndarray]) -> float:
        return float(np.mean([self.predict(w) for w in waves]))
