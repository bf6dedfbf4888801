import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.testing import synthetic_voice

# whole modules of end-to-end tests (a server, a browser, Hub subprocesses, the evaluation's judges);
# tests that train the tiny recipe are slow too. ``pytest -m "not slow"`` runs the rest.
SLOW_MODULES = {"test_app.py", "test_browser.py", "test_hub.py", "test_evaluation.py", "test_eval_judges.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or "tiny_recipe_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny random AudioLM (4 x 64 codes, Q' = 2, 32 semantic ids), parallel fine stage."""
    return random_audiolm(tiny_bundle_config(), "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_model_ar():
    """The same geometry with the paper's autoregressive fine stage."""
    return random_audiolm(tiny_bundle_config(fine_layout="autoregressive"), "tiny", seed=0)


@pytest.fixture
def voice():
    return synthetic_voice(2.0, 16000)


@pytest.fixture
def wav_file(tmp_path):
    path = tmp_path / "voice.wav"
    soundfile.write(path, synthetic_voice(2.0, 16000), 16000)
    return path


@pytest.fixture
def repo_script():
    """A loader of this repository's scripts as modules, by path from its root (``benchmarks/piano_sweep.py``):
    they are not part of the installed package."""
    def load(relative: str):
        path = Path(__file__).resolve().parents[1] / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def tiny_recipe_run(tmp_path_factory):
    """The whole speech recipe at tiny size (``train all --tiny``): work folder, corpus, bundle, command."""
    root = tmp_path_factory.mktemp("recipe")
    work, data, out = root / "work", root / "data", root / "bundle"
    cmd = [sys.executable, "-m", "audiolm", "train", "all", "--tiny", "--device", "cpu",
           "--work", str(work), "--data", str(data), "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return work, data, out, cmd


@pytest.fixture
def settings_without():
    """``load(folder, *keys)``: a bundle folder's ``GenerationSettings`` after its saved file loses ``keys`` (dotted
    for a stage's, ``"coarse.prefix_knn"``): what a file written before those settings existed loads as."""
    from audiolm.pipeline import GENERATION_CONFIG, GenerationSettings

    def load(folder: Path, *keys: str) -> GenerationSettings:
        path = Path(folder) / GENERATION_CONFIG
        saved = json.loads(path.read_text())
        for key in keys:
            *parents, name = key.split(".")
            owner = saved
            for parent in parents:
                owner = owner[parent]
            del owner[name]
        path.write_text(json.dumps(saved))
        return GenerationSettings.load(folder)
    return load
