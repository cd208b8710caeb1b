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


def remove_blue_green_files(project_dir: Path, blue_green_publishing: str) -> None:
    """Without blue/green publishing the clone-and-swap macros are dead code."""
    if blue_green_publishing != "yes":
        remove_paths(project_dir, BLUE_GREEN_FILES)


def main(answers: Mapping[str, str], project_dir: Path) -> None:
    remove_unused_ci_files(project_dir, answers["ci_provider"])
    remove_hybrid_files(project_dir, answers["dagster_plus_deployment_type"])
    remove_blue_green_files(project_dir, answers["blue_green_publishing"])


if __name__ == "__main__":
    main(json.loads(ANSWERS_JSON), Path.cwd())
    sys.exit(0)
