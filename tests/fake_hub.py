"""A small, local stand-in for the Hugging Face Hub, for tests (standard library only).

``FakeHub`` serves model repos on ``127.0.0.1`` (a random free port) and answers the requests that
``huggingface_hub`` 2.4's ``snapshot_download`` / ``hf_hub_download`` / ``HfApi.create_repo`` /
``create_branch`` / ``upload_folder`` really make (read from its source):

* ``GET  /api/models/{repo}[/revision/{rev}]``           repo info: ``sha`` + ``siblings`` (``?blobs=1``: sizes, LFS)
* ``GET  /api/models/{repo}/tree/{rev}[/{path}]``        tree listing (``recursive``, cursor pagination + ``Link``)
* ``GET  /api/models/{repo}/refs``                       branches
* ``HEAD|GET /{repo}/resolve/{rev}/{path}``              regular file: 200, ``ETag`` (git sha1), ``Content-Length``,
                                                         ``X-Repo-Commit``; LFS file (``*.safetensors``, ...): 302 to
                                                         a second "CDN" server, ``X-Linked-Etag`` (sha256),
                                                         ``X-Linked-Size``, ``X-Repo-Commit``, like huggingface.co
* ``POST /api/repos/create``, ``/api/models/{repo}/branch/{b}``, ``/api/models/{repo}/preupload/{rev}``,
  ``/api/models/{repo}/commit/{rev}`` (ndjson: ``header``, ``file`` base64, ``deletedFile``, ``deletedFolder``,
  ``lfsFile`` for blobs it already has), ``/api/validate-yaml``.

Errors carry the Hub's ``X-Error-Code`` header so the client raises its real exceptions: unknown repo ->
404 ``RepoNotFound``; private repo without the token -> 401 ``RepoNotFound``; unknown revision -> 404
``RevisionNotFound``; unknown file -> 404 ``EntryNotFound`` (with ``X-Repo-Commit``).

Simplifications: model repos with ``namespace/name`` ids only; no Xet (no ``X-Xet-*`` headers, so the client
downloads over plain HTTP) and no LFS upload protocol: ``preupload`` answers ``"regular"`` for every file, so
uploads arrive as base64 in the commit (the server, not the client, picks the upload mode). No pull requests.

Every request is recorded (``requests``, ``count()``) so tests can check that the Hub was used -- or not.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.npz")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


def read_folder(folder: str | Path) -> dict[str, bytes]:
    """Every file under ``folder`` (``.git`` excepted), keyed by its '/'-separated relative path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(folder).parts}


@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]
    parent: str | None
    message: str


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha


@dataclass(frozen=True)
class Request:
    server: str  # "hub" or "cdn"
    method: str
    path: str  # unquoted, no query
    query: str
    status: int
    authorization: str | None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}  # more fields of the JSON body


class FakeHub:
    """``FakeHub({"team/model": {"v1": folder1, "v2": folder2}})``; ``with hub: ... hub.endpoint``.

    Each named revision becomes a branch with its own commit (fixed 40-hex sha, derived from the repo id, the
    name and the content); ``main`` is the last one unless a revision is named ``main``. A revision value may be
    a folder or a ``{path: bytes}`` mapping. ``token``: if set, writes and private repos need
    ``Authorization: Bearer <token>``.
    """

    def __init__(self, repos: Mapping[str, Mapping[str, str | Path | Mapping[str, bytes]]] | None = None, *,
                 token: str | None = None, private: tuple[str, ...] = (), lfs_patterns=LFS_PATTERNS,
                 page_size: int = 1000):
        self.token, self.lfs_patterns, self.page_size = token, tuple(lfs_patterns), page_size
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> content, what the "CDN" serves
        self.requests: list[Request] = []
        self._lock = threading.RLock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.endpoint = self.cdn_endpoint = ""
        for repo_id, revisions in (repos or {}).items():
            self.add_repo(repo_id, revisions, private=repo_id in private)

    # ----- content -----
    def add_repo(self, repo_id: str, revisions: Mapping[str, str | Path | Mapping[str, bytes]] | None = None,
                 private: bool = False) -> Repo:
        with self._lock:
            if repo_id.count("/") != 1:
                raise ValueError("FakeHub only serves 'namespace/name' repo ids")
            repo = self.repos[repo_id] = Repo(repo_id, private)
            for name, content in (revisions or {}).items():
                files = dict(content) if isinstance(content, Mapping) else read_folder(content)
                head = repo.branches.get("main")
                sha = self._add_commit(repo, files, head, f"revision {name}", salt=name)
                repo.branches[name] = sha
                if name != "main" and "main" not in revisions:
                    repo.branches["main"] = sha
            return repo

    def _add_commit(self, repo: Repo, files: dict[str, bytes], parent: str | None, message: str,
                    salt: str = "") -> str:
        digest = hashlib.sha1(f"{repo.repo_id}\0{salt}\0{parent}\0{message}\0".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + git_blob_sha1(files[path]).encode())
        sha = digest.hexdigest()
        repo.commits[sha] = Commit(sha, dict(files), parent, message)
        for path, data in files.items():
            if self.is_lfs(path):
                self.blobs[hashlib.sha256(data).hexdigest()] = data
        return sha

    def is_lfs(self, path: str) -> bool:
        return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in self.lfs_patterns)

    def commit_sha(self, repo_id: str, revision: str = "main") -> str:
        with self._lock:
            return self._resolve(self._repo(repo_id, None), revision)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            repo = self._repo(repo_id, None)
            return dict(repo.commits[self._resolve(repo, revision)].files)

    # ----- requests seen -----
    def count(self, method: str | None = None, contains: str = "", server: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if (method is None or r.method == method)
                       and contains in r.path and (server is None or r.server == server))

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ----- server -----
    def start(self) -> "FakeHub":
        if self._servers:
            return self
        for role in ("hub", "cdn"):
            handler = type(f"_{role.title()}Handler", (_Handler,), {"hub": self, "role": role})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            server.block_on_close = False
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"fake-hub-{role}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        self.endpoint = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_endpoint = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----- request handling (called from handler threads) -----
    def _repo(self, repo_id: str, authorization: str | None, write: bool = False) -> Repo:
        repo = self.repos.get(repo_id)
        authorized = self.token is None or authorization == f"Bearer {self.token}"
        if repo is None or (repo.private and not authorized):
            if authorization and not authorized:
                raise HubError(401, "Invalid credentials in Authorization header")
            status = 401 if authorization is None and self.token is not None else 404
            raise HubError(status, "Repository not found", "RepoNotFound")
        if write and not authorized:
            raise HubError(401 if authorization is None else 403, "You don't have the rights to write to this repo")
        return repo

    @staticmethod
    def _resolve(repo: Repo, revision: str) -> str:
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.commits:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _entries(self, files: dict[str, bytes]) -> dict[str, dict]:
        """Tree entries (files and folders) of a commit, keyed by path."""
        entries: dict[str, dict] = {}
        for path in sorted(files):
            data = files[path]
            parts = path.split("/")
            for i in range(1, len(parts)):
                folder = "/".join(parts[:i])
                entries.setdefault(folder, {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                            "size": 0, "path": folder})
            entry = {"type": "file", "size": len(data), "path": path}
            if self.is_lfs(path):
                pointer = lfs_pointer(data)
                entry.update(oid=git_blob_sha1(pointer),
                             lfs={"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                  "pointerSize": len(pointer)})
            else:
                entry["oid"] = git_blob_sha1(data)
            entries[path] = entry
        return dict(sorted(entries.items()))

    def handle(self, role: str, method: str, raw_path: str, query: dict[str, list[str]], body: bytes,
               authorization: str | None):
        """Returns (status, headers, body)."""
        segments = [unquote(s) for s in raw_path.split("/")[1:]]
        if role == "cdn":
            if method in ("GET", "HEAD") and len(segments) == 2 and segments[0] == "lfs" \
                    and segments[1] in self.blobs:
                data = self.blobs[segments[1]]
                return 200, {"ETag": f'"{segments[1]}"', "Content-Type": "application/octet-stream"}, data
            raise HubError(404, "Not found")
        if len(segments) >= 4 and segments[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve_file(f"{segments[0]}/{segments[1]}", segments[3], "/".join(segments[4:]),
                                      authorization)
        if segments[:1] != ["api"]:
            raise HubError(404, "Not found")
        if segments[1:] == ["repos", "create"] and method == "POST":
            return self._create_repo(json.loads(body or b"{}"), authorization)
        if segments[1:] == ["validate-yaml"] and method == "POST":
            return 200, {}, {"errors": [], "warnings": []}
        if len(segments) >= 4 and segments[1] in ("datasets", "spaces", "kernels"):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if len(segments) < 4 or segments[1] != "models":
            raise HubError(404, "Not found")
        repo_id, rest = f"{segments[2]}/{segments[3]}", segments[4:]
        if method == "GET" and (rest == [] or (len(rest) == 2 and rest[0] == "revision")):
            return self._info(repo_id, rest[1] if rest else "main", query, authorization)
        if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
            return self._tree(repo_id, rest[1], "/".join(rest[2:]), query, raw_path, authorization)
        if method == "GET" and rest == ["refs"]:
            repo = self._repo(repo_id, authorization)
            return 200, {}, {"branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
                                          for n, s in repo.branches.items()], "tags": [], "converts": []}
        if method == "POST" and len(rest) == 2 and rest[0] == "branch":
            return self._create_branch(repo_id, rest[1], json.loads(body or b"{}"), authorization)
        if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
            return self._preupload(repo_id, rest[1], json.loads(body or b"{}"), query, authorization)
        if method == "POST" and len(rest) == 2 and rest[0] == "commit":
            return self._commit(repo_id, rest[1], body, query, authorization)
        raise HubError(404, "Not found")

    def _info(self, repo_id, revision, query, authorization):
        repo = self._repo(repo_id, authorization)
        sha = self._resolve(repo, revision)
        blobs = query.get("blobs", [""])[0].lower() in ("1", "true")
        siblings = []
        for entry in self._entries(repo.commits[sha].files).values():
            if entry["type"] != "file":
                continue
            sibling = {"rfilename": entry["path"]}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    sibling["lfs"] = {"sha256": entry["lfs"]["oid"], "size": entry["lfs"]["size"],
                                      "pointerSize": entry["lfs"]["pointerSize"]}
            siblings.append(sibling)
        return 200, {}, {"_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                         "author": repo_id.split("/")[0], "sha": sha, "lastModified": "2024-01-01T00:00:00.000Z",
                         "createdAt": "2024-01-01T00:00:00.000Z", "private": repo.private, "gated": False,
                         "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings}

    def _tree(self, repo_id, revision, path, query, raw_path, authorization):
        repo = self._repo(repo_id, authorization)
        sha = self._resolve(repo, revision)
        entries = self._entries(repo.commits[sha].files)
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        if path and entries.get(path, {}).get("type") != "directory":
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound",
                           {"X-Repo-Commit": sha})
        prefix = f"{path}/" if path else ""
        listing = [e for p, e in entries.items() if p.startswith(prefix)
                   and (recursive or "/" not in p[len(prefix):])]
        start = int(query.get("cursor", ["0"])[0])
        page = listing[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(listing):
            params = {k: v[0] for k, v in query.items() if k != "cursor"}
            params["cursor"] = str(start + self.page_size)
            headers["Link"] = f'<{self.endpoint}{raw_path}?{urlencode(params)}>; rel="next"'
        return 200, headers, page

    def _resolve_file(self, repo_id, revision, path, authorization):
        repo = self._repo(repo_id, authorization)
        sha = self._resolve(repo, revision)
        files = repo.commits[sha].files
        if path not in files:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound", {"X-Repo-Commit": sha})
        data = files[path]
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if self.is_lfs(path):
            sha256 = hashlib.sha256(data).hexdigest()
            headers.update({"Location": f"{self.cdn_endpoint}/lfs/{sha256}", "X-Linked-Etag": f'"{sha256}"',
                            "X-Linked-Size": str(len(data)), "ETag": f'"{git_blob_sha1(lfs_pointer(data))}"'})
            return 302, headers, b"Found. Redirecting to the CDN"
        headers.update({"ETag": f'"{git_blob_sha1(data)}"', "Content-Type": "application/octet-stream"})
        return 200, headers, data

    def _create_repo(self, payload, authorization):
        if self.token is not None and authorization != f"Bearer {self.token}":
            raise HubError(401, "Invalid username or password.")
        if payload.get("type") not in (None, "model"):
            raise HubError(400, "FakeHub only hosts model repos")
        if not payload.get("organization"):
            raise HubError(400, "FakeHub needs 'namespace/name' repo ids")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.endpoint}/{repo_id}"
        with self._lock:
            if repo_id in self.repos:
                # like huggingface.co, the 409 body carries the url: create_repo(exist_ok=True) returns it
                raise HubError(409, "You already created this model repo", extra={"url": url})
            repo = self.add_repo(repo_id, private=payload.get("visibility") == "private")
            repo.branches["main"] = self._add_commit(repo, {".gitattributes": b"*.safetensors filter=lfs "
                                                                               b"diff=lfs merge=lfs -text\n"},
                                                     None, "initial commit")
        return 200, {}, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]}

    def _create_branch(self, repo_id, branch, payload, authorization):
        with self._lock:
            repo = self._repo(repo_id, authorization, write=True)
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = self._resolve(repo, payload.get("startingPoint") or "main")
        return 200, {}, {}

    def _preupload(self, repo_id, revision, payload, query, authorization):
        if query.get("create_pr"):
            raise HubError(400, "FakeHub does not support pull requests")
        with self._lock:
            repo = self._repo(repo_id, authorization, write=True)
            head = repo.commits[self._resolve(repo, revision)].files
            files = []
            for f in payload.get("files", []):
                existing = head.get(f["path"])
                files.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                              "oid": git_blob_sha1(existing) if existing is not None else None})
        return 200, {}, {"files": files, "commitOid": self._resolve(repo, revision)}

    def _commit(self, repo_id, revision, body, query, authorization):
        if query.get("create_pr"):
            raise HubError(400, "FakeHub does not support pull requests")
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with self._lock:
            repo = self._repo(repo_id, authorization, write=True)
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            parent = repo.branches[revision]
            if header.get("parentCommit") and not parent.startswith(header["parentCommit"]):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[parent].files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, "FakeHub only accepts base64 file contents")
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key == "lfsFile":
                    if value.get("oid") not in self.blobs:
                        raise HubError(422, f"LFS object {value.get('oid')} was not uploaded")
                    files[value["path"]] = self.blobs[value["oid"]]
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: d for p, d in files.items() if not p.startswith(prefix)}
                else:
                    raise HubError(400, f"FakeHub does not support commit operation {key!r}")
            sha = self._add_commit(repo, files, parent, header.get("summary", ""))
            repo.branches[revision] = sha
        return 200, {}, {"success": True, "commitOid": sha, "commitUrl": f"{self.endpoint}/{repo_id}/commit/{sha}",
                         "hookOutput": ""}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    role: str
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection does not hold its thread forever

    def log_message(self, format, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        split = urlsplit(self.path)
        authorization = self.headers.get("Authorization")
        body = self._body()
        try:
            status, headers, content = self.hub.handle(self.role, self.command, split.path, parse_qs(split.query),
                                                       body, authorization)
        except HubError as err:
            status, content = err.status, {"error": err.message, **err.extra}
            headers = {**err.headers, "X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
        except Exception as err:  # a bug in the fake: answer 500, never hang the client
            status, headers, content = 500, {"X-Error-Message": repr(err)}, {"error": repr(err)}
        if not isinstance(content, bytes):
            content = json.dumps(content).encode()
            headers.setdefault("Content-Type", "application/json")
        if status == 200 and self.command == "GET" and (rng := self.headers.get("Range", "")).startswith("bytes="):
            start, _, end = rng[len("bytes="):].partition("-")
            total = len(content)
            first, last = int(start or 0), min(int(end) if end else total - 1, total - 1)
            content = content[first:last + 1]
            status, headers["Content-Range"] = 206, f"bytes {first}-{last}/{total}"
        with self.hub._lock:
            self.hub.requests.append(Request(self.role, self.command, unquote(split.path), split.query, status,
                                             authorization))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve


__all__ = ["FakeHub", "Request", "git_blob_sha1", "read_folder"]
