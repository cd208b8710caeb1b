"""Start ``make`` targets in a process group of their own, signal them, see what is left.

Shared by the tests that start real ``make run`` and ``make dev`` processes (the interrupt tests,
tests/example/test_local_instance.py). Every wait is on something observable with a generous
deadline (a machine twice as slow only waits longer).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

PROJECT = Path(__file__).resolve().parents[1]


def make(target: str, dagster_home: Path | None, *variables: str) -> list[str]:
    """``make TARGET`` with this test run's venv (``make test``'s .venv, or any other) and a
    throwaway instance (the Makefile would otherwise use the project's .dagster_home); None: the
    instance of the project make runs in (a copy's own)."""
    home = [] if dagster_home is None else [f"DAGSTER_HOME={dagster_home}"]
    return ["make", "--no-print-directory", target, f"VENV={sys.prefix}", *home, *variables]


def as_background_job(command: list[str]) -> list[str]:
    """``command`` started the way a non-interactive shell starts ``command &`` (a script, CI):
    with SIGINT ignored, which POSIX requires and every program it starts inherits."""
    return ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]


def start(command: list[str], log: IO[str], cwd: Path = PROJECT) -> subprocess.Popen[str]:
    """``command`` in a new session, so its group (pgid = its pid) holds everything it starts."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def group_processes(pgid: int) -> list[str]:
    """``pid args`` of every live process in group ``pgid`` (``ps``: Linux and macOS alike; -ww:
    whole command lines, which ps otherwise cuts at 80 columns when it writes to a pipe)."""
    listing = subprocess.run(
        ["ps", "-ww", "-A", "-o", "pgid=", "-o", "pid=", "-o", "stat=", "-o", "args="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(None, 3) for line in listing.splitlines()]
    return [
        f"{row[1]} {row[3] if len(row) > 3 else ''}"
        for row in rows
        if len(row) >= 3 and row[0] == str(pgid) and not row[2].startswith("Z")
    ]


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        time.sleep(0.2)


def wait_for_exit(process: subprocess.Popen[str], timeout: float) -> tuple[int, float]:
    """(exit status, seconds it took); the group is killed if it is still running by then."""
    began = time.monotonic()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise AssertionError(f"{process.args} still running {timeout} s after the signal") from None
    return code, time.monotonic() - began


def kill_group(process: subprocess.Popen[str]) -> None:
    """Leave nothing behind, whatever the test found (for a finally: clause)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def graphql(port: int, query: str) -> dict[str, Any] | None:
    """The ``data`` of the UI's answer to ``query``, or None while nothing answers."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = json.load(response).get("data")
    except OSError:
        return None
    return data if isinstance(data, dict) else None
