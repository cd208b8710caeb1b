"""Stand-ins for what tests cannot reach: hosted APIs (Mode, GitHub, GitLab) and a git remote.

A local HTTP server stands in for a hosted API nobody can run here: each test gives it routes,
``(METHOD, path) -> handler``, answering in the shapes the real API documents (or that its
client library's own request code expects), and the server records every request (method,
path, query, JSON body) so tests assert exactly what was sent. The git remote is a real bare
repository on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None  # sent as is (malformed JSON), instead of ``body``
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


class StandIn:
    def __init__(self, routes: dict[tuple[str, str], Handler]) -> None:
        self.routes = routes
        self.requests: list[Request] = []
        self.url = ""

    def calls(self) -> list[tuple[str, str]]:
        """(METHOD, path) of every request, in order."""
        return [(r.method, r.path) for r in self.requests]


def _handler_class(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode()
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                body,
                {k.lower(): v for k, v in self.headers.items()},
            )
            stand_in.requests.append(request)
            route = stand_in.routes.get((self.command, parts.path))
            reply = route(request) if route else Reply(404, {"message": "Not Found"})
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(routes: dict[tuple[str, str], Handler]) -> Iterator[StandIn]:
    """Serve ``routes`` on 127.0.0.1 (a free port) for the ``with`` block."""
    stand_in = StandIn(routes)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    # shutdown() returns at the loop's next poll: 0.5 s after the block by default, 0.05 s here.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (an API that is down)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}"


# --- a real git remote on disk ------------------------------------------------------------------

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


# Someone who is not platform health: their commits must never be pushed over.
PERSON = ("Jane Doe", "jane@example.com")


def git(*args: str, cwd: Path, identity: tuple[str, str] | None = None) -> str:
    who = (
        {
            "GIT_AUTHOR_NAME": identity[0],
            "GIT_AUTHOR_EMAIL": identity[1],
            "GIT_COMMITTER_NAME": identity[0],
            "GIT_COMMITTER_EMAIL": identity[1],
        }
        if identity
        else GIT_IDENTITY
    )
    completed = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **who},
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def remote_repository(root: Path, files: Mapping[str, str]) -> Path:
    """A bare repository (the "remote") whose ``main`` holds ``files``; returns its path."""
    work, bare = root / "work", root / "remote.git"
    work.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    for relative, text in files.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--message", "Initial commit", cwd=work)
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=root)
    return bare


def push_commit(
    bare: Path,
    branch: str,
    *,
    start: str | None = None,
    files: Mapping[str, str | None] | None = None,
    symlinks: Mapping[str, Path] | None = None,
    message: str = "A person's commit",
    identity: tuple[str, str] = PERSON,
) -> str:
    """What a person does: clone, commit on ``branch`` (from ``start``; default: the branch, or
    main when it does not exist) and push without force. ``files`` maps paths to text (None
    deletes a file or folder), ``symlinks`` paths to what they point at. Returns the commit."""
    work = Path(tempfile.mkdtemp(prefix="person-", dir=bare.parent))
    git("clone", "--quiet", str(bare), str(work), cwd=bare.parent)
    exists = bool(git("ls-remote", "--heads", "origin", branch, cwd=work))
    git(
        "checkout",
        "--quiet",
        "-B",
        branch,
        f"origin/{start or (branch if exists else 'main')}",
        cwd=work,
    )
    for relative, text in (files or {}).items():
        path = work / relative
        if text is None and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for relative, target in (symlinks or {}).items():
        path = work / relative
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.symlink_to(target)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=work, identity=identity)
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def branch_file(bare: Path, branch: str, path: str) -> str | None:
    """``path`` on ``branch`` of the bare repository (None when absent)."""
    try:
        return git("show", f"{branch}:{path}", cwd=bare) + "\n"
    except subprocess.CalledProcessError:
        return None


def branch_head(bare: Path, branch: str) -> str | None:
    listed = git("branch", "--list", branch, cwd=bare)
    return git("rev-parse", branch, cwd=bare) if listed else None


def dbt_project_files(dbt_project_dir: Path, prefix: str = "dbt_project") -> dict[str, str]:
    """The project's dbt sources (no build output), as the repository holds them."""
    skipped = {"target", "logs", "dbt_packages"}
    return {
        f"{prefix}/{path.relative_to(dbt_project_dir).as_posix()}": path.read_text()
        for path in sorted(dbt_project_dir.rglob("*"))
        if path.is_file()
        and not skipped & set(path.relative_to(dbt_project_dir).parts)
        and path.suffix in {".sql", ".yml", ".yaml", ".md"}
    }
