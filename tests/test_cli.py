"""The CLI as scripts use it: subprocesses on a tiny random bundle."""
import json
import subprocess
import sys

import pytest
import soundfile
from safetensors.torch import load_file

from audiolm.bench import synthetic_voice


def run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "audiolm", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
    return proc


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "bundle"
    proc = run("random-bundle", "--out", folder, "--size", "tiny")
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture(scope="module")
def prompt(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "prompt.wav"
    soundfile.write(path, synthetic_voice(1.6, 22050), 22050)  # any rate: resampled to 16 kHz
    return path


def test_generate_three_modes(bundle, prompt, tmp_path):
    out = tmp_path / "u.wav"
    assert run("generate", "--mode", "unconditional", "--seconds", 1.5, "--seed", 1, "--out", out,
               "--bundle", bundle).returncode == 0
    wav, sr = soundfile.read(out)
    assert sr == 16000 and len(wav) == 24000

    out = tmp_path / "a.wav"
    proc = run("generate", "--mode", "acoustic", "--input", prompt, "--voice", prompt, "--seed", 1, "--out", out,
               "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    assert len(soundfile.read(out)[0]) == round(1.6 * 16000)

    out = tmp_path / "c.wav"
    proc = run("generate", "--mode", "continuation", "--input", prompt, "--seconds", 1, "--seed", 1, "--out", out,
               "--bundle", bundle, "--num-samples", 2)
    assert proc.returncode == 0, proc.stderr
    for i in range(2):  # prompt (cut to 40 ms frames) + 1 s
        assert len(soundfile.read(tmp_path / f"c-{i}.wav")[0]) == (round(1.6 * 16000) // 640) * 640 + 16000


def test_resynthesize_and_tokenize(bundle, prompt, tmp_path):
    proc = run("resynthesize", "--input", prompt, "--out", tmp_path / "r.wav", "--levels", 2, "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    assert len(soundfile.read(tmp_path / "r.wav")[0]) == round(1.6 * 16000)
    proc = run("tokenize", "--input", prompt, "--out", tmp_path / "ids.safetensors", "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    ids = load_file(tmp_path / "ids.safetensors")
    assert ids["semantic"].shape == (40,) and ids["acoustic"].shape == (4, 80)


def test_bad_input_is_a_one_line_error(bundle, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    proc = run("generate", "--mode", "acoustic", "--input", bad, "--out", tmp_path / "o.wav", "--bundle", bundle)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: Could not decode") and "Traceback" not in proc.stderr
    proc = run("generate", "--mode", "unconditional", "--out", tmp_path / "o.wav", "--bundle", tmp_path / "nowhere")
    assert proc.returncode == 1 and "error:" in proc.stderr


def test_bench_prints_real_time_factors(bundle, tmp_path):
    proc = run("bench", "--bundle", bundle, "--seconds", 2, "--peer", "off", "--json", tmp_path / "b.json")
    assert proc.returncode == 0, proc.stderr
    for row in ("| coarse |", "| fine |", "| continuation |", "| acoustic generation |", "peak memory", "model load"):
        assert row in proc.stdout
    out = json.loads((tmp_path / "b.json").read_text())
    assert out["context"]["threads"] == 2 and out["context"]["machine"]
    (report,) = out["runs"]  # no CUDA here: one CPU run at batch 1
    assert (report["device"], report["batch"]) == ("cpu", 1) and report["load_seconds"] > 0
    assert set(report["stages"]) == {"semantic", "coarse", "fine", "fine, autoregressive", "codec decode",
                                     "tokenize (semantic + codec encode)"}  # the tiny bundle's fine is parallel
    assert report["stages"]["fine, autoregressive"]["tokens"] == report["stages"]["fine"]["tokens"]
    assert report["stages"]["coarse"]["tokens"] == 2 * 50 * 2  # 2 s x 50 Hz x Q'=2 (tiny bundle)
    assert all(s["tokens_per_s"] > 0 and s["rtf"] > 0 for s in report["stages"].values())
    assert report["peer"] == {"skipped": "turned off (--peer off)"}


def test_bench_shows_the_peer_side_by_side(tmp_path):
    """run_peer's plumbing, with a stand-in interpreter that prints what peer_lucidrains.py prints."""
    from audiolm.bench import markdown, run_peer
    from audiolm.factory import random_audiolm, tiny_bundle_config

    model = random_audiolm(tiny_bundle_config(), "tiny")
    fake = tmp_path / "python"
    stage = {"dim": 64, "depth": 2, "heads": 2, "tokens": 200, "params_m": 0.5, "wall_s": 2.0,
             "tokens_per_s": 100.0, "ms_per_token": 10.0}
    printed = {"package": "audiolm-pytorch 0.0", "torch": "x", "threads": 2, "batch": 1, "device": "cpu",
               "peak_memory_mb": 1.0, "stages": {"coarse": stage}}
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\necho '{json.dumps(printed)}'\n")
    fake.chmod(0o755)
    peer = run_peer(str(fake), model, seconds=2.0)
    assert peer == printed
    argv = (tmp_path / "argv").read_text()
    assert "peer_lucidrains.py" in argv and "--frames 100" in argv and "--semantic-tokens 50" in argv
    ours = {"coarse": {"size": "d64×2", "tokens": 200, "wall_s": 1.0, "tokens_per_s": 200.0, "ms_per_token": 5.0,
                       "rtf": 0.5}}
    report = {"device": "cpu", "threads": 2, "batch": 1, "seconds": 10.0, "repeats": 1, "load_seconds": None,
              "stages": ours, "modes": {}, "peak_memory_mb": 1.0, "peak_memory_kind": "process RSS",
              "peer": {"seconds": 2.0, "ours": ours, **peer}}
    text = markdown(report)
    assert "| coarse | d64×2 | 200 | 5.00 | 0.500 | d64×2, 0.5 M | 100 | 10.00 | 1.000 | 0.5 |" in text
    assert "2 s of audio, batch 1" in text
    fake.write_text("#!/bin/sh\necho 'cannot import audiolm_pytorch' >&2\nexit 2\n")
    assert run_peer(str(fake), model, seconds=2.0) == {
        "skipped": "peer_lucidrains.py exited with 2: cannot import audiolm_pytorch"}


def test_peer_stubs_raise_when_called():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "audiolm" / "peer_lucidrains.py"
    spec = importlib.util.spec_from_file_location("peer", path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)  # defines functions only: no stubs installed on import
    saved = {name: sys.modules.get(name) for name in ("torchaudio", "fairseq", "wandb")}
    try:
        for name in saved:
            sys.modules.pop(name, None)
        peer.install_stubs()
        import torchaudio
        with pytest.raises(RuntimeError, match="benchmark stub"):
            torchaudio.transforms.MelSpectrogram(sample_rate=16000)
    finally:
        for name, module in saved.items():
            sys.modules.pop(name, None)
            sys.modules.pop(f"{name}.functional", None)
            sys.modules.pop(f"{name}.transforms", None)
            sys.modules.pop(f"{name}.checkpoint_utils", None)
            if module is not None:
                sys.modules[name] = module


def test_default_bundle_generates_from_the_repo_root(tmp_path):
    """The README's first command: no --bundle, the bundled checkpoints/speech."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "out.wav"
    proc = run("generate", "--mode", "unconditional", "--seconds", 1, "--seed", 0, "--out", out, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert len(soundfile.read(out)[0]) == 16000


def test_piano_bundle_continues_a_piano_example(tmp_path):
    """``--bundle checkpoints/piano`` with a held-out piano prompt from examples/."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    prompt = sorted((root / "examples").glob("piano-*.wav"))[0]
    out = tmp_path / "piano.wav"
    proc = run("generate", "--bundle", "checkpoints/piano", "--mode", "continuation", "--input", prompt,
               "--seconds", 2, "--seed", 0, "--out", out, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert len(soundfile.read(out)[0]) == len(soundfile.read(prompt)[0]) // 640 * 640 + 32000
