"""The Space as clients use it: app.py launched on loopback, called through gradio_client."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audiolm.bench import synthetic_voice
from fake_hub import FakeHub

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "speech-us-male.wav"
CONTROLS = (0.6, 0.8, 0.6, 0, 1, 1)  # temperatures, top-k off, seed 1, one sample


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, **env):
    port = free_port()
    environ = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
               "NO_PROXY": "localhost,127.0.0.1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), **env}
    log = open(tmp_path / f"app-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=environ,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:  # the "Running on" line comes before the API answers
        try:
            urllib.request.urlopen(url + "gradio_api/info", timeout=2)
            return proc, Client(url, verbose=False)
        except OSError:
            assert proc.poll() is None, (tmp_path / f"app-{port}.log").read_text()
            time.sleep(0.5)
    proc.kill()
    raise AssertionError("app did not start")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    proc, client = launch(tmp_path_factory.mktemp("app"))
    yield client
    proc.terminate()
    proc.wait(timeout=20)


def read(path):
    wav, sr = soundfile.read(path)
    return wav, sr


def test_endpoints_with_an_example(client):
    prompt_samples = len(soundfile.read(EXAMPLE)[0]) // 640 * 640
    audio, files, picture, info = client.predict(handle_file(str(EXAMPLE)), "speech", 1.5, *CONTROLS,
                                                 api_name="/continuation")
    wav, sr = read(audio)
    assert sr == 16000 and len(wav) == prompt_samples + 24000
    assert len(files) == 1 and Path(picture).is_file() and "Seed: **1**" in info

    audio, *_ = client.predict(handle_file(str(EXAMPLE)), None, "speech", *CONTROLS, api_name="/acoustic_generation")
    assert len(read(audio)[0]) == len(soundfile.read(EXAMPLE)[0])
    audio, *_ = client.predict(handle_file(str(EXAMPLE)), handle_file(str(EXAMPLE)), "speech", *CONTROLS,
                               api_name="/acoustic_generation")
    assert len(read(audio)[0]) == len(soundfile.read(EXAMPLE)[0])

    audio, files, _, info = client.predict("speech", 2.0, 0.6, 0.8, 0.6, 0, None, 3, api_name="/unconditional")
    assert len(read(audio)[0]) == 32000 and len(files) == 3
    assert "Seed: **" in info  # a random seed was drawn and shown


def test_same_seed_same_audio(client):
    a = client.predict("speech", 1.0, *CONTROLS, api_name="/unconditional")[0]
    b = client.predict("speech", 1.0, *CONTROLS, api_name="/unconditional")[0]
    assert np.array_equal(read(a)[0], read(b)[0])


@pytest.mark.parametrize("name,make,message", [
    ("corrupt.wav", lambda p: p.write_bytes(b"RIFF....WAVE not really"), "Could not decode"),
    ("empty.wav", lambda p: p.write_bytes(b""), "empty"),
    ("short.wav", lambda p: soundfile.write(p, synthetic_voice(0.1, 16000), 16000), "at least 0.5 s"),
    ("silence.wav", lambda p: soundfile.write(p, np.zeros(16000), 16000), "silent"),
])
def test_bad_inputs_get_a_message_and_the_server_keeps_serving(client, tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(AppError, match=message) as err:
        client.predict(handle_file(str(path)), "speech", 1.0, *CONTROLS, api_name="/continuation")
    assert "Traceback" not in str(err.value)
    assert len(read(client.predict("speech", 1.0, *CONTROLS, api_name="/unconditional")[0])[0]) == 16000


def test_long_and_high_rate_inputs_are_trimmed_and_resampled(client, tmp_path):
    ten_minutes = tmp_path / "long.wav"
    soundfile.write(ten_minutes, np.tile(synthetic_voice(1.0, 8000), 600), 8000)
    audio, _, _, info = client.predict(handle_file(str(ten_minutes)), None, "speech", *CONTROLS,
                                       api_name="/acoustic_generation")
    assert len(read(audio)[0]) == 30 * 16000 and "first 30 s" in info
    stereo = tmp_path / "stereo96k.wav"
    wav = synthetic_voice(1.0, 96000)
    soundfile.write(stereo, np.stack([wav, wav], 1), 96000)
    audio, *_ = client.predict(handle_file(str(stereo)), None, "speech", *CONTROLS, api_name="/acoustic_generation")
    assert len(read(audio)[0]) == 16000


def test_four_concurrent_requests_complete(client):
    def call(seed):
        return client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, seed, 1, api_name="/unconditional")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(4)))
    assert [len(read(r[0])[0]) for r in results] == [16000] * 4
    assert len({read(r[0])[0].tobytes() for r in results}) == 4  # seeded per request


def test_bundle_from_a_fake_hub_when_no_local_checkpoint(tmp_path):
    with FakeHub({"team/tiny-speech": {"main": ROOT / "checkpoints" / "speech"}}) as hub:
        proc, client = launch(tmp_path, HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf"),
                              AUDIOLM_BUNDLE="team/tiny-speech")
        try:
            audio, *_ = client.predict("tiny-speech", 1.0, *CONTROLS, api_name="/unconditional")
            assert len(read(audio)[0]) == 16000
            assert hub.count(contains="resolve") > 0  # the weights came through the hub
        finally:
            proc.terminate()
            proc.wait(timeout=20)
