"""Loading and pushing bundles through the Hub code path, against a local fake Hub (``tests/fake_hub.py``).

Why subprocesses: ``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when its ``constants``
module is imported, and derives more values from them at import time (the ``/resolve`` URL template, the set of
trusted Hub origins in ``utils._http``...). Other tests in this pytest process import it first, so setting
``os.environ`` here would be too late, and monkeypatching the derived module globals would tie the tests to
private names of one huggingface_hub version. Instead the Hub interactions run in a separate interpreter
(``HubClient``: ``sys.executable -c WORKER``, one per module, fed ops over a pipe) whose environment points at the
fake Hub, exactly as a user would configure it; it saves the loaded weights with ``torch.save`` and the test
compares them, tensor by tensor, with the bundle loaded from its local folder in this process. The fake Hub
records every request it gets, so the tests also check that the Hub was really used (or, offline, that it was
not).
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audiolm.factory import random_audiolm, tiny_bundle_config
from audiolm.pipeline import AudioLM

from fake_hub import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_fake_write_token"
REPO = "team/tiny-speech"
PRIVATE_REPO = "team/private-speech"
COMPONENTS = {"codec": "codec", "semantic_tokenizer": "semantic_tokenizer", "semantic": "semantic_stage",
              "coarse": "coarse_stage", "fine": "fine_stage"}
EXTRA_FILE = "training/optimizer.pt"  # in the Hub repo but not part of a bundle: must never be downloaded

WORKER = r"""
import json, os, sys, traceback
protocol = os.fdopen(os.dup(1), "w")  # our stdout pipe is kept for the protocol only; stray prints go to stderr
os.dup2(2, 1)
sys.stdout = sys.stderr
import torch
from audiolm.pipeline import AudioLM

COMPONENTS = %(components)r

def state_dicts(model):
    return {name: {k: v.detach().cpu().clone() for k, v in getattr(model, attr).state_dict().items()}
            for name, attr in COMPONENTS.items()}

def run(op, out, i):
    if op["op"] == "load":
        model = AudioLM.from_pretrained(**op["kwargs"])
        torch.save(state_dicts(model), f"{out}/weights_{i}.pt")
        return {"ok": True, "weights": f"{out}/weights_{i}.pt"}
    if op["op"] == "push":
        model = AudioLM.from_pretrained(op["bundle"])
        kwargs = dict(op["kwargs"])
        if "dtype" in kwargs:
            kwargs["dtype"] = None if kwargs["dtype"] is None else getattr(torch, kwargs["dtype"])
        return {"ok": True, "url": str(model.push_to_hub(op["repo_id"], **kwargs))}
    raise ValueError(op)

for line in sys.stdin:
    request = json.loads(line)
    results = []
    for i, op in enumerate(request["ops"]):
        try:
            results.append(run(op, request["out"], i))
        except Exception as exc:
            cause = exc.__cause__
            results.append({"ok": False, "error": type(exc).__name__, "message": str(exc),
                            "cause": type(cause).__name__ if cause is not None else None,
                            "traceback": traceback.format_exc()})
    with open(os.path.join(request["out"], "results.json"), "w") as f:
        json.dump(results, f)
    protocol.write("done\n")
    protocol.flush()
""" % {"components": COMPONENTS}


class HubClient:
    """A fresh interpreter whose environment points at ``hub``, running the ops that tests send it.

    One per module (and one more for offline mode) rather than one per test: each interpreter pays for
    importing torch and audiolm (seconds), the ops themselves take milliseconds.
    """

    def __init__(self, hub: FakeHub, work: Path, offline: bool = False):
        work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "HUGGINGFACE_")) and k != "TRANSFORMERS_OFFLINE"
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update(HF_ENDPOINT=hub.endpoint, HF_HOME=str(work / "hf_home"), HF_HUB_OFFLINE="1" if offline else "0",
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]]
                                                                 if os.environ.get("PYTHONPATH") else [])))
        self.stderr_path = work / "stderr.txt"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=REPO_ROOT, text=True)

    def run(self, ops: list[dict], out: Path, timeout: float = 300) -> list[dict]:
        """Run ``ops`` in the interpreter; one result dict per op (``ok``, ``weights``/``url`` or the error)."""
        out.mkdir(parents=True, exist_ok=True)
        self.proc.stdin.write(json.dumps({"ops": ops, "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "done":
            self.proc.kill()
            pytest.fail(f"Hub client died or hung:\n{self.stderr_path.read_text()[-5000:]}")
        return json.loads((out / "results.json").read_text())

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def state_dicts(model: AudioLM) -> dict:
    return {name: getattr(model, attr).state_dict() for name, attr in COMPONENTS.items()}


def load_weights(result: dict) -> dict:
    assert result["ok"], result.get("traceback")
    return torch.load(result["weights"], weights_only=True)


def assert_same_weights(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].keys() == want[name].keys(), name
        for key, tensor in want[name].items():
            assert got[name][key].dtype == tensor.dtype, (name, key)
            assert torch.equal(got[name][key], tensor), f"{name}.{key} differs"


def differs(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])


def assert_bundle_error(result: dict, cause: str | None = None) -> None:
    assert not result["ok"], "expected a BundleError"
    assert result["error"] == "BundleError", result["traceback"]
    if cause is not None:
        assert result["cause"] == cause, result["traceback"]


# ----- fixtures -----
@pytest.fixture(scope="module")
def bundles(tmp_path_factory, tiny_model):
    """Two tiny bundles with different weights (seeds 0 and 1), saved as folders."""
    root = tmp_path_factory.mktemp("bundles")
    folders = {"v1": tiny_model.save_pretrained(root / "v1"),
               "v2": random_audiolm(tiny_bundle_config(), "tiny", seed=1).save_pretrained(
                   root / "v2", model_card="---\nlicense: mit\n---\n# tiny speech v2\n")}
    for folder in folders.values():
        (folder / EXTRA_FILE).parent.mkdir()
        (folder / EXTRA_FILE).write_bytes(b"not part of the bundle" * 100)
    return folders


@pytest.fixture(scope="module")
def local(bundles):
    """The bundles' weights, loaded from their folders (no Hub involved)."""
    return {name: state_dicts(AudioLM.from_pretrained(folder)) for name, folder in bundles.items()}


@pytest.fixture(scope="module")
def served(bundles):
    with FakeHub({REPO: {"v1": bundles["v1"], "v2": bundles["v2"]}, PRIVATE_REPO: {"main": bundles["v1"]}},
                 token=TOKEN, private=(PRIVATE_REPO,)) as hub:
        yield hub


@pytest.fixture
def hub(served):
    served.reset_requests()
    return served


@pytest.fixture(scope="module")
def client(served, tmp_path_factory):
    client = HubClient(served, tmp_path_factory.mktemp("client"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def offline_client(served, tmp_path_factory):
    """Like ``client``, with ``HF_HUB_OFFLINE=1``."""
    client = HubClient(served, tmp_path_factory.mktemp("offline_client"), offline=True)
    yield client
    client.close()


# ----- tests -----
def test_from_pretrained_downloads_the_bundle_from_the_hub(hub, client, bundles, local, tmp_path):
    cache = tmp_path / "cache"
    [result] = client.run([{"op": "load", "kwargs": {"path_or_repo_id": REPO, "cache_dir": str(cache)}}],
                          tmp_path / "out")
    assert_same_weights(load_weights(result), local["v2"])  # "main" is the latest revision, v2

    # The files came from the Hub, into the cache, byte for byte...
    sha = hub.commit_sha(REPO, "main")
    snapshot = cache / "models--team--tiny-speech" / "snapshots" / sha
    bundle_files = sorted(p.relative_to(bundles["v2"]).as_posix() for p in bundles["v2"].rglob("*")
                          if p.is_file() and p.relative_to(bundles["v2"]).as_posix() != EXTRA_FILE)
    assert sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()) == bundle_files
    for name in bundle_files:
        assert (snapshot / name).read_bytes() == (bundles["v2"] / name).read_bytes(), name
    assert (cache / "models--team--tiny-speech" / "refs" / "main").read_text() == sha

    # ...through the requests huggingface_hub makes: repo info, tree listing, a HEAD per file, then the
    # regular files from /resolve and the LFS weights from the CDN the Hub redirects to.
    assert hub.count("GET", f"/api/models/{REPO}/revision/main") == 1
    assert hub.count("GET", f"/api/models/{REPO}/tree/{sha}") == 1
    assert "generation_config.json" in bundle_files  # the bundle's own sampling travels with it
    assert hub.count("HEAD", f"/{REPO}/resolve/{sha}/") == len(bundle_files) == 13
    assert hub.count("GET", f"/{REPO}/resolve/{sha}/") == 8  # config.json x 6, generation_config.json, README.md
    assert hub.count("GET", "/lfs/", server="cdn") == 5  # model.safetensors x 5
    assert hub.count(contains=EXTRA_FILE) == 0  # only the bundle's files are fetched
    assert all(r.status in (200, 302) for r in hub.requests), hub.requests


def test_revision_selects_the_weights(hub, client, local, tmp_path):
    assert differs(local["v1"], local["v2"])  # otherwise this test could not tell revisions apart
    v1_sha = hub.commit_sha(REPO, "v1")
    ops = [{"op": "load", "kwargs": {"path_or_repo_id": REPO, "revision": revision, "cache_dir": str(tmp_path / "c")}}
           for revision in ("v1", "v2", "main", v1_sha)]
    got = [load_weights(r) for r in client.run(ops, tmp_path / "out")]
    for weights, want in zip(got, ("v1", "v2", "v2", "v1")):
        assert_same_weights(weights, local[want])
    assert hub.count("GET", f"/api/models/{REPO}/revision/v1") == 1
    assert hub.count("GET", f"/api/models/{REPO}/revision/{v1_sha}") == 0  # a commit sha needs no resolving
    assert hub.count("GET", "/lfs/", server="cdn") == 10  # v1's and v2's weights; "main" and the sha are cached


def test_cached_bundle_loads_without_the_hub(hub, client, offline_client, local, tmp_path):
    cache = str(tmp_path / "cache")
    load = {"op": "load", "kwargs": {"path_or_repo_id": REPO, "cache_dir": cache}}
    online = client.run([load,
                         {"op": "load", "kwargs": {**load["kwargs"], "local_files_only": True}},
                         {"op": "load", "kwargs": {**load["kwargs"], "local_files_only": True, "revision": "v1"}}],
                        tmp_path / "online")
    assert_same_weights(load_weights(online[0]), local["v2"])
    assert_same_weights(load_weights(online[1]), local["v2"])
    assert_bundle_error(online[2], "LocalEntryNotFoundError")  # v1 was never downloaded
    # Exactly one download's worth of requests: the local_files_only loads did not contact the Hub.
    assert hub.count("GET", "/api/") == 2 and hub.count("HEAD") == 13 and hub.count("GET", "/lfs/") == 5

    hub.reset_requests()
    offline = offline_client.run([load, {"op": "load", "kwargs": {**load["kwargs"], "revision": "v1"}},
                                  {"op": "load", "kwargs": {"path_or_repo_id": "team/never-downloaded",
                                                            "cache_dir": cache}}],
                                 tmp_path / "offline")  # HF_HUB_OFFLINE=1
    assert_same_weights(load_weights(offline[0]), local["v2"])
    assert_bundle_error(offline[1], "LocalEntryNotFoundError")
    assert_bundle_error(offline[2], "LocalEntryNotFoundError")
    assert "cache" in offline[2]["message"]
    assert hub.requests == []


def test_unknown_repo_or_revision_raises_bundle_error(hub, client, tmp_path):
    cache = str(tmp_path / "cache")
    ops = [{"op": "load", "kwargs": {"path_or_repo_id": "team/no-such-model", "cache_dir": cache}},
           {"op": "load", "kwargs": {"path_or_repo_id": REPO, "revision": "no-such-branch", "cache_dir": cache}},
           {"op": "load", "kwargs": {"path_or_repo_id": REPO, "revision": "0" * 40, "cache_dir": cache}}]
    missing_repo, missing_branch, missing_commit = client.run(ops, tmp_path / "out")
    assert_bundle_error(missing_repo, "RepositoryNotFoundError")
    assert "team/no-such-model" in missing_repo["message"]
    assert_bundle_error(missing_branch, "RevisionNotFoundError")
    assert "no-such-branch" in missing_branch["message"]
    assert_bundle_error(missing_commit, "RevisionNotFoundError")
    # The Hub was asked, and said so (like huggingface.co, it answers 401 for an unknown repo to an anonymous
    # caller when tokens exist, 404 otherwise; the X-Error-Code header is what tells the client).
    statuses = [r.status for r in hub.requests]
    assert statuses[0] in (401, 404) and statuses[1:] == [404, 404], hub.requests
    assert hub.count("GET", f"/api/models/{REPO}/tree/{'0' * 40}") == 1


def test_private_repo_needs_the_token(hub, client, local, tmp_path):
    cache = str(tmp_path / "cache")
    ops = [{"op": "load", "kwargs": {"path_or_repo_id": PRIVATE_REPO, "cache_dir": cache}},
           {"op": "load", "kwargs": {"path_or_repo_id": PRIVATE_REPO, "cache_dir": cache, "token": "hf_wrong"}},
           {"op": "load", "kwargs": {"path_or_repo_id": PRIVATE_REPO, "cache_dir": cache, "token": TOKEN}}]
    anonymous, wrong, right = client.run(ops, tmp_path / "out")
    assert_bundle_error(anonymous, "RepositoryNotFoundError")
    assert_bundle_error(wrong)
    assert_same_weights(load_weights(right), local["v1"])
    hub_requests = [r for r in hub.requests if r.server == "hub" and r.status == 200]
    assert hub_requests and all(r.authorization == f"Bearer {TOKEN}" for r in hub_requests)
    # The token stays on the Hub: the signed CDN downloads are made without it.
    assert hub.count("GET", "/lfs/", server="cdn") == 5
    assert all(r.authorization is None for r in hub.requests if r.server == "cdn")


def test_push_to_hub_round_trips(hub, client, bundles, local, tmp_path):
    repo = "me/pushed-speech"
    half = AudioLM.from_pretrained(bundles["v2"]).save_pretrained(tmp_path / "half", dtype=torch.float16)
    ops = [{"op": "push", "bundle": str(bundles["v1"]), "repo_id": repo, "kwargs": {"token": TOKEN, "dtype": None}},
           {"op": "push", "bundle": str(bundles["v2"]), "repo_id": repo,
            "kwargs": {"token": TOKEN, "revision": "half", "model_card": "# tiny speech, float16\n"}},  # float16
           {"op": "load", "kwargs": {"path_or_repo_id": repo, "cache_dir": str(tmp_path / "cache")}},
           {"op": "load", "kwargs": {"path_or_repo_id": repo, "revision": "half",
                                     "cache_dir": str(tmp_path / "cache")}},
           {"op": "push", "bundle": str(bundles["v1"]), "repo_id": "me/anonymous-push", "kwargs": {}}]
    main_push, half_push, main_load, half_load, anonymous_push = client.run(ops, tmp_path / "out")

    assert main_push["ok"], main_push.get("traceback")
    assert half_push["ok"], half_push.get("traceback")
    assert main_push["url"] == f"{hub.endpoint}/{repo}/commit/{hub.commit_sha(repo, 'main')}"
    assert half_push["url"] == f"{hub.endpoint}/{repo}/commit/{hub.commit_sha(repo, 'half')}"
    assert_same_weights(load_weights(main_load), local["v1"])
    assert_same_weights(load_weights(half_load), state_dicts(AudioLM.from_pretrained(half)))

    # One commit per push, holding the whole bundle (and the model card when given).
    pushed = hub.files(repo, "half")
    assert pushed["README.md"] == b"# tiny speech, float16\n"
    # (configs byte for byte; not the safetensors: their header's metadata order varies from run to run)
    for name in ("config.json", "generation_config.json", "codec/config.json", "fine/config.json",
                 "semantic_tokenizer/config.json"):
        assert pushed[name] == (half / name).read_bytes(), name
    assert set(hub.files(repo, "main")) == {".gitattributes"} | {
        p.relative_to(bundles["v1"]).as_posix() for p in bundles["v1"].rglob("*")
        if p.is_file() and p.relative_to(bundles["v1"]).as_posix() != EXTRA_FILE}
    assert hub.count("POST", f"/api/models/{repo}/commit/") == 2
    assert hub.count("POST", f"/api/models/{repo}/branch/half") == 1
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hub.requests
               if r.method == "POST" and repo in r.path)
    # Writing needs the token.
    assert not anonymous_push["ok"] and "401" in anonymous_push["message"]
    assert "me/anonymous-push" not in hub.repos
