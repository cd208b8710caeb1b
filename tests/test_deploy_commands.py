"""The CI files' Dagster+ commands, run for real against a local stand-in for Dagster+.

Every command line comes from the parsed workflow (never retyped here) and runs with the
pinned CLI from the generated project's environment, pointed at ``dagster_plus_standin`` (a
local server modelled on ``dagster-cloud-cli`` 1.13.27's own source). GitHub's steps run as
the runner would run them (``github_actions``); GitLab's jobs run under gitlab-ci-local
(``test_ci_files.py`` holds its fixtures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import GITHUB, TEMPLATE_DIR, install_project, venv_bin
from dagster_plus_standin import DagsterPlusStandIn, serve
from github_actions import (
    StepResult,
    condition,
    context_for,
    github_event,
    job_outputs,
    run_step,
    runner_env,
)

HEAD_SHA_PLACEHOLDER = "HEAD"
FEATURE_BRANCH = "feature/better-marts"
REPO = "acme/acme_data"
PR_NUMBER = 7


# --- fixtures ---------------------------------------------------------------------------------


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", *args],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def commit_all(project: Path, branch: str) -> str:
    """The project under git on ``branch`` (the CLIs read commit metadata with git)."""
    git(project, "init", "-q", "-b", branch)
    git(project, "remote", "add", "origin", f"https://github.com/{REPO}.git")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "Better marts")
    return git(project, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def github_project(tmp_path_factory: pytest.TempPathFactory, generated_venv: Path) -> tuple[Path, str]:
    """The GitHub/serverless combination, baked once, committed on a feature branch, installed."""
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("deploy-github")
    project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=GITHUB))
    head_sha = commit_all(project, FEATURE_BRANCH)
    install_project(project)
    return project, head_sha


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[DagsterPlusStandIn]:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    with serve(DagsterPlusStandIn(upload_dir=uploads)) as server:
        yield server


def workflow(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    return loaded


def interpreter_dir(version: str) -> str:
    """The folder of a CPython ``version`` (setup-python puts `python<version>` on PATH in CI).

    Asked of uv; on machines whose interpreters come from pyenv, uv stops at pyenv's shims
    unless PYENV_VERSION names the version.
    """
    env = dict(os.environ)
    if shutil.which("pyenv"):
        latest = subprocess.run(["pyenv", "latest", version], capture_output=True, text=True)
        if latest.returncode == 0:
            env["PYENV_VERSION"] = latest.stdout.strip()
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    found = subprocess.run(
        [uv, "python", "find", "--no-python-downloads", version], capture_output=True, text=True, env=env
    )
    assert found.returncode == 0, f"no Python {version} on this machine: {found.stderr}"
    return str(Path(found.stdout.strip()).parent)


def base_env(project: Path, standin: DagsterPlusStandIn) -> dict[str, str]:
    """The machine's environment minus anything Dagster+ or GitHub, tools on PATH as in CI."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "GITHUB_", "GITLAB_", "CI_", "VIRTUAL_ENV", "SNOWFLAKE_"))
    }
    python_version = (project / ".python-version").read_text().strip()
    uv_dir = str(Path(shutil.which("uv") or sys.executable).parent)
    env["PATH"] = os.pathsep.join([interpreter_dir(python_version), uv_dir, env["PATH"]])
    # Poll the stand-in quickly (real runs are polled every 15 s).
    env["DAGSTER_PLUS_POLL_SECONDS"] = "0.2"
    env["DAGSTER_HOME"] = str(project.parent / "dagster-home")
    return env


class GitHubJob:
    """Runs one job's `run:` steps of the project's workflow for an event, as the runner would."""

    def __init__(self, project: Path, standin: DagsterPlusStandIn, event_name: str, event: dict[str, Any]):
        self.project = project
        self.standin = standin
        self.workflow = workflow(project)
        self.event = event
        self.context = context_for(
            event_name,
            event,
            secrets={"DAGSTER_CLOUD_API_TOKEN": standin.token},
            github_token=standin.code_host_token,
        )
        self.env = {**base_env(project, standin), **runner_env(self.context, project.parent, event)}
        # Where the workflow's own URLs would point: Dagster+ and the GitHub API, here local.
        self.overrides = {"DAGSTER_CLOUD_URL": standin.base_url, "GITHUB_API_URL": f"{standin.base_url}/github"}

    def runs(self, job_name: str) -> bool:
        return condition(self.workflow["jobs"][job_name].get("if"), self.context)

    def run(
        self, job_name: str, skip: tuple[str, ...] = (), needs: dict[str, Any] | None = None
    ) -> list[StepResult]:
        """Every `run:` step of the job whose `if:` holds, in order; lines in ``skip`` are left out."""
        job = self.workflow["jobs"][job_name]
        self.context["needs"] = needs or {}
        self.context["steps"] = {}
        results: list[StepResult] = []
        status = "success"
        for step in job["steps"]:
            if "run" not in step or not condition(step.get("if"), self.context, status):
                continue
            lines = [line for line in step["run"].splitlines() if line.strip() not in skip]
            result = run_step({**step, "run": "\n".join(lines)}, self.workflow, job, self.context, self.project, self.env, self.overrides)
            results.append(result)
            if result.returncode != 0:
                status = "failure"
        self.last_outputs = job_outputs(job, self.context)
        return results


def pull_request(head_sha: str, action: str = "synchronize", merged: bool = False, **kwargs: Any) -> dict[str, Any]:
    return github_event(
        event_name="pull_request", action=action, head_ref=FEATURE_BRANCH, head_sha=head_sha,
        number=PR_NUMBER, merged=merged, repository=REPO, **kwargs,
    )


def one_line_error(result: StepResult) -> str:
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.output
    return errors[0]


# --- GitHub: clone_prod, drop_prod_clone, close, comment -------------------------------------


@pytest.mark.parametrize("outcome", ["SUCCESS", "FAILURE", "CANCELED"])
def test_github_clone_job_fails_unless_the_run_succeeds(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, outcome: str
) -> None:
    project, head_sha = github_project
    deployment = standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    standin.run_outcomes["clone_prod"] = outcome

    job = GitHubJob(project, standin, "pull_request", pull_request(head_sha))
    (launch,) = job.run("clone-prod")

    assert (launch.returncode == 0) == (outcome == "SUCCESS"), launch.output
    (run,) = standin.runs.values()
    assert (run.deployment, run.location, run.job) == (deployment, "acme_data", "clone_prod")
    run_url = f"{standin.base_url}/{deployment}/runs/{run.run_id}"
    assert run.run_id in launch.stdout and run_url in launch.stdout  # printed either way
    assert job.last_outputs == {"run-id": run.run_id, "run-url": run_url, "run-status": outcome}
    if outcome != "SUCCESS":
        assert one_line_error(launch) == f"error: clone_prod run {run.run_id} ended {outcome}: {run_url}"


def test_github_clone_job_fails_clearly_without_a_branch_deployment(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn
) -> None:
    project, head_sha = github_project
    (launch,) = GitHubJob(project, standin, "pull_request", pull_request(head_sha)).run("clone-prod")
    assert launch.returncode == 1
    assert one_line_error(launch) == (
        f"error: no Dagster+ branch deployment for {REPO} branch '{FEATURE_BRANCH}': "
        "the branch deploy job creates it (did it run and succeed?)"
    )
    assert standin.runs == {}


def test_pinned_cli_job_launch_wait_exits_0_on_a_failed_run(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn
) -> None:
    """Why ci/dagster_plus.py launches the jobs: the pinned `dagster-cloud job launch --wait`
    reports a failed run and exits 0. If this starts failing, the CLI was fixed."""
    project, _ = github_project
    deployment = standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    standin.run_outcomes["clone_prod"] = "FAILURE"
    env = {**base_env(project, standin), "DAGSTER_CLOUD_URL": standin.base_url, "DAGSTER_CLOUD_API_TOKEN": standin.token}
    result = subprocess.run(
        [str(venv_bin() / "dagster-cloud"), "job", "launch", "--deployment", deployment,
         "--location", "acme_data", "--job", "clone_prod", "--wait", "--interval", "1"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert "failed with status 'FAILURE'" in result.stdout
    assert result.returncode == 0


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "closed"])
def test_github_close_job_drops_the_clone_then_marks_merged_or_closed(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, merged: bool
) -> None:
    project, head_sha = github_project
    deployment = standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    job = GitHubJob(project, standin, "pull_request", pull_request(head_sha, action="closed", merged=merged))
    assert job.runs("close-branch-deployment") and not job.runs("deploy-branch") and not job.runs("test")

    drop, close = job.run("close-branch-deployment")

    assert drop.returncode == 0 and close.returncode == 0, drop.output + close.output
    (run,) = standin.runs.values()
    assert (run.deployment, run.job) == (deployment, "drop_prod_clone")
    assert standin.branch_deployments[(REPO, FEATURE_BRANCH)].history == ["MERGED" if merged else "CLOSED"]
    marked = standin.operations("createOrUpdateBranchDeployment")[0].variables
    assert marked["branchData"]["pullRequestNumber"] == str(PR_NUMBER)
    assert marked["commit"]["commitHash"] == head_sha


def test_github_close_job_marks_closed_even_when_the_drop_fails(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn
) -> None:
    project, head_sha = github_project
    standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    standin.run_outcomes["drop_prod_clone"] = "FAILURE"
    drop, close = GitHubJob(project, standin, "pull_request", pull_request(head_sha, action="closed")).run(
        "close-branch-deployment"
    )
    assert drop.returncode == 1 and "drop_prod_clone run" in drop.stderr
    assert close.returncode == 0
    assert standin.branch_deployments[(REPO, FEATURE_BRANCH)].history == ["CLOSED"]


def test_github_close_job_without_a_branch_deployment_has_nothing_to_drop(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn
) -> None:
    """The pull request never deployed (e.g. its tests failed): nothing to drop, nothing made."""
    project, head_sha = github_project
    drop, close = GitHubJob(project, standin, "pull_request", pull_request(head_sha, action="closed")).run(
        "close-branch-deployment"
    )
    assert drop.returncode == 0 and close.returncode == 0
    assert "Nothing to do for drop_prod_clone: no Dagster+ branch deployment" in drop.stdout
    assert standin.runs == {} and standin.branch_deployments == {}
    assert standin.operations("createOrUpdateBranchDeployment") == []


def test_github_comment_job_keeps_one_comment_with_the_links(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn
) -> None:
    project, head_sha = github_project
    job = GitHubJob(project, standin, "pull_request", pull_request(head_sha))
    needs = {
        "deploy-branch": {"outputs": {"deployment": "feature-1", "deployment-url": "https://acme.dagster.cloud/feature-1"}},
        "clone-prod": {"outputs": {"run-id": "0123456789", "run-url": "https://acme.dagster.cloud/feature-1/runs/0123456789", "run-status": "FAILURE"}},
    }
    assert condition(job.workflow["jobs"]["comment"]["if"], {**job.context, "needs": needs}, status="failure")

    for status in ("FAILURE", "SUCCESS"):  # a re-run updates the same comment
        needs["clone-prod"]["outputs"]["run-status"] = status
        (comment,) = job.run("comment", needs=needs)
        assert comment.returncode == 0, comment.output

    (posted,) = standin.comments[f"{REPO}#{PR_NUMBER}"]
    assert "[`feature-1`](https://acme.dagster.cloud/feature-1)" in posted["body"]
    assert "**SUCCESS**" in posted["body"] and "/feature-1/runs/0123456789" in posted["body"]
    assert head_sha[:12] in posted["body"]
    assert {r.token for r in standin.requests} == {standin.code_host_token}
