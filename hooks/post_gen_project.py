"""Keep only the files the chosen options need.

A flat :func:`main` calls one small named function per option. Every step is deterministic,
idempotent (removing what is already gone is a no-op), offline, needs no git, and touches
nothing outside the generated folder: cruft runs this hook again in temporary folders on every
update, and any difference between runs would surface as a conflict.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANSWERS_JSON = r"""
{{ cookiecutter | jsonify }}
"""

GITHUB_FILES = (".github",)
GITLAB_FILES = (".gitlab-ci.yml",)
HYBRID_FILES = ("Dockerfile", ".dockerignore", "build.yaml")
BLUE_GREEN_FILES = (
    "dbt_project/macros/blue_green",
    "tests/example/test_blue_green.py",
    "tests/test_blue_green_snowflake_sql.py",
)

# The platform-health metapipeline: its component folder (definitions and logic), tests and docs
# ({package}: the project's Python package).
PLATFORM_HEALTH_FILES = (
    "src/{package}/defs/platform_health",
    "tests/example/platform_health",
    "docs/platform-health.md",
)
# Pull requests (PyGithub) or merge requests (python-gitlab), matching the CI provider.
GITHUB_CHANGE_REQUEST_FILES = (
    "src/{package}/defs/platform_health/lib/github_pull_requests.py",
    "tests/example/platform_health/test_github_pull_requests.py",
)
GITLAB_CHANGE_REQUEST_FILES = (
    "src/{package}/defs/platform_health/lib/gitlab_merge_requests.py",
    "tests/example/platform_health/test_gitlab_merge_requests.py",
)
# Each BI tool's adapter and its tests: kept only where it is the project's bi_tool (both share
# the HTTP helpers, kept where either is).
BI_TOOL_FILES = {
    "superset": (
        "src/{package}/defs/platform_health/lib/superset.py",
        "src/{package}/defs/platform_health/lib/rison.py",
        "tests/example/platform_health/test_superset_adapter.py",
    ),
    "mode": (
        "src/{package}/defs/platform_health/lib/mode.py",
        "tests/example/platform_health/test_mode.py",
        "tests/example/platform_health/test_mode_assets.py",
    ),
}
BI_HTTP_FILES = ("src/{package}/defs/platform_health/lib/http.py",)


def remove_paths(project_dir: Path, relative_paths: tuple[str, ...]) -> None:
    """Delete files or folders below ``project_dir``; refuse anything that escapes it."""
    root = project_dir.resolve()
    for relative in relative_paths:
        path = (root / relative).resolve()
        if root not in path.parents:
            raise ValueError(f"refusing to remove {relative!r}: outside {root}")
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def remove_unused_ci_files(project_dir: Path, ci_provider: str) -> None:
    """GitHub projects keep .github/, GitLab projects keep .gitlab-ci.yml."""
    remove_paths(project_dir, GITLAB_FILES if ci_provider == "github" else GITHUB_FILES)


def remove_hybrid_files(project_dir: Path, deployment_type: str) -> None:
    """Serverless deployments build their own image: no Dockerfile to maintain."""
    if deployment_type != "hybrid":
        remove_paths(project_dir, HYBRID_FILES)


def remove_blue_green_files(project_dir: Path, blue_green_publishing: bool) -> None:
    """Without blue/green publishing the clone-and-swap macros are dead code."""
    if not blue_green_publishing:
        remove_paths(project_dir, BLUE_GREEN_FILES)


def remove_platform_health_files(
    project_dir: Path, package: str, platform_health: bool, ci_provider: str, bi_tool: str
) -> None:
    """Without platform health its whole folder goes; with it, the other code host's opener and
    every BI adapter but the chosen one."""
    if not platform_health:
        unused = PLATFORM_HEALTH_FILES
    else:
        unused = GITLAB_CHANGE_REQUEST_FILES if ci_provider == "github" else GITHUB_CHANGE_REQUEST_FILES
        for tool, files in BI_TOOL_FILES.items():
            unused += files if tool != bi_tool else ()
        unused += BI_HTTP_FILES if bi_tool == "none" else ()
    remove_paths(project_dir, tuple(path.format(package=package) for path in unused))


def main(answers: Mapping[str, Any], project_dir: Path) -> None:
    remove_unused_ci_files(project_dir, answers["ci_provider"])
    remove_hybrid_files(project_dir, answers["dagster_plus_deployment_type"])
    remove_blue_green_files(project_dir, answers["blue_green_publishing"])
    remove_platform_health_files(
        project_dir,
        answers["project_slug"],
        answers["platform_health"],
        answers["ci_provider"],
        answers["bi_tool"],
    )


if __name__ == "__main__":
    main(json.loads(ANSWERS_JSON), Path.cwd())
    sys.exit(0)
