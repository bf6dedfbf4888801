"""The Space as clients use it: app.py launched on loopback, called through gradio_client."""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audiolm.bench import synthetic_voice

from app_server import ROOT, launch
from fake_hub import FakeHub
from gradio_client import handle_file
from gradio_client.exceptions import AppError

EXAMPLE = ROOT / "examples" / "speech-heldout-48.wav"
CONTROLS = (0.6, 0.8, 0.6, 0, "1", 1)  # temperatures, top-k off, seed 1, one sample


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

    audio, files, _, info = client.predict("speech", 2.0, 0.6, 0.8, 0.6, 0, "", 3, api_name="/unconditional")
    assert len(read(audio)[0]) == 32000 and len(files) == 3
    assert "Seed: **" in info  # a random seed was drawn and shown


def test_piano_in_every_tab(client):
    """The piano bundle is offered in each mode, with its own examples."""
    import app

    piano_examples = [row for row in app.examples_for(["speech", "piano"]) if row[1] == "piano"]
    assert piano_examples and all(Path(path).name.startswith("piano-") for path, _ in piano_examples)
    example = piano_examples[0][0]
    samples = len(soundfile.read(example)[0]) // 640 * 640
    audio, _, _, info = client.predict(handle_file(example), "piano", 1.0, *CONTROLS, api_name="/continuation")
    assert len(read(audio)[0]) == samples + 16000 and "Seed: **1**" in info
    audio, *_ = client.predict(handle_file(example), None, "piano", *CONTROLS, api_name="/acoustic_generation")
    assert len(read(audio)[0]) == samples
    audio, *_ = client.predict("piano", 1.0, *CONTROLS, api_name="/unconditional")
    assert len(read(audio)[0]) == 16000


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


def test_bad_seed_is_refused(client):
    with pytest.raises(AppError, match="whole number"):
        client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, "abc", 1, api_name="/unconditional")


def test_long_and_high_rate_inputs_are_trimmed_and_resampled(client, tmp_path):
    ten_minutes = tmp_path / "long.wav"
    soundfile.write(ten_minutes, np.tile(synthetic_voice(1.0, 8000), 600), 8000)
    audio, _, _, info = client.predict(handle_file(str(ten_minutes)), None, "speech", *CONTROLS,
                                       api_name="/acoustic_generation")
    assert len(read(audio)[0]) == 30 * 16000 and "first 30 s" in info
    stereo = tmp_path / "stereo96k.wav"
    wav = synthetic_voice(1.0, 96000)
    soundfile.write(stereo, np.stack([wav, wav], 1), 96000)
    audio, _, _, info = client.predict(handle_file(str(stereo)), None, "speech", *CONTROLS,
                                       api_name="/acoustic_generation")
    assert len(read(audio)[0]) == 16000 and "converted from 96000 Hz, 2 channel(s)" in info


def test_four_concurrent_requests_complete(client):
    def call(seed):
        return client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, str(seed), 1, api_name="/unconditional")
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
