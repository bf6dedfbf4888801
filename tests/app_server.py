"""Launching app.py on loopback for the client and browser tests."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, *args, **env):
    """Start app.py (with ``args`` as extra flags) on a free loopback port; wait until its API answers."""
    port = free_port()
    environ = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
               "NO_PROXY": "localhost,127.0.0.1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), **env}
    log = open(tmp_path / f"app-{port}.log", "w")
    argv = [sys.executable, str(ROOT / "app.py"), "--port", port, "--outputs", tmp_path / f"outputs-{port}", *args]
    proc = subprocess.Popen(list(map(str, argv)), cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
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
