"""A real browser: Debian's Chromium driven by Playwright uses the Space as a visitor does. Every tab, by
upload, by microphone (Chromium's fake capture device plays an example wav) and by example; the streamed
player must play while the result is generated and last as long as the final audio; screenshots at 1400 px
and at 390 px (a phone) are saved into the folder the test prints (``AUDIOLM_ARTIFACTS``, else a temporary one)."""
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import soundfile

from app_server import ROOT, launch

EXAMPLE = ROOT / "examples" / "speech-heldout-48.wav"
PIANO = ROOT / "examples" / "piano-heldout-0045.wav"

STAGES = re.compile("semantic tokens|coarse acoustic tokens|fine acoustic tokens|codec decoding")  # progress
CHROMIUM = Path("/usr/bin/chromium")
# flags for a closed network: no background connections, no sandbox as root, no GPU; a fake microphone that
# plays EXAMPLE, granted without a prompt; audio that may play without a click (the streamed player autoplays)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={EXAMPLE}", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian chromium is not installed")
    if shutil.which("ffmpeg") is None:  # Gradio encodes streamed audio with it
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's ffmpeg (apt-get install ffmpeg)")
        pytest.skip("ffmpeg is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, client = launch(tmp_path_factory.mktemp("browser"))
    yield client.src
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    folder = Path(os.environ.get("AUDIOLM_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artifacts (screenshots): {folder}")
    return folder


def open_page(browser, url, width=1400, height=1000):
    context = browser.new_context(viewport={"width": width, "height": height}, permissions=["microphone"])
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    return page


def open_tab(page, name: str):
    """Click a tab; on a phone, tabs that do not fit are under "More tabs"."""
    page.get_by_role("tab").first.wait_for()
    tab = page.get_by_role("tab", name=name)
    if not tab.count():
        page.get_by_label("More tabs").click()
        tab = page.locator(".overflow-dropdown button", has_text=name)
    tab.click()


def set_slider(page, elem_id: str, value: float):
    """Type ``value`` into a slider's number box until the slider itself has taken it. Typed too soon after the tab
    opens, the value can be lost (the slider is drawn again with its default), and a button pressed then sends the
    default."""
    box = page.locator(f"#{elem_id} input[type=number]")
    taken = f"() => Number(document.querySelector('#{elem_id} input[type=range]').value) === {value}"
    for _ in range(10):
        box.fill(f"{value:g}")
        box.press("Enter")
        for _ in range(10):  # up to 2 s for the slider to follow
            if page.evaluate(taken):
                return
            time.sleep(0.2)
    raise AssertionError(f"the {elem_id} slider never took {value}")


def seconds_shown(player) -> int:
    """The duration a player shows, once it has read it (0:00 until then)."""
    deadline = time.time() + 30
    while True:
        minutes, seconds = player.locator("#duration").inner_text().split(":")
        if int(minutes) or int(seconds) or time.time() > deadline:
            return 60 * int(minutes) + int(seconds)
        time.sleep(0.2)


def generate_and_check(page, tab: str, button: str, expected_seconds: float, streamed: bool = True,
                       progress_shot: Path | None = None) -> bool:
    """Press ``button``; the streamed player plays before the end and the final audio lasts as expected.
    True if a stage's progress was seen on the page (then ``progress_shot`` is a picture of it)."""
    page.locator(f"#{button}").click()
    result = page.locator(f"#{tab}-result")
    played_early = progress_seen = False
    deadline = time.time() + 180
    while not result.locator("[data-testid=download-link]").count():  # the final audio: a player with a file
        assert time.time() < deadline, "no result"
        played_early = played_early or streamed and (stream_state(page, tab) or {}).get("time", 0) > 0
        if not progress_seen and page.get_by_text(STAGES).count():
            progress_seen = True
            if progress_shot is not None:
                page.screenshot(path=str(progress_shot))
        time.sleep(0.1)
    page.get_by_text("Seed: ").first.wait_for(timeout=30_000)
    assert abs(seconds_shown(result) - int(expected_seconds)) <= 1
    assert result.locator("[data-testid=download-link]").get_attribute("href").endswith(".wav")
    assert page.locator(f"#{tab}-spectrogram img").count() == 1
    if streamed:
        # it keeps playing to the end of what was streamed: wait until playback stops advancing (the last
        # chunk may still be appended after the final audio has arrived, so a fixed time is too early)
        deadline, still = time.time() + 60, 0
        state = stream_state(page, tab)
        while still < 3 and time.time() < deadline:  # 3 s without progress: it has played all it got
            time.sleep(1.0)
            previous, state = state, stream_state(page, tab)
            still = still + 1 if state["time"] == previous["time"] else 0
        # all of it streamed: as long as the final audio (AAC frames pad the end by a few tens of ms)
        assert state["duration"] == pytest.approx(expected_seconds, abs=0.35), state
        assert state["time"] > 0 and (played_early or state["time"] > expected_seconds - 2), state
    return progress_seen


def stream_state(page, tab: str) -> dict | None:
    return page.evaluate(f"""() => {{ const a = document.querySelector('#{tab}-stream audio');
        return a ? {{time: a.currentTime, duration: a.duration || 0}} : {{time: 0, duration: 0}} }}""")


def prompt_seconds(path) -> float:
    return len(soundfile.read(path)[0]) // 640 * 640 / 16000


def test_continuation_by_upload_streams_and_screenshot_at_1400(browser, server, artifacts):
    page = open_page(browser, server)
    open_tab(page, "Continuation")
    page.locator("#continuation-prompt input[type=file]").set_input_files(str(EXAMPLE))
    # 20 s of new audio: long enough to see the stages' progress on the way
    set_slider(page, "continuation-seconds", 20)
    assert generate_and_check(page, "continuation", "continuation-button", prompt_seconds(EXAMPLE) + 20,
                              progress_shot=artifacts / "space-progress.png")
    page.locator("#about button.label-wrap").first.click()  # unfolded in the picture
    page.locator("#about").get_by_text("The speech model").wait_for()
    screenshot = artifacts / "space-1400.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 30_000


def test_continuation_from_the_microphone(browser, server):
    page = open_page(browser, server)
    open_tab(page, "Continuation")
    prompt = page.locator("#continuation-prompt")
    prompt.get_by_label("Record audio").click()
    prompt.get_by_role("button", name="Record").first.click()
    time.sleep(3)
    prompt.get_by_role("button", name="Stop").first.click()
    prompt.get_by_label("Play", exact=True).wait_for(timeout=30_000)  # the recording, ready to play and to send
    recorded = seconds_shown(prompt)
    assert recorded >= 2
    generate_and_check(page, "continuation", "continuation-button", recorded + 5)


def test_example_picks_its_model_in_acoustic_generation(browser, server):
    page = open_page(browser, server)
    open_tab(page, "Acoustic generation")
    page.get_by_role("button", name="piano · held-out 0045").first.click()
    page.locator("#acoustic-input").get_by_label("Play", exact=True).wait_for(timeout=30_000)  # loaded: it plays
    assert page.locator("#model input").input_value() == "piano"
    generate_and_check(page, "acoustic", "acoustic-button", len(soundfile.read(PIANO)[0]) / 16000, streamed=False)


def test_unconditional_streams(browser, server):
    page = open_page(browser, server)
    open_tab(page, "Unconditional")
    set_slider(page, "unconditional-seconds", 3)
    generate_and_check(page, "unconditional", "unconditional-button", 3)


def test_phone_layout_stacks_and_screenshot_at_390(browser, server, artifacts):
    page = open_page(browser, server, width=390, height=844)
    open_tab(page, "Continuation")
    page.locator("#continuation-prompt input[type=file]").set_input_files(str(EXAMPLE))
    generate_and_check(page, "continuation", "continuation-button", prompt_seconds(EXAMPLE) + 5)
    inputs, outputs = (page.locator(f"#{e}").bounding_box() for e in ("continuation-prompt", "continuation-stream"))
    assert outputs["y"] > inputs["y"] + inputs["height"]  # stacked: outputs below the inputs
    assert inputs["width"] > 300 and abs(inputs["x"] - outputs["x"]) < 5
    screenshot = artifacts / "space-390.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
