"""The CLI as scripts use it: subprocesses on a tiny random bundle."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
from safetensors.torch import load_file

from audiolm.testing import synthetic_voice


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
    assert proc.stderr.startswith("error: --input: Could not decode") and "Traceback" not in proc.stderr
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


def test_peer_stubs_raise_when_called(repo_script):
    peer = repo_script("audiolm/peer_lucidrains.py")  # defines functions only: no stubs installed on import
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


def one_error_line(proc, code, start):
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(start) and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, \
        proc.stderr


@pytest.mark.parametrize("args,start", [
    (["--seconds", -5], "error: seconds must be between 0.04 (one frame) and 30, got -5.0"),
    (["--temperature", "nan", "nan", "nan"], "error: temperature must be a finite number, got nan"),
    (["--top-p", "inf"], "error: top_p must be a finite number, got inf"),
    (["--num-samples", 0], "error: num_samples must be a whole number >= 1, got 0"),
    (["--mode", "continuation"], "error: --mode continuation needs --input"),
    (["--guidance", "-1"], "error: guidance must be >= 0 (1 = off), got -1.0"),
    (["--voice-prior", "-2"], "error: voice_prior must be a finite number >= 0 (0 = off), got -2.0"),
    (["--prompt-adaptation", "-3"], "error: semantic_adaptation_steps must be a whole number from 0 (off) to 200, "
                                    "got -3"),
    (["--semantic-plans", "0"], "error: semantic_candidates must be a whole number from 1 to 64, got 0"),
    (["--guidance", "2"], "error: the coarse stage (autoregressive layout) cannot be guided"),  # not trained for it
])
def test_bad_settings_are_one_error_line_and_exit_2(bundle, tmp_path, args, start):
    argv = ["generate", "--mode", "unconditional", "--out", tmp_path / "o.wav", "--bundle", bundle, *args]
    one_error_line(run(*argv), 2, start)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("seed", ["18446744073709551616", "4294967296", "-1", "1_000", "٣", "9" * 5000])
def test_seed_range_is_enforced_by_the_parser(bundle, tmp_path, seed):
    proc = run("generate", "--mode", "unconditional", "--out", tmp_path / "o.wav", "--bundle", bundle, "--seed", seed)
    assert proc.returncode == 2 and "--seed: Seed must be a whole number from 0 to 4294967295" in proc.stderr
    assert "Overflow" not in proc.stderr and len(proc.stderr) < 1000


@pytest.mark.parametrize("levels", [0, 5, -1])
def test_resynthesize_levels_out_of_range(bundle, prompt, tmp_path, levels):
    """--levels 0 used to mean 'all 4 levels' silently."""
    proc = run("resynthesize", "--input", prompt, "--out", tmp_path / "r.wav", "--levels", levels, "--bundle", bundle)
    one_error_line(proc, 2, f"error: --levels must be between 1 and 4 (this bundle's codec levels), got {levels}")


@pytest.mark.parametrize("out,message", [
    (".", " is a folder; give a file name such as "),
    ("noext", "Cannot write 'noext': give the output one of the suffixes .wav, .flac, .ogg, .mp3, .aiff"),
    ("out.xyz", "Cannot write 'out.xyz'"),
    ("file.wav/out.wav", "file.wav is not a writable folder"),
])
def test_bad_out_is_refused_before_generating(bundle, tmp_path, out, message):
    """Checked first: no 30 s generation is thrown away (no progress bar was shown, nothing written)."""
    (tmp_path / "file.wav").write_bytes(b"x")
    proc = run("generate", "--mode", "unconditional", "--seconds", 30, "--out", tmp_path / out, "--bundle", bundle)
    one_error_line(proc, 2, "error: --out: ")
    assert message in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.wav"]


@pytest.mark.parametrize("suffix,subtype", [(".mp3", "MPEG_LAYER_III"), (".flac", "PCM_16"), (".ogg", "VORBIS")])
def test_other_output_formats(bundle, tmp_path, suffix, subtype):
    out = tmp_path / f"u{suffix}"
    proc = run("generate", "--mode", "unconditional", "--seconds", 1, "--out", out, "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    assert soundfile.info(out).subtype == subtype and abs(soundfile.info(out).frames - 16000) < 2000


def test_each_sample_can_be_regenerated_alone_with_its_seed(bundle, prompt, tmp_path):
    proc = run("generate", "--mode", "continuation", "--input", prompt, "--seconds", 0.5, "--seed", 3,
               "--num-samples", 3, "--out", tmp_path / "c.wav", "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    seeds = [int(line.rsplit("seed ", 1)[1].rstrip(")")) for line in proc.stdout.splitlines()]
    assert seeds[0] == 3 and len(set(seeds)) == 3
    proc = run("generate", "--mode", "continuation", "--input", prompt, "--seconds", 0.5, "--seed", seeds[2],
               "--out", tmp_path / "alone.wav", "--bundle", bundle)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(soundfile.read(tmp_path / "alone.wav")[0], soundfile.read(tmp_path / "c-2.wav")[0])


def test_the_faulty_input_is_named(bundle, prompt, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000), 16000)
    proc = run("generate", "--mode", "acoustic", "--input", prompt, "--voice", silent, "--out", tmp_path / "o.wav",
               "--bundle", bundle)
    one_error_line(proc, 1, "error: --voice: The audio is silent")
    proc = run("generate", "--mode", "acoustic", "--input", silent, "--voice", prompt, "--out", tmp_path / "o.wav",
               "--bundle", bundle)
    one_error_line(proc, 1, "error: --input: The audio is silent")


def test_broken_bundle_is_one_line_naming_the_file(bundle, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    weights = broken / "fine" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    proc = run("generate", "--mode", "unconditional", "--out", tmp_path / "o.wav", "--bundle", broken)
    one_error_line(proc, 1, f"error: {weights} is not a readable safetensors file")
    assert "Download the bundle again" in proc.stderr
