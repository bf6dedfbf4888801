"""Load test of the Space (issue 13): peak server memory under 8 concurrent requests plus a 600 MB
upload, and what 100 sequential requests leave on disk.

    python benchmarks/load_test.py [--keep-files 60] [--requests 100] [--max-upload-mb 100] [--work DIR]

Starts ``app.py`` on loopback (bundled checkpoints) with its own Gradio cache and output folder, then

1. sends 8 requests at once (4 continuations of an 80 s, 96 kHz, 6-channel WAV of 88 MB, just under the
   100 MB upload limit, which the server trims to 30 s; 4 unconditional 5 s generations) while a 600 MB
   WAV is uploaded beside them (refused by the limit as it streams in; with ``--max-upload-mb 1000``
   it is accepted and continued instead, so the server decodes its first 30 s);
2. sends ``--requests`` sequential requests (continuations of a small example, each uploading it
   again), then measures the Gradio cache and the output folder: right away, and once
   ``--keep-files`` seconds have passed (what stays on disk: at most ``--keep-files`` seconds of
   traffic);
3. prints the server's peak RSS (``VmHWM``) and the disk figures, and stops the server.

CPU only, minutes; not a test (run it by hand and report the figures).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "speech-heldout-48.wav"
MB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_wav(path: Path, seconds: float, rate: int, channels: int) -> Path:
    """A tone + noise WAV written block by block (this script's own memory stays small too)."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        t = np.arange(rate) / rate
        for second in range(int(seconds)):
            tone = 0.3 * np.sin(2 * np.pi * (200 + 10 * (second % 20)) * t)
            block = tone[:, None] + 0.01 * rng.standard_normal((rate, channels))
            f.write(block.astype(np.float32))
    return path


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def disk(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def upload(url: str, path: Path) -> tuple[int, str]:
    """Stream ``path`` to Gradio's upload route as multipart, in 1 MB chunks."""
    import httpx

    boundary = "audiolm-load-test"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()

    def body():
        yield head
        with open(path, "rb") as f:
            while chunk := f.read(MB):
                yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        answer = httpx.post(f"{url}gradio_api/upload", content=body(), timeout=600,
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return answer.status_code, answer.text[:120]
    except httpx.HTTPError as exc:  # the server may close the connection as soon as the limit is passed
        return -1, f"{type(exc).__name__}: {exc}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-files", type=int, default=60, help="the server's --keep-files (seconds)")
    parser.add_argument("--requests", type=int, default=100, help="sequential requests for the disk figure")
    parser.add_argument("--max-upload-mb", type=int, default=100, help="the server's upload limit")
    parser.add_argument("--work", default=None, help="folder for the test files and the server's cache")
    args = parser.parse_args(argv)
    from gradio_client import Client, handle_file

    work = Path(args.work or tempfile.mkdtemp(prefix="audiolm-load-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}", flush=True)
    big = write_wav(work / "big-600mb.wav", 545, 96000, 6)  # 10 min-class file: 600 MB
    under = write_wav(work / "long-88mb.wav", 80, 96000, 6)  # under the 100 MB limit: decoded (first 30 s)
    print(f"files: {big.stat().st_size / MB:.0f} MB and {under.stat().st_size / MB:.0f} MB", flush=True)

    port, cache, outputs = free_port(), work / "gradio", work / "outputs"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
           "NO_PROXY": "localhost,127.0.0.1", "GRADIO_TEMP_DIR": str(cache)}
    log = open(work / "app.log", "w")
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--outputs", str(outputs),
                               "--keep-files", str(args.keep_files), "--max-upload-mb", str(args.max_upload_mb)],
                              cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "gradio_api/info", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit((work / "app.log").read_text())
                time.sleep(0.5)
        client = Client(url, verbose=False)
        controls = (0.6, 0.8, 0.6, 0)
        client.predict("speech", 1.0, *controls, "0", 1, api_name="/unconditional")  # warm-up
        idle_mb = status_kb(server.pid, "VmRSS") / 1024
        print(f"server RSS after start and one request: {idle_mb:.0f} MB", flush=True)

        samples, stop = [], threading.Event()

        def sample_rss():
            while not stop.is_set():
                samples.append(status_kb(server.pid, "VmRSS") / 1024)
                time.sleep(0.1)

        def request(i):
            start = time.time()
            try:
                if i < 4:
                    client.predict(handle_file(str(under)), "speech", 1.0, *controls, str(i), 1,
                                   api_name="/continuation")
                else:
                    client.predict("speech", 5.0, *controls, str(i), 1, api_name="/unconditional")
                return f"request {i}: ok in {time.time() - start:.0f} s"
            except Exception as exc:
                return f"request {i}: {type(exc).__name__}: {exc}"

        watcher = threading.Thread(target=sample_rss, daemon=True)
        watcher.start()
        start = time.time()
        with ThreadPoolExecutor(9) as pool:
            if big.stat().st_size <= args.max_upload_mb * MB:  # accepted: continue it (decodes 30 s of it)
                big_upload = pool.submit(lambda: (200, str(client.predict(
                    handle_file(str(big)), "speech", 1.0, *controls, "9", 1, api_name="/continuation")[3])[:120]))
            else:
                big_upload = pool.submit(upload, url, big)
            for line in pool.map(request, range(8)):
                print(line, flush=True)
            code, text = big_upload.result()
        stop.set()
        watcher.join()
        print(f"600 MB file: HTTP {code} {text}", flush=True)
        peak_mb = status_kb(server.pid, "VmHWM") / 1024
        print(f"8 concurrent requests + the 600 MB upload: {time.time() - start:.0f} s; server peak RSS "
              f"{peak_mb:.0f} MB (VmHWM; sampled max {max(samples):.0f} MB)", flush=True)

        if not args.requests:
            return 0
        start = time.time()
        for i in range(args.requests):
            client.predict(handle_file(str(EXAMPLE)), "speech", 1.0, *controls, str(i), 1, api_name="/continuation")
        took = time.time() - start
        files, size = disk(cache)
        kept = len(list(outputs.iterdir()))
        print(f"{args.requests} sequential requests in {took:.0f} s: Gradio cache {files} files, {size / MB:.1f} MB; "
              f"output folder {kept} request folders, {disk(outputs)[1] / MB:.1f} MB", flush=True)
        time.sleep(args.keep_files + max(1, args.keep_files // 4) + 2)
        files_later, size_later = disk(cache)
        print(f"{args.keep_files} s later: Gradio cache {files_later} files, {size_later / MB:.1f} MB", flush=True)
        figures = {"idle_rss_mb": round(idle_mb), "peak_rss_mb": round(peak_mb), "big_upload_status": code,
                   "sequential_requests": args.requests, "sequential_seconds": round(took),
                   "cache_files_after": files, "cache_mb_after": round(size / MB, 1),
                   "output_folders_after": kept, "keep_files_s": args.keep_files,
                   "cache_files_after_keep": files_later, "cache_mb_after_keep": round(size_later / MB, 1)}
        print(json.dumps(figures))
    finally:
        server.terminate()
        server.wait(timeout=60)
    files, size = disk(cache)
    print(f"after the server stopped: Gradio cache {files} files, {size / MB:.1f} MB; output folder "
          f"{'gone' if not outputs.exists() else 'left'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
