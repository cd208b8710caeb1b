"""A run started with plain ``dg launch`` shows in ``make dev``'s UI: one local instance for all.

Dagster's CLI reads ``.env`` before it opens its instance, and ``make instance`` (``make dev`` and
``make run`` too) writes the project's ``.dagster_home`` there. Everything happens in a copy of the
project, so the checkout's own ``.env`` and ``.dagster_home`` are never touched: there ``make
instance`` mends a ``.env`` written by a team, ``dg launch`` runs an asset with no
``DAGSTER_HOME`` in its environment, and ``make dev`` must list that very run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

from {{ cookiecutter.project_slug }}.defs.ingestion.hackernews import items
from process_groups import (
    PROJECT,
    free_port,
    graphql,
    group_processes,
    kill_group,
    make,
    start,
    wait_for_exit,
    wait_until,
)

# Seconds for `dg launch` to load the definitions and run one asset, and for `make dev`'s UI to
# answer; then for it to stop (dg dev gives each service up to 60 s).
START_DEADLINE = 300
DEADLINE = 90
# Local state a checkout accumulates, none of which a copy needs (LOCAL_DUCKDB_PATH is the
# test's own warehouse).
LOCAL_STATE = shutil.ignore_patterns(
    *(".git", ".venv", ".uv", ".env", ".dagster_home", ".tmp_dagster_home*", "*.duckdb*"),
    *("dist", "build", "logs", "__pycache__", ".*_cache"),
)
RUNS = "{ runsOrError { ... on Runs { results { runId } } } }"


def copy_of_project(destination: Path) -> Path:
    """The checkout without its local state, but with its parsed manifest (copied with their
    times, so `make dev` finds it current and parses nothing)."""

    def ignored(directory: str, names: list[str]) -> set[str]:
        skipped = set(LOCAL_STATE(directory, names))
        if Path(directory).name == "target":  # dbt's: only the manifest
            skipped |= {name for name in names if name != "manifest.json"}
        return skipped

    return Path(shutil.copytree(PROJECT, destination, ignore=ignored))


def test_dg_launch_run_shows_in_make_dev(tmp_path: Path) -> None:
    project = copy_of_project(tmp_path / "project")
    home = project / ".dagster_home"
    # A team's .env, with the line of a checkout that has since moved.
    (project / ".env").write_text("SNOWFLAKE_USER=someone\nDAGSTER_HOME=/moved/.dagster_home\n")
    subprocess.run(make("instance", None), cwd=project, check=True)
    assert (project / ".env").read_text().splitlines() == [
        "SNOWFLAKE_USER=someone",
        'DAGSTER_HOME="${LOCAL_DAGSTER_HOME:-' + str(home) + '}"',
    ]
    assert (home / "dagster.yaml").is_file()

    environment = {name: value for name, value in os.environ.items() if name != "DAGSTER_HOME"}
    selection = f'key:"{items.key.to_user_string()}"'
    launched = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "launch", "--assets", selection],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=START_DEADLINE,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]

    port = free_port()
    log_path = tmp_path / "make-dev.log"
    with log_path.open("w") as log:
        process = start(
            make("dev", None, f"DG_DEV_ARGS=--port {port} --host 127.0.0.1"), log, project
        )
    try:
        wait_until(
            lambda: process.poll() is not None or runs[0].run_id in listed_runs(port),
            START_DEADLINE,
            "the UI listing the run dg launch started (or make dev exiting)",
        )
        assert process.poll() is None, log_path.read_text()
        os.killpg(process.pid, signal.SIGINT)
        code, _ = wait_for_exit(process, DEADLINE)
        assert code != 0, log_path.read_text()
        wait_until(lambda: not group_processes(process.pid), DEADLINE, "every process gone")
    finally:
        kill_group(process)


def listed_runs(port: int) -> set[str]:
    results = ((graphql(port, RUNS) or {}).get("runsOrError") or {}).get("results") or []
    return {run["runId"] for run in results}
