"""A throwaway clone of the project's repository: read files, commit changes, push a branch.

The git CLI does the work (what a person would run). A token, when the remote is https, travels
in an ``http.extraHeader`` set through ``GIT_CONFIG_*`` variables: never in a URL, an argument
list or the clone's config. The branch is the bot's own: it is force-pushed, and only when its
content would change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType

GIT_TIMEOUT_SECONDS = 300


class GitError(RuntimeError):
    """A git command failed (its last line of output says why)."""


def check_relative(path: str) -> str:
    """``path`` if it stays inside the repository, else a :class:`GitError`."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise GitError(f"refusing to write {path!r}: not a path inside the repository")
    return str(pure)


class GitCheckout:
    """``with GitCheckout(url, "main") as checkout: checkout.read(...); checkout.publish(...)``."""

    def __init__(
        self,
        clone_url: str,
        base_branch: str,
        authorization: str | None = None,
        author: tuple[str, str] = ("Platform health", "platform-health@users.noreply.example.com"),
    ) -> None:
        if not shutil.which("git"):
            raise GitError("git is not installed here: platform health needs it to push branches")
        self.clone_url = clone_url
        self.base_branch = base_branch
        name, email = author
        self._env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        if authorization:
            self._env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: {authorization}",
                }
            )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.path = Path()

    def git(self, *args: str, cwd: Path | None = None) -> str:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd or self.path,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
        if completed.returncode != 0:
            lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
            raise GitError(f"git {args[0]} failed: {lines[-1]}")
        return completed.stdout.strip()

    def __enter__(self) -> GitCheckout:
        self._tmp = tempfile.TemporaryDirectory(prefix="platform-health-")
        self.path = Path(self._tmp.name) / "repository"
        self.git(
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            self.base_branch,
            self.clone_url,
            str(self.path),
            cwd=Path(self._tmp.name),
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._tmp:
            self._tmp.cleanup()

    def read(self, path: str) -> str | None:
        file = self.path / check_relative(path)
        return file.read_text() if file.is_file() else None

    def remote_branch_tree(self, branch: str) -> str | None:
        """Tree id of ``branch`` on the remote, or None if it does not exist."""
        if not self.git("ls-remote", "--heads", "origin", branch):
            return None
        self.git("fetch", "--quiet", "--depth", "1", "origin", f"refs/heads/{branch}")
        return self.git("rev-parse", "FETCH_HEAD^{tree}")

    def publish(
        self, branch: str, changes: Mapping[str, str | None], message: str
    ) -> tuple[str | None, bool]:
        """Commit ``changes`` on ``branch`` (from the base) and push it if its content changed.

        Returns ``(commit, pushed)``; commit is None when the changes make no difference to the
        base branch (nothing to propose).
        """
        for relative, text in sorted(changes.items()):
            file = self.path / check_relative(relative)
            if text is None:
                if file.exists():
                    file.unlink()
            else:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text)
        self.git("add", "--all")
        if not self.git("status", "--porcelain"):
            return None, False
        self.git("checkout", "--quiet", "-B", branch)
        self.git("commit", "--quiet", "--message", message)
        tree = self.git("rev-parse", "HEAD^{tree}")
        if self.remote_branch_tree(branch) == tree:
            return self.git("rev-parse", "FETCH_HEAD"), False
        self.git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return self.git("rev-parse", "HEAD"), True
