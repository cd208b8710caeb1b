"""SIGTERM and SIGINT stop a background ``make dev`` for real: promptly, and nothing left listening.

A background job of a non-interactive shell (``make dev &`` in a script, CI) starts with SIGINT
ignored, and Dagster gives SIGTERM whatever SIGINT has: ``dg dev`` ignored both, and ``make``
waited on it until a SIGKILL (the Makefile's ``dev`` now starts it through utils/interrupts.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from process_groups import (
    as_background_job,
    free_port,
    graphql,
    group_processes,
    kill_group,
    listening,
    make,
    start,
    wait_for_exit,
    wait_until,
)

# Seconds for the UI to answer (dbt manifest, code server, webserver on a busy machine).
START_DEADLINE = 300
# Seconds from the signal to make's exit: dg dev itself gives each service up to 60 s to stop.
DEADLINE = 90


def graphql_answers(port: int) -> bool:
    return "version" in (graphql(port, "{ version }") or {})


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
