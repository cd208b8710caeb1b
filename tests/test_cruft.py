"""Upgrades with the real cruft CLI, offline, against git copies of this template.

cruft renders a template's *committed* history, so every test clones this repository (its
committed HEAD, whatever the working tree holds) into a temporary folder and commits template
changes there. Each test runs in a sandbox: its own HOME and git config, git limited to local
file transport, and a ``sitecustomize`` that makes any Python socket connection fail, so a hook
that reached for the network would fail the test. Afterwards the sandbox must hold nothing but
what the test made: hooks may not write outside the folder they render into.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import DEFAULT_CONTEXT, SUPPORTED_COMBINATIONS, TEMPLATE_DIR
from test_determinism import describe_differences, tree_snapshot

TOOLS = Path(sys.executable).parent  # cruft and cookiecutter from the test environment
CHANGELOG = TEMPLATE_DIR / "CHANGELOG.md"
SLUG = DEFAULT_CONTEXT["project_name"].lower().replace(" ", "_")
NO_NETWORK = '''"""Installed by the template's cruft tests: any Python network connection fails."""
import socket


def _refuse(self, address, *args, **kwargs):
    raise OSError(f"network access during a template test: {address!r}")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''
# A module a team adds next to the template's own code: an update must leave it alone.
TEAM_ASSETS = '''import dagster as dg


@dg.asset
def team_metric() -> int:
    return 42
'''
TEAM_GITIGNORE = "\n# my team\nscratch/\n"


class Sandbox:
    """A temporary world for cruft: private HOME, git identity and no network."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        guard = root / "no-network"
        guard.mkdir()
        (guard / "sitecustomize.py").write_text(NO_NETWORK)
        (root / "gitconfig").write_text("")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON"))},
            "HOME": str(self.home),
            "PYTHONPATH": str(guard),
            "GIT_CONFIG_GLOBAL": str(root / "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": "file",
            "GIT_AUTHOR_NAME": "Template Tests",
            "GIT_AUTHOR_EMAIL": "template-tests@example.com",
            "GIT_COMMITTER_NAME": "Template Tests",
            "GIT_COMMITTER_EMAIL": "template-tests@example.com",
        }

    def run(self, args: list[str], cwd: Path, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        if expect is not None and completed.returncode != expect:
            raise AssertionError(
                f"{args} exited {completed.returncode}, expected {expect}\n"
                f"--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
            )
        return completed

    def git(self, *args: str, cwd: Path) -> str:
        return self.run(["git", *args], cwd).stdout.strip()

    def cruft(self, *args: str, cwd: Path, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        return self.run([str(TOOLS / "cruft"), *args], cwd, expect)

    def clone_template(self) -> Path:
        """This repository's committed history; uncommitted work in progress is not part of it."""
        template = self.root / "template"
        self.git("clone", "--quiet", str(TEMPLATE_DIR), str(template), cwd=self.root)
        return template

    def create(self, template: Path, answers: Mapping[str, str], into: str, *checkout: str) -> Path:
        """``cruft create`` then commit, as a team would right after generating."""
        out = self.root / into
        self.cruft(
            "create", "--no-input", "--output-dir", str(out),
            "--extra-context", json.dumps(dict(answers)), *checkout, str(template),
            cwd=self.root,
        )
        project = out / SLUG
        self.git("init", "--quiet", "--initial-branch=main", cwd=project)
        self.commit(project, "Generate from the template")
        return project

    def commit(self, repo: Path, message: str) -> None:
        self.git("add", "--all", cwd=repo)
        self.git("commit", "--quiet", "--message", message, cwd=repo)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def make_typical_user_edits(project: Path) -> None:
    """What teams do on day one: their own asset module and a tweak to an existing file."""
    team = project / "src" / SLUG / "defs" / "my_team"
    team.mkdir(parents=True)
    (team / "__init__.py").write_text("")
    (team / "assets.py").write_text(TEAM_ASSETS)
    with (project / ".gitignore").open("a") as gitignore:
        gitignore.write(TEAM_GITIGNORE)


def assert_update_applied_cleanly(project: Path, fresh: Path) -> None:
    """No conflict left behind, and every template file now matches a fresh render."""
    leftovers = [p.name for p in project.rglob("*") if p.suffix in {".rej", ".orig"}]
    assert leftovers == []
    markers = [
        str(p) for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts and b"\n<<<<<<< " in p.read_bytes()
    ]
    assert markers == []
    assert (project / "src" / SLUG / "defs" / "my_team" / "assets.py").read_text() == TEAM_ASSETS
    assert (project / ".gitignore").read_text() == (fresh / ".gitignore").read_text() + TEAM_GITIGNORE
    user_paths = {".gitignore", *(f"src/{SLUG}/defs/my_team{p}" for p in ("", "/__init__.py", "/assets.py"))}
    ours = {p: e for p, e in tree_snapshot(project, modes=False).items() if p not in user_paths}
    theirs = {p: e for p, e in tree_snapshot(fresh, modes=False).items() if p not in user_paths}
    assert describe_differences(ours, theirs) == []


def change_template(template: Path) -> str:
    """A template release: touch the Makefile and the CI files (GitHub's ``${{ }}`` included)."""
    generated = template / "{{cookiecutter.project_slug}}"
    targets = [generated / "Makefile", *sorted((generated / ".github").rglob("*.yml"))]
    targets += [p for p in [generated / ".gitlab-ci.yml"] if p.exists()]
    for path in targets:
        with path.open("a") as handle:
            handle.write("# Changed by a newer template release.\n")
    return "# Changed by a newer template release."


def assert_sandbox_untouched(sandbox: Sandbox, expected: set[str]) -> None:
    """Hooks and cruft wrote only into the output folders: nothing in HOME, nothing beside them."""
    assert sorted(p.name for p in sandbox.root.iterdir()) == sorted(
        {"home", "no-network", "gitconfig", "template", *expected}
    )
    assert list(sandbox.home.iterdir()) == []


ONE_PER_CI_PROVIDER = {c["ci_provider"]: c for c in reversed(SUPPORTED_COMBINATIONS)}


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
def test_update_round_trip_keeps_user_edits(sandbox: Sandbox, ci_provider: str) -> None:
    answers = ONE_PER_CI_PROVIDER[ci_provider]
    template = sandbox.clone_template()
    project = sandbox.create(template, answers, "projects")
    # A fresh render of the same commit is what the project holds: hooks re-run identically.
    sandbox.cruft("diff", "--exit-code", cwd=project)
    make_typical_user_edits(project)
    sandbox.commit(project, "Our own assets")

    marker = change_template(template)
    sandbox.commit(template, "Template release")
    new_commit = sandbox.git("rev-parse", "HEAD", cwd=template)

    behind = sandbox.cruft("check", cwd=project, expect=1)
    assert "out of date" in behind.stdout
    sandbox.cruft("update", "--skip-apply-ask", cwd=project)

    assert marker in (project / "Makefile").read_text()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    fresh = sandbox.create(template, answers, "fresh")
    assert_update_applied_cleanly(project, fresh)
    sandbox.commit(project, "Update from the template")
    sandbox.cruft("check", cwd=project)
    assert sandbox.git("status", "--porcelain", cwd=template) == ""
    assert_sandbox_untouched(sandbox, {"projects", "fresh"})
