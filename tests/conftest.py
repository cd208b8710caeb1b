"""Shared fixtures: bake projects with the real Cookiecutter, run them in one reusable venv.

The generated projects' heavy dependencies (Dagster, dbt, Snowflake connectors; ~1 GB) are
installed once per session into ``build/generated-venv`` (kept between local runs while the
dependency list is unchanged); each baked project is then installed into it editable with
``--no-deps``, which takes about a second.

``make test`` runs the test files on pytest-xdist workers (``--dist loadfile``: a file's module
fixtures stay on one worker), the files with the long end-to-end jobs first (``LONGEST_FIRST``).
The installed project is the one importable, so each worker has a venv of its own
(``build/generated-venv-gw0``, ...); what they share under build/ (the gitlab-ci-local install, a
seed for mypy's cache) is created under a file lock.

The venvs are not compiled at install: every process the suite starts writes the bytecode of what
it imports (``PYTHONDONTWRITEBYTECODE`` is dropped below), so each module is compiled once, on
first use, in the venvs where it is used. A generated project's ``make install`` still compiles
its venv whole, as it does for a user.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_DIR / "build"


def _template_snapshot() -> Path:
    """What the suite bakes from: scripts/template_snapshot.py's copy of the template (the files git
    would commit now), made once per process. Cookiecutter copies the whole template folder
    before every bake (it has a pre_prompt hook), and this repository's also holds build/ and
    .venv: gigabytes, which other workers write to while they would be copied."""
    spec = importlib.util.spec_from_file_location(
        "template_snapshot", REPO_DIR / "scripts" / "template_snapshot.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = Path(tempfile.mkdtemp(prefix="template-snapshot-"))
    atexit.register(shutil.rmtree, folder, True)
    return Path(module.snapshot(folder))


TEMPLATE_DIR = _template_snapshot()
# pytest-xdist names its workers gw0, gw1, ...; a plain `pytest` run has none.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
GENERATED_VENV = BUILD_DIR / (f"generated-venv-{WORKER}" if WORKER else "generated-venv")
GITLAB_CI_LOCAL_DIR = BUILD_DIR / "gitlab-ci-local"
MYPY_CACHE = BUILD_DIR / f"mypy-cache-{WORKER or 'main'}"
MYPY_CACHE_SEED = BUILD_DIR / "mypy-cache-seed"
# Each module compiled once, when first imported, by whichever process of the suite imports it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# What every command run in a generated project gets from this suite (`run`, gitlab-ci-local):
# - its pytest in one process: the generated default (-n auto) spends about 25% more CPU on
#   worker start-up and per-worker fixtures, and here this suite's other worker has the other core;
# - one mypy cache per worker of this suite: bakes differ in a few files, so after the first
#   bake mypy rechecks only those (it validates every cache entry against its file's hash).
GENERATED_COMMAND_ENV = {
    "PYTEST_ADDOPTS": "-n 0",
    "MYPY_CACHE_DIR": str(MYPY_CACHE),
}
# The test files holding the long end-to-end jobs, longest first (`--durations` of a full run: the
# PEX deploy, the GitLab CI job, the GitHub project's suite, the team's own dbt project, the
# images, the Superset server).
LONGEST_FIRST = (
    "test_deploy_commands.py",
    "test_ci_files.py",
    "test_generated_project.py",
    "test_own_dbt_project.py",
    "test_deploy_artifacts.py",
    "test_platform_health_superset.py",
)
DEFAULT_CONTEXT: dict[str, Any] = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
# How long a whole generated suite (or the CI job running it) may take before it counts as hung:
# a guard against hangs, not a budget, so about six times the longest measured here (the GitLab
# project's CI job, about 10 minutes on an idle 2-core machine, 14 on a busy one).
SUITE_TIMEOUT = 3600

# Every supported combination of choice options (cookiecutter-django style ids).
SUPPORTED_COMBINATIONS: list[dict[str, str]] = [
    {
        "ci_provider": "github",
        "dagster_plus_deployment_type": "serverless",
        "blue_green_publishing": "yes",
        "platform_health": "yes",
        "bi_tool": "none",
    },
    {
        "ci_provider": "github",
        "dagster_plus_deployment_type": "hybrid",
        "blue_green_publishing": "no",
        "platform_health": "yes",
        "bi_tool": "mode",
        "reclone_on_every_push": "yes",
    },
    {
        "ci_provider": "gitlab",
        "dagster_plus_deployment_type": "serverless",
        "blue_green_publishing": "no",
        "platform_health": "no",
        "bi_tool": "none",
        "reclone_on_every_push": "yes",
    },
    {
        "ci_provider": "gitlab",
        "dagster_plus_deployment_type": "hybrid",
        "blue_green_publishing": "yes",
        "platform_health": "yes",
        "bi_tool": "superset",
    },
]

# The two projects whose generated suites run for real: GitHub's in test_generated_project.py,
# GitLab's inside its CI test job under gitlab-ci-local (test_ci_files.py). Between them they
# cover both CI providers, both deployment types and both blue/green choices, and platform
# health with each BI adapter (each baked only where chosen): Mode for GitHub (its asset tests
# against a Mode stand-in), Superset for GitLab (unconfigured locally; the real Superset is
# test_platform_health_superset.py's).
GITHUB = {
    "ci_provider": "github",
    "blue_green_publishing": "yes",
    "dagster_plus_deployment_type": "serverless",
    "platform_health": "yes",
    "bi_tool": "mode",
}
GITLAB = {
    "ci_provider": "gitlab",
    "blue_green_publishing": "no",
    "dagster_plus_deployment_type": "hybrid",
    "platform_health": "yes",
    "bi_tool": "superset",
}


def combination_id(context: Mapping[str, str]) -> str:
    return "-".join(f"{key}:{value}" for key, value in context.items())


def bake(cookies: Any, **context: str) -> Path:
    """Bake with the real Cookiecutter and return the project folder (asserting success)."""
    result = cookies.bake(extra_context=context)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def venv_bin(venv: Path = GENERATED_VENV) -> Path:
    return venv / "bin"


def run(
    args: list[str] | str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command with the generated venv first on PATH and a clean Dagster/Snowflake env."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_CLOUD_", "SNOWFLAKE_", "DBT_", "LOCAL_", "SANDBOX_", "PYTEST_"))
    }
    base.update(GENERATED_COMMAND_ENV)
    base["PATH"] = f"{venv_bin()}{os.pathsep}{base.get('PATH', '')}"
    base.pop("VIRTUAL_ENV", None)
    completed = subprocess.run(
        args,
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(args, str),
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"{args!r} exited {completed.returncode}\n--- stdout\n{completed.stdout[-6000:]}"
            f"\n--- stderr\n{completed.stderr[-6000:]}"
        )
    return completed


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
PYTEST_SUMMARY = re.compile(r"\b(\d+) passed\b.* in \d")


def assert_pytest_summary_all_passed(output: str, at_least: int = 100) -> None:
    """The last pytest summary line in ``output`` (colours and CI prefixes allowed) reports at
    least ``at_least`` passes and nothing failed, errored or skipped."""
    summaries = [line for line in ANSI_ESCAPE.sub("", output).splitlines() if PYTEST_SUMMARY.search(line)]
    assert summaries, f"no pytest summary line in:\n{output[-3000:]}"
    summary = summaries[-1]
    assert not re.search(r"\d+ (failed|errors?|skipped|xfailed)\b", summary), summary
    passed = int(PYTEST_SUMMARY.search(summary).group(1))  # type: ignore[union-attr]
    assert passed >= at_least, summary


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is not installed: run the tests through `make test`"
    return found


def uv_sync_env(venv: Path) -> dict[str, str]:
    """Environment for ``uv sync`` into ``venv``: bytecode is written on first import (see the
    module's docstring), not compiled for all ~13,500 files at install (~28 s of CPU per venv)."""
    environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return {**environment, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_COMPILE_BYTECODE": "0"}


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default answers baked once, outside pytest-cookies, for session-wide reuse."""
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("default")
    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out)))


@pytest.fixture(scope="session")
def generated_venv(default_project: Path) -> Path:
    """A venv holding every locked generated-project dependency (``uv sync --locked``, as
    ``make install`` does, with every optional feature's group: one venv serves every bake),
    reused across tests and, while uv.lock is unchanged, across runs."""
    lock = (default_project / "uv.lock").read_text()
    python = (default_project / ".python-version").read_text().strip()
    digest = hashlib.sha256(f"{python}\n{lock}".encode()).hexdigest()
    stamp = GENERATED_VENV / ".uv-lock.sha256"
    if not (stamp.exists() and stamp.read_text() == digest):
        shutil.rmtree(GENERATED_VENV, ignore_errors=True)
        subprocess.run(
            [_uv(), "sync", "-q", "--locked", "--no-install-project", "--all-groups"],
            cwd=default_project,
            env=uv_sync_env(GENERATED_VENV),
            check=True,
        )
        stamp.write_text(digest)
    return GENERATED_VENV


def install_project(project: Path) -> None:
    """Make ``project`` the one importable in the generated venv (editable, no dependency work)."""
    subprocess.run(
        [
            _uv(),
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--python",
            str(venv_bin() / "python"),
            "-e",
            str(project),
        ],
        check=True,
    )


@pytest.fixture
def installed(generated_venv: Path) -> Iterator[Any]:
    """``installed(project)`` installs a baked project into the shared venv."""
    yield install_project


@contextlib.contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold ``build/.<name>.lock``: one pytest-xdist worker at a time creates what it guards."""
    BUILD_DIR.mkdir(exist_ok=True)
    with (BUILD_DIR / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pytest_configure(config: pytest.Config) -> None:
    """pytest-cookies' ``cookies`` bake the snapshot too (its ``--template`` defaults to ".")."""
    if config.option.template == ".":
        config.option.template = str(TEMPLATE_DIR)


# Cookiecutter 2.7 copies a template with a pre_prompt hook into tempfile.mkdtemp(prefix=
# "cookiecutter") and removes only the copy, never that folder (and nothing after a failed bake):
# each bake of the suite would leave one in the system's temp folder. The controller removes the
# ones made while the suite ran (workers finish first; they could still be baking otherwise).
_TEMP = Path(tempfile.gettempdir())
_COOKIECUTTER_TEMP = "cookiecutter*"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not WORKER:
        session.config.stash[_BEFORE] = set(_TEMP.glob(_COOKIECUTTER_TEMP))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if WORKER or _BEFORE not in session.config.stash:
        return
    for leftover in set(_TEMP.glob(_COOKIECUTTER_TEMP)) - session.config.stash[_BEFORE]:
        shutil.rmtree(leftover, ignore_errors=True)


_BEFORE = pytest.StashKey[set[Path]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``LONGEST_FIRST``'s files first, each file's tests in their own order. pytest-xdist hands
    out files in collection order (``--no-loadscope-reorder``; it would otherwise start with the
    files of most tests), so the long ones start at once and the short ones fill in at the end."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def mypy_cache() -> Iterator[Path]:
    """This worker's mypy cache (``MYPY_CACHE_DIR``), started from a copy of the first one any
    worker filled. A cold run is ~45 s, nearly all of it third-party modules every bake shares;
    mypy checks each cached module against its file's hash, so a copy made in another worker's
    venv is reused wherever the files match (~3 s). The workers never run mypy on one shared
    directory: concurrent runs race on its files (python/mypy#14521)."""
    with build_lock("mypy-cache"):
        if not MYPY_CACHE.exists() and MYPY_CACHE_SEED.exists():
            shutil.copytree(MYPY_CACHE_SEED, MYPY_CACHE)  # copy2 keeps the mtimes mypy validates
    yield MYPY_CACHE
    with build_lock("mypy-cache"):
        if MYPY_CACHE.exists() and not MYPY_CACHE_SEED.exists():
            partial = MYPY_CACHE_SEED.with_name(f"{MYPY_CACHE_SEED.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(MYPY_CACHE, partial)
            partial.rename(MYPY_CACHE_SEED)


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local and the Node 22 it needs, installed once under build/ (npm registry)."""
    with build_lock("gitlab-ci-local"):
        return _install_gitlab_ci_local()


def _install_gitlab_ci_local() -> Path:
    binary = GITLAB_CI_LOCAL_DIR / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(GITLAB_CI_LOCAL_DIR),
                "node@22",
                "gitlab-ci-local",
            ],
            check=True,
        )
    # gitlab-ci-local copies the project with rsync.
    if not shutil.which("rsync") and not (binary.parent / "rsync").exists():
        local_rsync(binary.parent)
    return binary.parent


# rsync and the libraries of it a Debian system may lack: fetched with Debian's own client.
RSYNC_PACKAGES = ("rsync", "libpopt0", "libxxhash0")


def local_rsync(bin_dir: Path) -> Path:
    """An ``rsync`` in ``bin_dir`` (on gitlab-ci-local's PATH) from Debian's packages, unpacked
    under build/ (``apt-get download``, ``dpkg -x``): nothing is installed on the machine."""
    root = GITLAB_CI_LOCAL_DIR / "rsync"
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", "-qq", *RSYNC_PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root / "files")], check=True)
    libraries = root / "files" / "usr" / "lib" / "x86_64-linux-gnu"
    wrapper = bin_dir / "rsync"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'LD_LIBRARY_PATH="{libraries}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}" '
        f'exec "{root / "files" / "usr" / "bin" / "rsync"}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper
