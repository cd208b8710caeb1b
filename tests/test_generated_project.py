"""Install a baked project for real and run its own toolchain: tests, lint, types, definitions.

The GitHub project (blue/green on, serverless) runs everything here. The GitLab project (blue/green
off, hybrid) runs the same toolchain (`make lint`, `make test`, `dbt parse`, `make check-defs`)
inside its real CI test job under gitlab-ci-local (test_ci_files.py), so the ~1 GB environment's
slowest work is paid for once per combination, not twice. Both share the session's venv.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import GITHUB, SUITE_TIMEOUT, _uv, assert_pytest_summary_all_passed, run


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, generated_venv: Path) -> Path:
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE_DIR, install_project

    out = tmp_path_factory.mktemp(GITHUB["ci_provider"])
    path = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=GITHUB))
    install_project(path)
    run(["dagster-dbt", "project", "prepare-and-package", "--file", "src/acme_data/dbt_project.py"], cwd=path)
    return path


@pytest.mark.slow
def test_generated_test_suite_passes(project: Path) -> None:
    # UV: the uv `make install` would use (tests/test_docs.py reads uv's own help); none is on PATH.
    pytest = ["pytest", "-q", "-p", "no:cacheprovider", "-x"]
    result = run(pytest, cwd=project, env={"UV": _uv()}, timeout=SUITE_TIMEOUT)
    assert_pytest_summary_all_passed(result.stdout)


@pytest.mark.slow
def test_definitions_validate(project: Path) -> None:
    result = run(["dagster", "definitions", "validate", "-m", "acme_data.definitions"], cwd=project)
    assert "Validation successful" in result.stdout + result.stderr


@pytest.mark.slow
def test_dg_lists_every_asset(project: Path) -> None:
    import json

    result = run(["dg", "list", "defs", "--json"], cwd=project)
    listed = json.loads(result.stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    assert keys == {
        f"production/{schema}/{name}"
        for schema, names in {
            "hackernews": ("items", "comments", "stories"),
            "staging": ("stg_comments", "stg_stories"),
            "intermediate": ("int_comments", "int_stories"),
            "snapshots": ("story_scores",),
            "analytics": ("author_activity", "story_rankings"),
            "platform_health": (
                "platform_graph",
                "stale_reports",
                "unused_models",
                "model_importance",
                "model_count_history",
                "exposures_change_request",
                "unused_models_change_request",
            ),
        }.items()
        for name in names
    }
    # Locally the clone jobs and the slim branch build are there to try (production has no slim
    # build); the production-only sweeper schedule is not.
    assert {job["name"] for job in listed["jobs"]} == {
        "clone_prod",
        "drop_prod_clone",
        "dbt_slim_branch_build",
        "daily_partitioned_job",
        "dbt_hourly_tests_job",
        "dbt_models_job",
        "platform_health_job",
    }
    assert {schedule["name"] for schedule in listed["schedules"]} == {
        "daily_partitioned_schedule",
        "dbt_hourly_tests_schedule",
        "dbt_models_daily_schedule",
        "platform_health_weekly_schedule",
    }


@pytest.mark.slow
@pytest.mark.usefixtures("mypy_cache")
@pytest.mark.parametrize("command", [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]])
def test_lint_and_types_clean(project: Path, command: list[str]) -> None:
    run(command, cwd=project)


def readme_quickstart(project: Path) -> list[str]:
    """The commands of the README's first shell block, in order ("From clone to a running
    pipeline"), without their comments."""
    block = re.search(r"```bash\n(.*?)\n```", (project / "README.md").read_text(), re.S)
    assert block, "README.md has no bash block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def serve_until_answering(command: list[str], cwd: Path, port: int, timeout: float = 300) -> None:
    """Start a server (``make dev``), wait until it answers on ``port``, then stop it."""
    server = subprocess.Popen(
        command,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER", "VIRTUAL_ENV"))},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert server.poll() is None, f"{command} exited {server.returncode}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=10):
                    return
            except OSError:
                time.sleep(2)
        raise AssertionError(f"{command} did not answer on port {port} in {timeout} s")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


@pytest.mark.slow
def test_readme_quickstart_runs_in_order(project: Path, generated_venv: Path) -> None:
    """The README's first commands as a user types them (the shared venv standing in for .venv):
    install, run (which fills the warehouse and the local instance), then the UI answers."""
    commands = readme_quickstart(project)
    assert commands == ["make install", "make run", "make dev"]
    venv = f"VENV={generated_venv}"
    run(["make", "install", venv], cwd=project, timeout=900)
    result = run(["make", "run", venv], cwd=project, timeout=900)
    assert "Local pipeline succeeded." in result.stdout
    for table in (
        "hackernews.items",
        "hackernews.comments",
        "hackernews.stories",
        "analytics.story_rankings",
        "platform_health.platform_graph",
        "platform_health.unused_models",
        "platform_health.model_importance",
    ):
        assert table in result.stdout
    assert (project / "data" / "local.duckdb").is_file()
    assert (project / ".dagster_home" / "history" / "runs.db").is_file(), "make run recorded no run"
    port = free_port()
    serve_until_answering(["make", "dev", venv, f"DG_DEV_ARGS=--port {port} --host 127.0.0.1"], project, port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
