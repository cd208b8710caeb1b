"""A throwaway clone of the project's repository: read files, commit changes, push a branch.

The git CLI does the work (what a person would run). A token, when the remote is https, travels
in an ``http.extraHeader`` set through ``GIT_CONFIG_*`` variables: never in a URL, an argument
list or the clone's config.

What it will not do, whatever the repository holds:

- rewrite a branch it did not create. Its branches are single commits on the base branch, each
  committed by its own identity with a ``Platform-Health-Change: <branch>`` trailer; a remote
  branch of the same name with any other commit since the base (a person's branch, or a
  person's commit on top of the bot's) is left as it is and reported. Its own branch is pushed
  with ``--force-with-lease`` on the head it just checked, so a commit pushed in between is kept.
- follow a symlink. Every path is opened one component at a time from the checkout's root with
  ``O_NOFOLLOW``: a symlinked folder or file (which could point anywhere on the machine running
  it) is refused and reported, for reads as for writes, and nothing is committed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

GIT_TIMEOUT_SECONDS = 300
# Marks a commit as platform health's own (with its committer identity): the one proof of
# ownership that survives on the remote, whatever the code host's API says about the branch.
CHANGE_TRAILER = "Platform-Health-Change"
DEFAULT_AUTHOR = ("Platform health", "platform-health@users.noreply.example.com")

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class GitError(RuntimeError):
    """A git command failed (its last line of output says why)."""


class UnsafePathError(GitError):
    """A path platform health refuses to read or write (the message says which and why)."""


def check_relative(path: str) -> str:
    """``path`` if it stays inside the repository's work tree, else a :class:`GitError`."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise GitError(f"refusing to write {path!r}: not a path inside the repository")
    if any(part.lower() == ".git" for part in pure.parts):
        # Inside the checkout but git's own (hooks, config): never a file to propose.
        raise GitError(f"refusing to write {path!r}: inside the repository's .git folder")
    return str(pure)


@dataclass(frozen=True)
class Commit:
    sha: str
    committer_email: str
    author: str
    subject: str
    change: str  # the Platform-Health-Change trailer's value ("" when absent)


@dataclass(frozen=True)
class RemoteBranch:
    """A branch on the remote: its head, and its commits that the base branch lacks."""

    head: str
    tree: str
    commits: tuple[Commit, ...]


@dataclass(frozen=True)
class Published:
    """What :meth:`GitCheckout.publish` did.

    ``commit`` is None when nothing was committed: either the changes make no difference to the
    base branch, or ``skipped`` says (one line each) which branch or path was refused and why.
    """

    commit: str | None
    pushed: bool = False
    skipped: tuple[str, ...] = ()


@dataclass
class GitCheckout:
    """``with GitCheckout(url, "main") as checkout: checkout.read(...); checkout.publish(...)``."""

    clone_url: str
    base_branch: str
    # Out of the repr: a traceback or a log line showing the checkout must not show the token.
    authorization: str | None = field(default=None, repr=False)
    author: tuple[str, str] = DEFAULT_AUTHOR
    # Paths read through a symlink (or otherwise refused), one line each: publish commits nothing
    # when a change was computed from a file it could not read safely.
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not shutil.which("git"):
            raise GitError("git is not installed here: platform health needs it to push branches")
        name, email = self.author
        self._env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        if self.authorization:
            self._env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: {self.authorization}",
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

    # --- files, never through a symlink ---------------------------------------------------------

    @contextmanager
    def _parent_directory(self, relative: str, create: bool) -> Iterator[tuple[int, str] | None]:
        """An fd of ``relative``'s folder opened component by component without following a
        symlink, and the file's name; None when a folder is missing and ``create`` is False."""
        parts = PurePosixPath(check_relative(relative)).parts
        fd = os.open(self.path, _DIRECTORY_FLAGS)
        try:
            for depth, part in enumerate(parts[:-1], start=1):
                try:
                    child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        yield None
                        return
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
                except OSError as error:
                    raise self._refusal(
                        relative, "/".join(parts[:depth]), fd, part, error
                    ) from None
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        finally:
            os.close(fd)

    def _refusal(
        self, relative: str, component: str, dir_fd: int, name: str, error: OSError
    ) -> UnsafePathError:
        """One line naming the refused path, the component at fault and why."""
        try:
            status = os.lstat(name, dir_fd=dir_fd)
        except OSError:
            status = None
        what = "it" if component == relative else component
        if status is not None and stat.S_ISLNK(status.st_mode):
            target = os.readlink(name, dir_fd=dir_fd)
            why = f"{what} is a symlink (to {target}); platform health never follows one"
        elif status is not None and component != relative and not stat.S_ISDIR(status.st_mode):
            why = f"{what} is not a folder"
        elif status is not None and component == relative and not stat.S_ISREG(status.st_mode):
            why = f"{what} is not a regular file"
        else:
            why = f"{what}: {os.strerror(error.errno or errno.EIO)}"
        return UnsafePathError(f"refused {relative}: {why}")

    def read(self, path: str) -> str | None:
        """The file's text, or None when absent or refused (the refusal is kept in ``refusals``)."""
        path = check_relative(path)
        try:
            with self._parent_directory(path, create=False) as found:
                if found is None:
                    return None
                fd, name = found
                try:
                    # O_NONBLOCK: a FIFO planted in the repository cannot hang the run.
                    file = os.open(name, os.O_RDONLY | os.O_NONBLOCK | _FILE_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    return None
                except OSError as error:
                    raise self._refusal(path, path, fd, name, error) from None
                with os.fdopen(file, encoding="utf-8") as opened:
                    if not stat.S_ISREG(os.fstat(opened.fileno()).st_mode):
                        raise UnsafePathError(f"refused {path}: it is not a regular file")
                    return opened.read()
        except UnsafePathError as refused:
            self.refusals.append(str(refused))
            return None

    def _write(self, path: str, text: str | None) -> None:
        path = check_relative(path)
        with self._parent_directory(path, create=text is not None) as found:
            if found is None:
                return  # deleting a file whose folder does not exist: nothing to do
            fd, name = found
            try:
                status = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                status = None
            if status is not None and not stat.S_ISREG(status.st_mode):
                raise self._refusal(path, path, fd, name, OSError(errno.ELOOP, ""))
            if text is None:
                if status is not None:
                    os.unlink(name, dir_fd=fd)
                return
            try:
                # O_NOFOLLOW again: a symlink appearing after the lstat is still never followed.
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _FILE_FLAGS
                file = os.open(name, flags, 0o644, dir_fd=fd)
            except OSError as error:
                raise self._refusal(path, path, fd, name, error) from None
            with os.fdopen(file, "w", encoding="utf-8") as opened:
                opened.write(text)

    # --- the branch, never someone else's -----------------------------------------------------

    def _commits(self, *revisions: str) -> tuple[Commit, ...]:
        # NUL between fields and SOH after each commit (git writes them for %x00 and %x01): the
        # str.strip() of the output would eat \x1e/\x1f, which Python counts as whitespace.
        fields = ["%H", "%ce", "%an <%ae>", "%s", f"%(trailers:key={CHANGE_TRAILER},valueonly)"]
        listed = self.git("log", f"--format={'%x00'.join(fields)}%x01", *revisions)
        commits = []
        for record in listed.split("\x01"):
            if record.strip():
                sha, email, author, subject, change = record.strip("\n").split("\x00")
                commits.append(Commit(sha, email, author, subject, change.strip()))
        return tuple(commits)

    def remote_branch(self, branch: str) -> RemoteBranch | None:
        """``branch`` on the remote with its commits since the base, or None if it does not exist."""
        listed = self.git("ls-remote", "--heads", "origin", f"refs/heads/{branch}")
        if not listed:
            return None
        head = listed.split()[0]
        try:
            # Only the commits the base branch lacks: what would be lost by rewriting the branch.
            self.git(
                "fetch",
                "--quiet",
                f"--shallow-exclude=refs/heads/{self.base_branch}",
                "origin",
                head,
            )
        except GitError:
            # The branch holds nothing beyond the base (git then selects no commit), or the
            # server cannot exclude: the head is judged alone (platform health only ever
            # commits on a fresh clone of the base, so below its own head is the base's history).
            self.git("fetch", "--quiet", "--depth", "1", "origin", head)
        commits = self._commits(head, "--not", f"refs/remotes/origin/{self.base_branch}")
        # A branch with no commit beyond the base is not one platform health made (each of its
        # runs commits one): judged by its head, a base commit, it is left alone.
        return RemoteBranch(
            head, self.git("rev-parse", head + "^{tree}"), commits or self._commits("-1", head)
        )

    def foreign_commit(self, branch: str, remote: RemoteBranch) -> Commit | None:
        """The first commit on ``remote`` since the base that platform health did not make."""
        email = self.author[1].lower()
        for commit in remote.commits:
            if commit.committer_email.lower() != email or commit.change != branch:
                return commit
        return None

    def publish(self, branch: str, changes: Mapping[str, str | None], message: str) -> Published:
        """Commit ``changes`` on ``branch`` (from the base) and push it if its content changed.

        Nothing is committed when a path was refused (reading or writing), and nothing is pushed
        over a branch platform health did not create or over a commit it has not seen.
        """
        for relative, text in sorted(changes.items()):
            try:
                self._write(relative, text)
            except UnsafePathError as refused:
                self.refusals.append(str(refused))
        if self.refusals:
            return Published(None, skipped=(*self.refusals, f"{branch}: nothing committed"))
        self.git("add", "--all")
        if not self.git("status", "--porcelain"):
            return Published(None)
        self.git("checkout", "--quiet", "-B", branch)
        self.git("commit", "--quiet", "--message", f"{message}\n\n{CHANGE_TRAILER}: {branch}")
        tree = self.git("rev-parse", "HEAD^{tree}")
        remote = self.remote_branch(branch)
        if remote is not None:
            foreign = self.foreign_commit(branch, remote)
            if foreign is not None:
                return Published(
                    None,
                    skipped=(
                        f"{branch}: left as it is: the remote branch holds commit "
                        f"{foreign.sha[:12]} by {foreign.author} ({foreign.subject!r}), not made "
                        "by platform health; delete or rename the branch to let it propose again",
                    ),
                )
            if remote.tree == tree:
                return Published(remote.head, pushed=False)
        expected = remote.head if remote else ""  # empty: the branch must not exist yet
        try:
            self.git(
                "push",
                "--quiet",
                f"--force-with-lease=refs/heads/{branch}:{expected}",
                "origin",
                f"HEAD:refs/heads/{branch}",
            )
        except GitError:
            now = self.git("ls-remote", "--heads", "origin", f"refs/heads/{branch}").split()
            if (now[0] if now else "") == expected:
                raise
            return Published(
                None,
                skipped=(
                    f"{branch}: left as it is: it moved on the remote while platform health was "
                    f"pushing (now {now[0][:12] if now else 'deleted'}, expected "
                    f"{expected[:12] or 'no branch'})",
                ),
            )
        return Published(self.git("rev-parse", "HEAD"), pushed=True)
