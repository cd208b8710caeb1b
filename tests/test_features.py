"""Optional features come and go whole after the bake: `make add-feature` / `make remove-feature`
for real, in a project baked without the feature, the way a team would run them.

The project is created with the real cruft CLI from a git copy of this template (the cruft tests'
sandbox: own HOME and git identity, no Python network access). Its own `make install` creates
its venv from uv.lock, with uv's cache of this machine (the suite's generated venv filled it).
After adding platform health the project must be the bake that had it from the start, load with
`make check-defs`, build it in `make run` and pass its tests; after removing it again, the
project must be what it was, with the feature's libraries gone from the venv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_cruft import Sandbox
from test_deploy_commands import interpreter_dir
from test_determinism import describe_differences, tree_snapshot

from conftest import _uv, assert_pytest_summary_all_passed

# The answers without the feature, and those of the bake that has it (BI_TOOL=mode), as the
# make targets give them to cruft (JSON booleans).
WITHOUT: dict[str, Any] = {"platform_health": False, "bi_tool": "none"}
WITH: dict[str, Any] = {"platform_health": True, "bi_tool": "mode"}
# What installing and running write, and .cruft.json (its context is compared on its own: cruft
# records the commit it rendered as `checkout`).
NOT_RENDERED = (".git", ".venv", ".dagster_home", ".env", "data", ".cruft.json")
NESTED_OUTPUT = ("dbt_project/target/", "dbt_project/logs/", "dbt_project/target", "dbt_project/logs")
# networkx is not among them: dbt-core needs it too.
FEATURE_LIBRARIES = ("scipy", "matplotlib", "github")


def template_files(project: Path) -> dict[str, Any]:
    """The project's files as the template rendered them (not what installs and runs wrote)."""
    return {
        path: entry
        for path, entry in tree_snapshot(project, ignore=NOT_RENDERED, modes=False).items()
        if not path.startswith(NESTED_OUTPUT) and "__pycache__" not in path
    }


def answers(project: Path) -> dict[str, Any]:
    context: dict[str, Any] = json.loads((project / ".cruft.json").read_text())["context"]
    return context


def importable(project: Path, module: str) -> bool:
    probe = [str(project / ".venv/bin/python"), "-c", f"import {module}"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.fixture
def feature_sandbox(tmp_path: Path) -> Sandbox:
    """The sandbox, with uv's cache and Python interpreters of this machine (not its HOME's)."""
    sandbox = Sandbox(tmp_path)
    real = subprocess.run([_uv(), "cache", "dir"], capture_output=True, text=True, check=True)
    sandbox.env |= {
        "UV_CACHE_DIR": real.stdout.strip(),
        "UV_PYTHON": str(Path(interpreter_dir("3.12")) / "python3.12"),
        "PATH": f"{Path(_uv()).parent}:{sandbox.env['PATH']}",
    }
    return sandbox


def make(sandbox: Sandbox, project: Path, *args: str, expect: int = 0) -> str:
    completed = sandbox.run(["make", *args, f"UV={_uv()}"], project, expect)
    return completed.stdout + completed.stderr


def test_platform_health_added_to_a_live_project_then_removed(feature_sandbox: Sandbox) -> None:
    sandbox = feature_sandbox
    template = sandbox.clone_template()
    project = sandbox.create(template, WITHOUT, "projects")
    before = template_files(project)
    make(sandbox, project, "install")
    assert not any(importable(project, module) for module in FEATURE_LIBRARIES)

    make(sandbox, project, "add-feature", "FEATURE=platform_health", "BI_TOOL=mode")
    # Exactly the project that answered yes at the prompt.
    fresh = sandbox.create(template, WITH, "fresh")
    assert describe_differences(template_files(project), template_files(fresh)) == []
    assert answers(project) == answers(fresh)
    assert all(importable(project, module) for module in FEATURE_LIBRARIES)
    assert "platform_health" in (project / "pyproject.toml").read_text()

    assert "All definitions loaded successfully" in make(sandbox, project, "check-defs")
    built = make(sandbox, project, "run")
    assert "platform_health/model_importance" in built, built[-3000:]
    tests = ["tests/example/platform_health", "tests/test_layers.py", "tests/test_definitions.py"]
    pytest_command = [str(project / ".venv/bin/pytest"), "-p", "no:cacheprovider", "-n", "2"]
    # Its tests talk to HTTP stand-ins on loopback: without the sandbox's no-network guard.
    suite = subprocess.run(
        [*pytest_command, *tests],
        cwd=project,
        env={k: v for k, v in sandbox.env.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
    )
    assert_pytest_summary_all_passed(suite.stdout, at_least=60)
    sandbox.commit(project, "Add platform health")

    make(sandbox, project, "remove-feature", "FEATURE=platform_health")
    assert describe_differences(template_files(project), before) == []
    assert answers(project)["cookiecutter"]["platform_health"] is False
    assert not any(importable(project, module) for module in FEATURE_LIBRARIES)
    assert "All definitions loaded successfully" in make(sandbox, project, "check-defs")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["FEATURE=slim_builds"], "add-feature: FEATURE: 'slim_builds' is not one of: "),
        ([], "add-feature: FEATURE: '' is not one of: platform_health blue_green_publishing"),
    ],
)
def test_an_unknown_feature_is_refused_in_one_line(
    feature_sandbox: Sandbox, args: list[str], error: str
) -> None:
    sandbox = feature_sandbox
    project = sandbox.create(sandbox.clone_template(), WITHOUT, "projects")
    output = make(sandbox, project, "add-feature", *args, expect=2)
    ours = [line for line in output.splitlines() if line.startswith("add-feature")]
    assert len(ours) == 1 and ours[0].startswith(error), output
    assert sandbox.git("status", "--porcelain", cwd=project) == ""
