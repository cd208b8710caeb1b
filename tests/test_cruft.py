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
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from test_determinism import describe_differences, tree_snapshot

from conftest import DEFAULT_CONTEXT, REPO_DIR, SUITE_TIMEOUT, SUPPORTED_COMBINATIONS

TOOLS = Path(sys.executable).parent  # cruft and cookiecutter from the test environment
CHANGELOG = REPO_DIR / "CHANGELOG.md"
SLUG = DEFAULT_CONTEXT["project_name"].lower().replace(" ", "_")
NO_NETWORK = '''"""Installed by the template's cruft tests: any Python network connection fails."""
import socket


def _refuse(self, address, *args, **kwargs):
    raise OSError(f"network access during a template test: {address!r}")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''
# A module a team adds next to the template's own code: an update must leave it alone.
TEAM_ASSETS = """import dagster as dg


@dg.asset
def team_metric() -> int:
    return 42
"""
TEAM_GITIGNORE = "\n# my team\nscratch/\n"
TEAM_README = "\n## My team\n\nOur own assets live in `defs/my_team`.\n"
# Sections teams append to files the template ships (release 0.0.1 had no README.md).
EVERY_RELEASE_APPENDS = {".gitignore": TEAM_GITIGNORE}
CURRENT_APPENDS = {**EVERY_RELEASE_APPENDS, "README.md": TEAM_README}
CONFLICT_MARKER = re.compile(rb"(^|\n)<<<<<<< ")


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
        # cruft renders into temporary folders: keep them here, where leftovers can be seen.
        self.tmp = root / "tmp"
        self.tmp.mkdir()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTHON"))},
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
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
        # A guard against hangs, not a budget: test_features runs `make install` and `make run` here.
        completed = subprocess.run(
            args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=SUITE_TIMEOUT
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
        self.git("clone", "--quiet", str(REPO_DIR), str(template), cwd=self.root)
        return template

    def create(self, template: Path, answers: Mapping[str, str], into: str, *checkout: str) -> Path:
        """``cruft create`` then commit, as a team would right after generating."""
        out = self.root / into
        self.cruft(
            "create",
            "--no-input",
            "--output-dir",
            str(out),
            "--extra-context",
            json.dumps(dict(answers)),
            *checkout,
            str(template),
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


def make_typical_user_edits(project: Path, appends: Mapping[str, str]) -> None:
    """What teams do on day one: their own asset module, and sections added to template files."""
    team = project / "src" / SLUG / "defs" / "my_team"
    team.mkdir(parents=True)
    (team / "__init__.py").write_text("")
    (team / "assets.py").write_text(TEAM_ASSETS)
    for name, section in appends.items():
        with (project / name).open("a") as handle:
            handle.write(section)


def assert_update_applied_cleanly(
    sandbox: Sandbox, project: Path, fresh: Path, appends: Mapping[str, str]
) -> None:
    """No conflict left behind, and every template file now matches a fresh render."""
    assert sandbox.git("diff", "--name-only", "--diff-filter=U", cwd=project) == ""
    leftovers = [p.name for p in project.rglob("*") if p.suffix in {".rej", ".orig"}]
    assert leftovers == []
    markers = [
        str(p)
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts and CONFLICT_MARKER.search(p.read_bytes())
    ]
    assert markers == []
    assert (project / "src" / SLUG / "defs" / "my_team" / "assets.py").read_text() == TEAM_ASSETS
    for name, section in appends.items():
        assert (project / name).read_text() == (fresh / name).read_text() + section, name
    user_paths = {
        *appends,
        *(f"src/{SLUG}/defs/my_team{p}" for p in ("", "/__init__.py", "/assets.py")),
    }
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
    # Near the top of a file the team appends to: git must merge both changes.
    readme = generated / "README.md"
    title, rest = readme.read_text().split("\n", 1)
    readme.write_text(f"{title}\n\nUpdated by a newer template release.\n{rest}")
    return "# Changed by a newer template release."


def assert_sandbox_untouched(
    sandbox: Sandbox, expected: set[str], expected_in_home: frozenset[str] = frozenset()
) -> None:
    """Hooks and cruft wrote only into the output folders: nothing in HOME, nothing beside them."""
    assert sorted(p.name for p in sandbox.root.iterdir()) == sorted(
        {"home", "tmp", "no-network", "gitconfig", "template", *expected}
    )
    for output in expected:
        assert [p.name for p in (sandbox.root / output).iterdir()] == [SLUG]
    # Cookiecutter itself leaves each rendered hook script behind in TMPDIR (it never deletes
    # them), and the empty folder it copied the template into for the pre_prompt hook (it deletes
    # the copy, not the folder); anything else there was left by a hook or by cruft.
    leftovers = [
        p.name
        for p in sandbox.tmp.iterdir()
        if not (p.is_file() and p.suffix == ".py" and "ANSWERS_JSON" in p.read_text())
        and not (p.is_dir() and p.name.startswith("cookiecutter") and not any(p.iterdir()))
    ]
    assert leftovers == []
    assert sorted(p.name for p in sandbox.home.iterdir()) == sorted(expected_in_home)


ONE_PER_CI_PROVIDER = {c["ci_provider"]: c for c in reversed(SUPPORTED_COMBINATIONS)}


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
def test_update_round_trip_keeps_user_edits(sandbox: Sandbox, ci_provider: str) -> None:
    answers = ONE_PER_CI_PROVIDER[ci_provider]
    template = sandbox.clone_template()
    project = sandbox.create(template, answers, "projects")
    # A fresh render of the same commit is what the project holds: hooks re-run identically.
    sandbox.cruft("diff", "--exit-code", cwd=project)
    make_typical_user_edits(project, CURRENT_APPENDS)
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
    assert_update_applied_cleanly(sandbox, project, fresh, CURRENT_APPENDS)
    assert "Updated by a newer template release." in (project / "README.md").read_text()
    sandbox.commit(project, "Update from the template")
    sandbox.cruft("check", cwd=project)
    assert sandbox.git("status", "--porcelain", cwd=template) == ""
    assert_sandbox_untouched(sandbox, {"projects", "fresh"})


# --- Template versions: CHANGELOG.md, cookiecutter.json and the releases users pin ------------

RELEASE_HEADING = re.compile(r"^## \[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})", re.MULTILINE)
RELEASE_COMMIT = re.compile(r"^Commit: `([0-9a-f]{7,40})`", re.MULTILINE)


class Release:
    def __init__(self, match: re.Match[str], body: str, text_above: str) -> None:
        self.version = tuple(int(part) for part in match.groups()[:3])
        self.name = ".".join(match.groups()[:3])
        self.date = match.group(4)
        found = RELEASE_COMMIT.search(body)
        self.commit = found.group(1) if found else None
        self.text_above = text_above  # everything newer: where its upgrade notes would be


def changelog_releases() -> list[Release]:
    text = CHANGELOG.read_text()
    matches = list(RELEASE_HEADING.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return [Release(m, text[m.end() : end], text[: m.start()]) for m, end in zip(matches, ends, strict=True)]


PINNED_RELEASES = [r for r in changelog_releases() if r.commit]


def template_git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, check=False)


def questions(cookiecutter_json: str) -> set[str]:
    return {key for key in json.loads(cookiecutter_json) if not key.startswith("_")}


def test_changelog_newest_release_is_the_template_version() -> None:
    text = CHANGELOG.read_text()
    releases = changelog_releases()
    assert text.index("## [Unreleased]") < text.index(f"## [{releases[0].name}]")
    assert releases[0].name == DEFAULT_CONTEXT["_template_version"], (
        "bump _template_version in cookiecutter.json together with the newest CHANGELOG release"
    )


def test_changelog_releases_are_ordered_newest_first() -> None:
    releases = changelog_releases()
    assert [r.version for r in releases] == sorted({r.version for r in releases}, reverse=True)
    assert [r.date for r in releases] == sorted((r.date for r in releases), reverse=True)


def test_every_older_release_names_a_commit_of_this_history() -> None:
    """Tags may not travel with a clone; the recorded commit is what users and tests check out."""
    older = changelog_releases()[1:]
    assert older, "CHANGELOG.md lists no earlier release to update from"
    for release in older:
        assert release.commit, f"release {release.name}: add a 'Commit: `<hash>`' line"
        found = template_git("merge-base", "--is-ancestor", release.commit, "HEAD")
        assert found.returncode == 0, (
            f"release {release.name}: commit {release.commit} is not in this repository's "
            f"history ({found.stderr.strip()}); CI must fetch full history "
            "(actions/checkout fetch-depth: 0, GitLab GIT_DEPTH: 0)"
        )


@pytest.mark.parametrize("release", PINNED_RELEASES, ids=lambda r: r.name)
def test_new_or_removed_questions_have_upgrade_notes(release: Release) -> None:
    """A question added or dropped since a release is something updating teams must act on."""
    old = template_git("show", f"{release.commit}:cookiecutter.json")
    assert old.returncode == 0, old.stderr
    changed = questions(old.stdout) ^ questions((REPO_DIR / "cookiecutter.json").read_text())
    undocumented = sorted(q for q in changed if f"`{q}`" not in release.text_above)
    assert undocumented == [], f"explain these questions in the Upgrade notes: {undocumented}"


# --- Updating across the template's real history ------------------------------------------------


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
@pytest.mark.parametrize("release", PINNED_RELEASES, ids=lambda r: r.name)
def test_update_from_an_earlier_release_to_head(sandbox: Sandbox, release: Release, ci_provider: str) -> None:
    answers = ONE_PER_CI_PROVIDER[ci_provider]
    template = sandbox.clone_template()
    project = sandbox.create(template, answers, "projects", "--checkout", release.commit or "")
    make_typical_user_edits(project, EVERY_RELEASE_APPENDS)
    sandbox.commit(project, "Our own assets")

    sandbox.cruft("check", cwd=project, expect=1)
    sandbox.cruft("update", "--skip-apply-ask", cwd=project)

    # Questions the release did not ask take their defaults on update (see its upgrade notes).
    asked = questions(template_git("show", f"{release.commit}:cookiecutter.json").stdout)
    fresh = sandbox.create(template, {k: v for k, v in answers.items() if k in asked}, "fresh")
    assert_update_applied_cleanly(sandbox, project, fresh, EVERY_RELEASE_APPENDS)
    sandbox.commit(project, "Update from the template")
    sandbox.cruft("check", cwd=project)
    assert_sandbox_untouched(sandbox, {"projects", "fresh"})


# --- Plain Cookiecutter users: replay files, then adopting cruft with `cruft link` -------------


def make(sandbox: Sandbox, project: Path, expect: int) -> subprocess.CompletedProcess[str]:
    """The generated ``make cruft-check``, using this environment's cruft as the project venv's."""
    return sandbox.run(["make", "cruft-check", f"VENV={TOOLS.parent}"], project, expect)


def test_cruft_link_adopts_a_plain_cookiecutter_project_with_its_own_answers(sandbox: Sandbox) -> None:
    """docs/upgrading.md's recipe: link with the answers the project keeps. Cookiecutter's replay
    file would not do: one per template, it holds the answers of the last project baked."""
    template = sandbox.clone_template()
    cookiecutter = str(TOOLS / "cookiecutter")
    given = ["ci_provider=gitlab", "platform_health=no", "python_version=3.13"]
    sandbox.run([cookiecutter, "--no-input", "-o", "plain", str(template), *given], sandbox.root)
    sandbox.run([cookiecutter, "--no-input", "-o", "later", str(template)], sandbox.root)
    replay = json.loads((sandbox.home / ".cookiecutter_replay" / "template.json").read_text())
    assert replay["cookiecutter"]["ci_provider"] == "github"  # the later project's answer
    project = sandbox.root / "plain" / SLUG

    refused = make(sandbox, project, expect=2)
    assert "cruft link" in refused.stderr
    sandbox.git("init", "--quiet", "--initial-branch=main", cwd=project)
    sandbox.commit(project, "Generated with plain Cookiecutter")
    commit = sandbox.git("rev-parse", "HEAD", cwd=template)
    link = f"{TOOLS / 'cruft'} link {shlex.quote(str(template))} --checkout {commit} --no-input"
    sandbox.run(["sh", "-c", f'{link} --extra-context "$(cat .cookiecutter-answers.json)"'], project)
    linked = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    kept = json.loads((project / ".cookiecutter-answers.json").read_text())
    assert {k: linked[k] for k in kept} == kept
    assert [kept[k] for k in ("ci_provider", "platform_health", "python_version")] == [
        "gitlab",
        False,
        "3.13",
    ]
    sandbox.cruft("diff", "--exit-code", cwd=project)
    sandbox.commit(project, "Link to the template")
    make(sandbox, project, expect=0)

    change_template(template)
    sandbox.commit(template, "Template release")
    assert "out of date" in make(sandbox, project, expect=2).stdout
    assert_sandbox_untouched(sandbox, {"plain", "later"}, frozenset({".cookiecutter_replay"}))
