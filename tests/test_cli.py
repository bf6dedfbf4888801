"""The CLI as scripts use it: subprocesses on a tiny random bundle."""
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
    proc = run("bench", "--bundle", bundle, "--seconds", 2, "--json", tmp_path / "b.json")
    assert proc.returncode == 0, proc.stderr
    for row in ("| coarse |", "| fine |", "| continuation |", "| acoustic generation |", "peak memory"):
        assert row in proc.stdout
    assert '"rtf"' in (tmp_path / "b.json").read_text()


def test_default_bundle_generates_from_the_repo_root(tmp_path):
    """The README's first command: no --bundle, the bundled checkpoints/speech."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "out.wav"
    proc = run("generate", "--mode", "unconditional", "--seconds", 1, "--seed", 0, "--out", out, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert len(soundfile.read(out)[0]) == 16000
