"""The Space as clients use it: app.py launched on loopback, called through gradio_client."""
import json
import os
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
from audiolm.pipeline import GenerationSettings

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


def test_a_quiet_upload_is_heard_at_the_models_level_and_returned_at_its_own(client, tmp_path):
    quiet = tmp_path / "quiet.wav"
    wav, sr = read(EXAMPLE)
    soundfile.write(quiet, wav[:sr] * 0.01, sr)  # 40 dB down: far below any training utterance
    audio, _, _, info = client.predict(handle_file(str(quiet)), None, "speech", *CONTROLS,
                                       api_name="/acoustic_generation")
    assert "Input audio: quieter than this model's training audio" in info
    assert np.abs(read(audio)[0]).max() < 0.05  # at the upload's level (its peak: 0.006), not the model's
    _, _, _, info = client.predict(handle_file(str(EXAMPLE)), None, "speech", *CONTROLS,
                                   api_name="/acoustic_generation")
    assert "training audio" not in info


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
                              AUDIOLM_BUNDLE="team/tiny-speech", HF_HUB_ETAG_TIMEOUT="60",
                              HF_HUB_DOWNLOAD_TIMEOUT="60")  # the bundle loads at start-up, maybe under load
        try:
            audio, *_ = client.predict("tiny-speech", 1.0, *CONTROLS, api_name="/unconditional")
            assert len(read(audio)[0]) == 16000
            assert hub.count(contains="resolve") > 0  # the weights came through the hub
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def raw_call(client, api: str, data: list) -> dict:
    """A raw API call as any HTTP client can make it (NaN included: Python's json writes it): the final event."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{client.src}gradio_api/call/{api}", data=body,
                                     headers={"Content-Type": "application/json"})
    event_id = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(f"{client.src}gradio_api/call/{api}/{event_id}", timeout=300).read().decode()
    kind, payload = [line.split(": ", 1)[1] for line in stream.strip().splitlines()[-2:]]
    return {"event": kind, "data": json.loads(payload)}


U = ["speech", 1.0, 0.6, 0.8, 0.6, 0, "1", 1]  # a good /unconditional call
A = [None, None, "speech", 0.6, 0.8, 0.6, 0, "1", 1]  # /acoustic_generation with no file


@pytest.mark.parametrize("api,data,message", [
    ("unconditional", ["speech", "abc", *U[2:]], "Seconds of new audio must be a number from 1 to 30, got 'abc'"),
    ("unconditional", ["speech", float("nan"), *U[2:]], "Seconds of new audio must be a number from 1 to 30, got nan"),
    ("unconditional", [*U[:2], float("nan"), *U[3:]], "Semantic temperature must be a number from 0 to 1.5, got nan"),
    ("unconditional", [*U[:4], float("inf"), *U[5:]], "Fine temperature must be a number"),
    ("unconditional", [["speech"], *U[1:]], "Unknown model ['speech']; choose one of speech"),
    ("unconditional", [*U[:7], 1.5], "Number of samples must be a whole number from 1 to 4, got 1.5"),
    ("unconditional", [*U[:5], 2.5, *U[6:]], "Top-k must be a whole number"),
    ("unconditional", U[:1], "didn't receive enough input values (needed: 8, got: 1)"),
    ("acoustic_generation", A, "No input audio given"),
    ("acoustic_generation", ["not a file", *A[1:]], "validation error for FileData"),
])
def test_every_bad_raw_argument_gets_a_message(client, api, data, message):
    """Not {"error": null}, not "Generation failed (TypeError)"."""
    answer = raw_call(client, api, data)
    assert answer["event"] == "error" and message in (answer["data"]["error"] or ""), answer


def test_seed_range_is_stated_and_enforced(client):
    for seed in ("1_000", "٣", "-1", "4294967296", "9" * 5000):
        with pytest.raises(AppError, match="Seed must be a whole number from 0 to 4294967295") as err:
            client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, seed, 1, api_name="/unconditional")
        assert len(str(err.value)) < 200  # a 5,000-digit seed is not echoed back whole
    page = urllib.request.urlopen(f"{client.src}config", timeout=30).read().decode()
    assert "a whole number from 0 to 4294967295" in page


def test_view_api_names_outputs_and_marks_optional_inputs(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/unconditional", "/acoustic_generation", "/continuation"):
        assert [r["label"] for r in api[name]["returns"]] == ["Audio", "Files", "Spectrogram", "Info"]
    required = {p["parameter_name"]: not p["parameter_has_default"] for p in api["/acoustic_generation"]["parameters"]}
    assert required["audio"] and not required["voice"] and sum(required.values()) == 1
    assert [p["parameter_name"] for p in api["/continuation"]["parameters"] if not p["parameter_has_default"]] == \
        ["audio"]
    # the temperatures' defaults are the default bundle's own (its generation_config.json)
    defaults = {p["parameter_name"]: p["parameter_default"] for p in api["/continuation"]["parameters"]}
    own = GenerationSettings.load(ROOT / "checkpoints" / "speech").temperatures
    assert (defaults["t_sem"], defaults["t_coarse"], defaults["t_fine"]) == pytest.approx(own)


def test_played_audio_is_the_downloaded_file(client):
    audio, files, _, _ = client.predict(handle_file(str(EXAMPLE)), "speech", 2.0, *CONTROLS, api_name="/continuation")
    played, downloaded = soundfile.read(audio, dtype="int16")[0], soundfile.read(files[0], dtype="int16")[0]
    assert played.shape == downloaded.shape and np.array_equal(played, downloaded)


def test_the_faulty_input_is_named(client, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(16000), 16000)
    with pytest.raises(AppError, match="Voice prompt: The audio is silent"):
        client.predict(handle_file(str(EXAMPLE)), handle_file(str(silent)), "speech", *CONTROLS,
                       api_name="/acoustic_generation")
    with pytest.raises(AppError, match="Input audio: The audio is silent"):
        client.predict(handle_file(str(silent)), handle_file(str(EXAMPLE)), "speech", *CONTROLS,
                       api_name="/acoustic_generation")


def test_each_sample_is_shown_with_a_seed_that_regenerates_it_alone(client):
    _, files, _, info = client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, "5", 3, api_name="/unconditional")
    seeds = [int(part.split("**")[1]) for part in info.split("own seed")[1].split(",")]
    assert seeds[0] == 5 and len(set(seeds)) == 3
    audio, *_ = client.predict("speech", 1.0, 0.6, 0.8, 0.6, 0, str(seeds[2]), 1, api_name="/unconditional")
    assert np.array_equal(read(audio)[0], read(files[2])[0])


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_uploads_are_limited_and_files_do_not_pile_up(tmp_path):
    """1 MB upload limit (stated on the page); each request's upload and results are deleted once
    --keep-files seconds old, and nothing is left once the server stops."""
    import httpx

    outputs, cache = tmp_path / "outputs", tmp_path / "gradio"
    proc, client = launch(tmp_path, "--max-upload-mb", 1, "--keep-files", 4, "--outputs", outputs)
    try:
        assert "up to **1 MB**" in urllib.request.urlopen(f"{client.src}config", timeout=30).read().decode()
        big = tmp_path / "big.wav"
        soundfile.write(big, np.tile(synthetic_voice(1.0, 16000), 40), 16000)  # 1.3 MB
        with open(big, "rb") as f:
            answer = httpx.post(f"{client.src}gradio_api/upload", files={"files": f}, timeout=60)
        assert answer.status_code == 413 and "File size exceeded" in answer.text
        n = 6
        for seed in range(n):
            audio, files, _, _ = client.predict(handle_file(str(EXAMPLE)), "speech", 1.0, 0.6, 0.8, 0.6, 0, str(seed),
                                                1, api_name="/continuation")
            # the request left its upload, audio, file and picture (checked per request: on a loaded machine
            # the first requests' files may already be --keep-files old when the last one ends)...
            assert files_under(cache)
        deadline = time.time() + 30
        while files_under(cache) and time.time() < deadline:
            time.sleep(0.5)
        assert files_under(cache) == []  # ...deleted once 4 s old
        assert len(list(outputs.iterdir())) <= n  # the sample files: a bounded folder (OutputFolder)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not outputs.exists() and files_under(cache) == []


def test_output_folder_keeps_only_the_last_requests(tmp_path):
    from audiolm.space import OutputFolder

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "left-by-a-killed-server").write_text("x")
    folder = OutputFolder(tmp_path / "out", keep=3)
    made = []
    for i in range(10):
        made.append(folder.new())
        (made[-1] / "sample.wav").write_bytes(b"x" * 1000)
        os.utime(made[-1], (i, i))  # creation order, whatever the clock's resolution
    assert sorted((tmp_path / "out").iterdir()) == sorted(made[-3:])
    folder.close()
    assert not (tmp_path / "out").exists()


def test_a_broken_bundle_stops_the_server_at_start_up(tmp_path):
    """Instead of answering every request "Generation failed (SafetensorError)"."""
    from audiolm.factory import random_audiolm, tiny_bundle_config

    bundle = tmp_path / "broken"
    random_audiolm(tiny_bundle_config(), "tiny").save_pretrained(bundle)
    weights = bundle / "coarse" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "app.py"), "--bundle", str(bundle), "--port", "0"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"error: Bundle 'broken': {weights} is not a readable safetensors file" in proc.stderr
    assert "The server was not started." in proc.stderr and "Running on" not in proc.stdout


def test_example_labels_say_which_voice_is_real():
    import app
    assert app.example_label("examples/speech-heldout-48.wav") == "speech · held-out 48"
    assert app.example_label("examples/speech-real-1688.wav") == "speech · real voice 1688"
    assert app.example_label("examples/piano-heldout-0045.wav") == "piano · held-out 0045"


def test_the_pages_prompt_adaptation_and_semantic_plans_reach_a_continuation(client):
    """The continuation tab's *Prompt adaptation* and *Semantic plans* sliders: 20 steps, or 16 plans, change what a
    seed gives with the bundle's own (0 and 1: the same audio as the named endpoint's), and a value off a slider gets
    a message."""
    def page(steps, plans=1):
        # prompt, model, seconds, temperatures, top-k, seed, samples, top-p, guidance, voice matching, adaptation,
        # plans
        out = client.predict(handle_file(str(EXAMPLE)), "speech", 1.0, 1.0, 0.8, 0.6, 0, "5", 1, 1, 4, 12, steps,
                             plans, api_name="/continuation_page")
        return read(out[1])[0]
    adapted, planned, off = page(20), page(0, 16), page(0)  # of 4 plans, seed 5's own changes most: the same
    same = client.predict(handle_file(str(EXAMPLE)), "speech", 1.0, 1.0, 0.8, 0.6, 0, "5", 1, api_name="/continuation")
    assert np.array_equal(off, read(same[0])[0])
    for other in (adapted, planned):
        assert other.shape == off.shape and not np.array_equal(other, off)
    assert not np.array_equal(adapted, planned)
    with pytest.raises(AppError, match="Prompt adaptation must be a whole number from 0 to 60, got 2.5"):
        page(2.5)
    with pytest.raises(AppError, match="maximum value 60"):
        page(70)
    with pytest.raises(AppError, match="Semantic plans must be a whole number from 1 to 16, got 2.5"):
        page(0, 2.5)
    with pytest.raises(AppError, match="maximum value 16"):
        page(0, 17)
