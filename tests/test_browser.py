"""A real browser: Debian's Chromium driven by Playwright opens the Space, switches tabs, uploads a
prompt, generates, and sees an audio player with the result (and saves a screenshot)."""
import os
from pathlib import Path

import pytest
import soundfile

from app_server import ROOT, launch

EXAMPLE = ROOT / "examples" / "speech-heldout-48.wav"

CHROMIUM = Path("/usr/bin/chromium")
# flags for a closed network: no background connections, no sandbox as root, no GPU
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_continuation_in_the_browser(browser, tmp_path):
    proc, client = launch(tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(client.src, wait_until="networkidle")
        page.get_by_role("tab", name="Continuation").click()
        page.locator("#continuation-prompt input[type=file]").set_input_files(
            str(EXAMPLE))
        page.locator("#continuation-button").click()
        result = page.locator("#continuation-result")
        result.locator("[data-testid=download-link]").wait_for(timeout=120_000)  # a player with a result
        page.get_by_text("Seed: ").first.wait_for(timeout=60_000)  # blank seed: a random one is shown
        screenshot = tmp_path / "space-continuation.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
        href = result.locator("[data-testid=download-link]").get_attribute("href")
        assert "/gradio_api/file=" in href and href.endswith(".wav")
        # the prompt (trimmed to whole 40 ms units) + the default 5 s of new audio, as the player shows it
        seconds = int(len(soundfile.read(EXAMPLE)[0]) // 640 * 640 / 16000 + 5)
        assert result.locator("#duration").inner_text() == f"0:{seconds:02d}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
