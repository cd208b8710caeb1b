"""SIGTERM and SIGINT stop a background ``make dev`` for real: promptly, and nothing left listening.

A background job of a non-interactive shell (``make dev &`` in a script, CI) starts with SIGINT
ignored, and Dagster gives SIGTERM whatever SIGINT has: ``dg dev`` ignored both, and ``make``
waited on it until a SIGKILL (the Makefile's ``dev`` now starts it through utils/interrupts.py).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from process_groups import (
    as_background_job,
    group_processes,
    kill_group,
    make,
    start,
    wait_for_exit,
    wait_until,
)

# Seconds for the UI to answer (dbt manifest, code server, webserver on a busy machine).
START_DEADLINE = 300
# Seconds from the signal to make's exit: dg dev itself gives each service up to 60 s to stop.
DEADLINE = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def graphql_answers(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": "{ version }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return "version" in json.load(response).get("data", {})
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [
        pytest.param(signal.SIGTERM, False, id="SIGTERM-to-make"),
        pytest.param(signal.SIGINT, True, id="SIGINT-to-group"),
    ],
)
def test_background_make_dev_stops(tmp_path: Path, signum: signal.Signals, to_group: bool) -> None:
    """``kill <pid of make>`` (make passes SIGTERM to dg dev), or ``kill -INT -<group>``."""
    port = free_port()
    log_path = tmp_path / "make-dev.log"
    command = make("dev", tmp_path / "home", f"DG_DEV_ARGS=--port {port} --host 127.0.0.1")
    with log_path.open("w") as log:
        process = start(as_background_job(command), log)
    try:
        wait_until(
            lambda: process.poll() is not None or graphql_answers(port),
            START_DEADLINE,
            "the UI answering (or make dev exiting)",
        )
        assert process.poll() is None, log_path.read_text()
        if to_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        code, seconds = wait_for_exit(process, DEADLINE)
        print(f"make dev exited {code} {seconds:.1f} s after {signum.name}")
        assert code != 0, log_path.read_text()
        assert not listening(port), "the UI still answers"
        wait_until(lambda: not group_processes(process.pid), DEADLINE, "every process gone")
    finally:
        kill_group(process)
