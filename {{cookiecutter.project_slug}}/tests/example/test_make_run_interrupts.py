"""Ctrl-C and SIGTERM stop ``make run`` for real: promptly, non-zero, and nothing left behind.

dagster-dbt 0.29.27 swallowed an interrupt landing while it prepared a dbt step (a bare
``except:``): the run went on and ``make run`` said it succeeded (resources.py has the
workaround). Each test starts the real ``make run`` on a warehouse and instance of its own, waits
until a dbt step is really under way, signals it, then checks that it exited non-zero within
DEADLINE, no process of it is left (dbt above all), the DuckDB file opens for writing, and the
instance has the run as failed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import dagster as dg
import duckdb

from process_groups import (
    as_background_job,
    group_processes,
    kill_group,
    make,
    start,
    wait_for_exit,
    wait_until,
)

# Seconds from the signal to make's exit: dbt needs ~10 s to start and stop here; a slow machine
# gets room, a hang does not pass.
DEADLINE = 60
# Seconds for `make run` to reach its first dbt step (loading the definitions, the raw assets).
START_DEADLINE = 300


def dbt_processes(pgid: int) -> list[str]:
    return [p for p in group_processes(pgid) if re.search(r"/dbt (build|run|snapshot)\b", p)]


def assert_stopped_cleanly(
    process: subprocess.Popen[str], log_path: Path, signum: signal.Signals, home: Path
) -> None:
    """make run, sent ``signum``, exits in time and non-zero, leaving no process, no lock and
    no run after the interrupted one."""
    code, seconds = wait_for_exit(process, DEADLINE)
    print(f"make run exited {code} {seconds:.1f} s after the signal")
    assert not dbt_processes(process.pid), "dbt outlived make run"
    wait_until(lambda: not group_processes(process.pid), DEADLINE, "every process gone")
    output = log_path.read_text()
    assert code != 0, output
    assert "succeeded" not in output, output
    assert f"INTERRUPTED by {signum.name}" in output, output
    warehouse = Path(os.environ["LOCAL_DUCKDB_PATH"])
    assert warehouse.is_file(), "the raw assets wrote nothing before the dbt step?"
    # Read-write: refused while any process (an orphaned dbt) still holds the file's lock.
    duckdb.connect(str(warehouse)).close()
    instance = dg.DagsterInstance.from_config(str(home))
    statuses = {run.job_name: run.status for run in instance.get_runs()}
    assert statuses, "no run recorded"
    assert set(statuses.values()) <= {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }, statuses
    assert statuses["local_unpartitioned"] in {
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }, statuses
    # Nothing ran after the interrupted run.
    assert set(statuses) == {"local_unpartitioned"}, statuses


def test_ctrl_c_while_a_dbt_step_starts(tmp_path: Path) -> None:
    """Ctrl-C in a terminal: SIGINT to the whole group (make, Python, dbt), sent as soon as
    dagster-dbt logs the dbt selection of the first dbt step, i.e. while it spends a few seconds
    building its adapter handle before dbt starts: where its bare except swallowed interrupts."""
    log_path = tmp_path / "make-run.log"
    with log_path.open("w") as log:
        process = start(make("run", tmp_path / "home"), log)
    try:
        wait_until(
            lambda: "dbt subsetted execution" in log_path.read_text(),
            START_DEADLINE,
            "a dbt step preparing dbt",
        )
        os.killpg(process.pid, signal.SIGINT)
        assert_stopped_cleanly(process, log_path, signal.SIGINT, tmp_path / "home")
    finally:
        kill_group(process)


def test_sigterm_to_a_background_make_run_while_dbt_builds(tmp_path: Path) -> None:
    """``kill <pid of make>`` on a background job (SIGINT ignored since it started): make passes
    SIGTERM to Python only, which must stop dbt itself; sent once dbt is running its models."""
    log_path = tmp_path / "make-run.log"
    with log_path.open("w") as log:
        process = start(as_background_job(make("run", tmp_path / "home")), log)
    try:
        wait_until(
            lambda: dbt_processes(process.pid) and " START sql " in log_path.read_text(),
            START_DEADLINE,
            "dbt building models",
        )
        process.send_signal(signal.SIGTERM)
        assert_stopped_cleanly(process, log_path, signal.SIGTERM, tmp_path / "home")
    finally:
        kill_group(process)
