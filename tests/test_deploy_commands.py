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
import re
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

from conftest import GITHUB, GITLAB, TEMPLATE_DIR, install_project, venv_bin
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
from test_deploy_artifacts import RUN_SELECTION

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
        self.overrides = {
            "DAGSTER_CLOUD_URL": standin.base_url,
            "GITHUB_API_URL": f"{standin.base_url}/github",
        }

    def runs(self, job_name: str) -> bool:
        return condition(self.workflow["jobs"][job_name].get("if"), self.context)

    def run(
        self,
        job_name: str,
        skip: tuple[str, ...] = (),
        needs: dict[str, Any] | None = None,
        only: tuple[str, ...] = (),
    ) -> list[StepResult]:
        """Every `run:` step of the job whose `if:` holds, in order; lines in ``skip`` are left out;
        with ``only``, just the steps whose names start with one of those."""
        job = self.workflow["jobs"][job_name]
        self.context["needs"] = needs or {}
        self.context["steps"] = {}
        results: list[StepResult] = []
        status = "success"
        for step in job["steps"]:
            if "run" not in step or not condition(step.get("if"), self.context, status):
                continue
            if only and not step["name"].startswith(only):
                continue
            lines = [line for line in step["run"].splitlines() if line.strip() not in skip]
            result = run_step(
                {**step, "run": "\n".join(lines)},
                self.workflow,
                job,
                self.context,
                self.project,
                self.env,
                self.overrides,
            )
            results.append(result)
            for folder in result.path_additions:
                self.env["PATH"] = f"{folder}{os.pathsep}{self.env['PATH']}"
            if result.returncode != 0:
                status = "failure"
        self.last_outputs = job_outputs(job, self.context)
        return results


def pull_request(
    head_sha: str, action: str = "synchronize", merged: bool = False, **kwargs: Any
) -> dict[str, Any]:
    return github_event(
        event_name="pull_request",
        action=action,
        head_ref=FEATURE_BRANCH,
        head_sha=head_sha,
        number=PR_NUMBER,
        merged=merged,
        repository=REPO,
        **kwargs,
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
    env = {
        **base_env(project, standin),
        "DAGSTER_CLOUD_URL": standin.base_url,
        "DAGSTER_CLOUD_API_TOKEN": standin.token,
    }
    result = subprocess.run(
        [
            str(venv_bin() / "dagster-cloud"),
            "job",
            "launch",
            "--deployment",
            deployment,
            "--location",
            "acme_data",
            "--job",
            "clone_prod",
            "--wait",
            "--interval",
            "1",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
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
        "deploy-branch": {
            "outputs": {"deployment": "feature-1", "deployment-url": "https://acme.dagster.cloud/feature-1"}
        },
        "clone-prod": {
            "outputs": {
                "run-id": "0123456789",
                "run-url": "https://acme.dagster.cloud/feature-1/runs/0123456789",
                "run-status": "FAILURE",
            }
        },
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


# --- GitHub: the serverless branch deploy itself (real PEX build, uploaded to the stand-in) ----

# The deploy job installs with `make install` into the checkout's .venv; here the session's
# shared environment (installed from the same uv.lock) is that .venv, so that line is skipped.
INSTALLED_BY_THE_SESSION = ("make install",)


def locked_versions(project: Path) -> dict[str, str]:
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


# --- GitHub: production dbt state and the slim branch build ----------------------------------


def test_github_production_publishes_dbt_state_and_branch_deploys_fetch_it(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, tmp_path: Path
) -> None:
    """ci/dagster_plus.py dbt-state, run from the workflow's own steps with the pinned CLI:
    before any production deploy a branch gets no state (a warning, not a failure); the
    production deploy publishes the manifest it packaged, under a key naming only the code
    location (not the runner's checkout path); the next branch deploy fetches exactly those bytes
    into dbt_project/state/ and packages them for the branch deployment."""
    project, head_sha = github_project
    state = project / "dbt_project" / "state" / "manifest.json"
    packaged = project / "src" / "acme_data" / "dbt_project" / "state" / "manifest.json"
    shutil.rmtree(state.parent, ignore_errors=True)
    branch_steps = ("Fetch production's dbt state", "Install and package the project")

    def prepared(job: GitHubJob) -> GitHubJob:
        """The session's environment stands in for the skipped install line (make install)."""
        job.env["PATH"] = f"{venv_bin()}{os.pathsep}{job.env['PATH']}"
        job.env["VENV"] = str(venv_bin().parent)
        return job

    def branch_deploy() -> list[StepResult]:
        job = prepared(GitHubJob(project, standin, "pull_request", pull_request(head_sha)))
        results = job.run("deploy-branch", only=branch_steps, skip=INSTALLED_BY_THE_SESSION)
        assert [r.name for r in results] == [
            "Fetch production's dbt state (the manifest production last published)",
            "Install and package the project, with production's state (no secret in this step)",
        ]
        for result in results:
            assert result.returncode == 0, f"{result.name}:\n{result.output[-4000:]}"
        return results

    # No production deploy yet: nothing to fetch; the deploy goes on without state.
    fetch, _ = branch_deploy()
    assert "No production dbt state yet" in fetch.output
    assert not state.exists() and not packaged.exists()

    # The production deploy (main): package, then publish the manifest (the build and finish are
    # test_github_serverless_branch_deploy_...'s; here only the state matters).
    production = prepared(
        GitHubJob(project, standin, "push", github_event(event_name="push", repository=REPO))
    )
    production.context["github"]["sha"] = head_sha
    production.env["GITHUB_SHA"] = head_sha
    results = production.run(
        "deploy-production",
        only=("Install and package the project", "Publish the deployed dbt manifest"),
        skip=INSTALLED_BY_THE_SESSION,
    )
    assert len(results) == 2
    for result in results:
        assert result.returncode == 0, f"{result.name}:\n{result.output[-4000:]}"
    manifest = project / "dbt_project" / "target" / "manifest.json"
    (key,) = standin.artifacts
    assert key == "dbt-state/acme_data/manifest.json"  # the same on every runner and checkout path
    published = standin.artifacts[key]
    assert published == manifest.read_bytes()

    # The next branch deploy fetches it, and the package carries it.
    branch_deploy()
    assert state.read_bytes() == published == packaged.read_bytes()
    assert standin.artifact_gets == [key, key]
    assert {r.token for r in standin.requests} == {standin.token}
    shutil.rmtree(state.parent)


@pytest.mark.parametrize("outcome", ["SUCCESS", "FAILURE"])
def test_github_slim_build_job_fails_unless_the_run_succeeds(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, outcome: str
) -> None:
    project, head_sha = github_project
    deployment = standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    standin.run_outcomes["dbt_slim_branch_build"] = outcome
    (launch,) = GitHubJob(project, standin, "pull_request", pull_request(head_sha)).run("slim-build")
    assert (launch.returncode == 0) == (outcome == "SUCCESS"), launch.output
    (run,) = standin.runs.values()
    assert (run.deployment, run.job) == (deployment, "dbt_slim_branch_build")
    if outcome != "SUCCESS":
        assert one_line_error(launch).startswith(
            f"error: dbt_slim_branch_build run {run.run_id} ended FAILURE"
        )


@pytest.mark.parametrize(
    ("action", "labels", "keep"),
    [("opened", [], False), ("synchronize", [], True), ("synchronize", ["fresh-clone"], False)],
)
def test_github_clone_job_keeps_the_clone_on_later_pushes_unless_asked(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, action: str, labels: list[str], keep: bool
) -> None:
    """The run config clone_prod gets from the workflow's own launch, per event."""
    project, head_sha = github_project
    standin.add_branch_deployment(REPO, FEATURE_BRANCH)
    event = pull_request(head_sha, action=action)
    event["pull_request"]["labels"] = [{"name": name} for name in labels]
    (launch,) = GitHubJob(project, standin, "pull_request", event).run("clone-prod")
    assert launch.returncode == 0, launch.output
    (launched,) = standin.operations("launchRun")
    run_config = launched.variables["executionParams"]["runConfigData"]
    assert run_config == {"ops": {"clone_production_database": {"config": {"keep_existing": keep}}}}


def distribution_name_and_version(filename: str) -> tuple[str, str]:
    """`dagster_cloud-1.13.27-py3-none-any.whl` -> ("dagster-cloud", "1.13.27") (PEP 503 name)."""
    name, version = filename.split("-")[:2]
    return name.replace("_", "-").replace(".", "-").lower(), version


def test_github_serverless_branch_deploy_builds_uploads_and_deploys_a_pex(
    github_project: tuple[Path, str], standin: DagsterPlusStandIn, tmp_path: Path
) -> None:
    """deploy-branch's own steps: `make package`, `dg plus deploy start`, the PEX build with the
    pinned CLI (`--pex-build-method local`, dependencies resolved from PyPI), its upload, and
    `dg plus deploy finish`. Then the uploaded PEX pair alone loads the definitions."""
    project, head_sha = github_project
    job = GitHubJob(project, standin, "pull_request", pull_request(head_sha))
    assert job.runs("deploy-branch")
    job.env["PATH"] = f"{venv_bin()}{os.pathsep}{job.env['PATH']}"
    job.env["VENV"] = str(venv_bin().parent)
    # pex keeps what it downloads in its cache (~/.cache/pex unless PEX_ROOT says otherwise), as uv
    # does in ~/.cache/uv: a fresh machine downloads it once, later runs (clean clones too) reuse it.

    started = time.monotonic()
    results = job.run("deploy-branch", skip=INSTALLED_BY_THE_SESSION)
    seconds = time.monotonic() - started
    for result in results:
        assert result.returncode == 0, f"{result.name}:\n{result.output[-6000:]}"
    build = next(r for r in results if "Build and upload" in r.name)
    print(f"\ndeploy-branch steps took {seconds:.0f} s; {build.stdout.splitlines()[-1]}")

    # start: the branch deployment for this pull request, with its commit.
    branch = standin.branch_deployments[(REPO, FEATURE_BRANCH)]
    assert (branch.status, branch.pull_request_number, branch.commit_hash) == (
        "OPEN",
        str(PR_NUMBER),
        head_sha,
    )
    assert job.last_outputs == {
        "deployment": branch.name,
        "deployment-url": f"{standin.base_url}/{branch.name}",
    }
    # build-and-push: both PEX files reached the upload URLs Dagster+ handed out.
    deps = next(name for name in standin.uploads if name.startswith("deps-"))
    source = next(name for name in standin.uploads if name.startswith("source-"))
    assert standin.uploads[deps] > 50_000_000 and standin.uploads[source] > 0
    # finish: the location now points at them, with the git metadata of the pull request.
    (deployed,) = standin.deployed_documents
    (location,) = deployed["locations"]
    assert deployed["deployment"] == branch.name
    assert location["location_name"] == "acme_data"
    assert location["code_source"] == {"module_name": "acme_data.definitions"}
    assert location["pex_metadata"] == {
        "pex_tag": f"files={deps}:{source}",
        "python_version": (project / ".python-version").read_text().strip(),
    }
    assert location["git"]["url"] == f"https://github.com/{REPO}/tree/{head_sha}"
    assert location["git"]["commit_hash"] == head_sha
    # Every Dagster+ call carried the token given to exactly these steps; the code host (the
    # head branch's open pull requests) saw the job token only.
    assert {r.token for r in standin.requests if r.operation != "code-host"} == {standin.token}
    assert {r.token for r in standin.requests if r.operation == "code-host"} == {standin.code_host_token}

    # The dependencies are exactly uv.lock's versions (the step exports the lock for the build).
    uploads = standin.upload_dir
    assert uploads is not None
    with zipfile.ZipFile(uploads / deps) as pex:
        distributions = json.loads(pex.read("PEX-INFO"))["distributions"]
    locked = locked_versions(project)
    resolved = dict(distribution_name_and_version(name) for name in distributions)
    assert resolved["dagster"] == locked["dagster"] and resolved["dbt-core"] == locked["dbt-core"]
    assert {name: version for name, version in resolved.items() if locked.get(name) != version} == {}

    # What Serverless runs, set up by the Serverless agent's own code, no checkout anywhere near.
    runtime = serverless_runtime(uploads, location["pex_metadata"], tmp_path / "agent")
    validate = in_serverless_runtime(runtime, ["definitions", "validate", "-m", "acme_data.definitions"])
    assert "Validation successful" in validate.stdout + validate.stderr
    warehouse = tmp_path / "agent" / "warehouse.duckdb"
    materialize = in_serverless_runtime(
        runtime,
        ["asset", "materialize", "-m", "acme_data.definitions", "--select", RUN_SELECTION],
        LOCAL_DUCKDB_PATH=str(warehouse),
    )
    assert "RUN_SUCCESS" in materialize.stdout + materialize.stderr
    counts = in_serverless_runtime(
        runtime,
        [
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(*(c.execute(f'select count(*) from {t}').fetchone()[0] "
            "for t in ('hackernews.comments', 'staging.stg_comments')))",
            str(warehouse),
        ],
        module=False,
    )
    comments, staged = (int(n) for n in counts.stdout.split())
    assert comments > 0 and 0 < staged <= comments


# The Serverless agent (dagster_cloud.pex.grpc.server.registry.PexS3Registry, in the pinned
# dagster-cloud) unpacks each PEX into its own venv with `pex-tools ... venv`, then starts the
# source venv's entrypoint with PATH and PYTHONPATH over both venvs. This runs that code on the
# uploaded files (already local: no S3) and reports what it would launch.
SERVERLESS_AGENT = """
import json, sys
from dagster_cloud.pex.grpc.server.registry import PexS3Registry
from dagster_cloud_cli.core.workspace import PexMetadata

files, pex_tag, python_version = sys.argv[1:]
metadata = PexMetadata(pex_tag=pex_tag, python_version=python_version)
executable = PexS3Registry(files).get_pex_executable(metadata)
print(json.dumps({"entrypoint": executable.source_path, "environ": executable.environ,
                  "working_directory": executable.working_directory}))
"""


def serverless_runtime(files: Path, pex_metadata: dict[str, str], root: Path) -> dict[str, Any]:
    root.mkdir()
    completed = subprocess.run(
        [
            str(venv_bin() / "python"),
            "-c",
            SERVERLESS_AGENT,
            str(files),
            pex_metadata["pex_tag"],
            pex_metadata["python_version"],
        ],
        cwd=root,
        env={
            "PATH": f"{venv_bin()}:/usr/bin:/bin",
            "HOME": str(root),
            "S3_PEX_DISABLED": "1",
            "VENVS_ROOT": str(root / "venvs"),
            "PEX_ROOT": str(root / "pex-root"),
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    runtime: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    # Only the two venvs' folders on PATH, then the system's: nothing of the checkout or its venv.
    venv_bins = [p for p in runtime["environ"]["PATH"].split(":") if p.startswith(str(root))]
    runtime["environ"]["PATH"] = ":".join([*venv_bins, "/usr/bin", "/bin"])
    runtime["cwd"] = runtime["working_directory"] or str(root)
    return runtime


def in_serverless_runtime(
    runtime: dict[str, Any], args: list[str], module: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [runtime["entrypoint"], *(["-m", "dagster"] if module else []), *args],
        cwd=runtime["cwd"],
        env={"HOME": runtime["cwd"], "DAGSTER_HOME": runtime["cwd"], **runtime["environ"], **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return completed


# --- GitLab: clone_prod and close_branch, run by gitlab-ci-local -----------------------------

GITLAB_PROJECT_ID = "42"


@pytest.fixture
def gitlab_mr_project(tmp_path: Path, generated_venv: Path) -> Path:
    """The GitLab combination test_ci_files.py runs, committed on a merge request's branch."""
    from cookiecutter.main import cookiecutter

    project = Path(
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(tmp_path), extra_context=GITLAB)
    )
    git(project, "init", "-q", "-b", FEATURE_BRANCH)
    git(project, "remote", "add", "origin", "https://gitlab.example.com/acme/acme_data.git")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "Better marts")
    return project


def gitlab_job(
    gitlab_ci_local: Path, project: Path, standin: DagsterPlusStandIn, job: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run one job of .gitlab-ci.yml as a merge request pipeline would, Dagster+ and GitLab's
    API being the local stand-in. Variables a merge request pipeline or the project's CI/CD
    settings would provide are passed in."""
    predefined = {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": str(PR_NUMBER),
        "CI_MERGE_REQUEST_PROJECT_ID": GITLAB_PROJECT_ID,
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": GITLAB_PROJECT_ID,
        "CI_PROJECT_ID": GITLAB_PROJECT_ID,
        "CI_API_V4_URL": f"{standin.base_url}/gitlab/api/v4",
    }
    settings = {
        "DAGSTER_CLOUD_URL": standin.base_url,
        "DAGSTER_CLOUD_API_TOKEN": standin.token,
        "DAGSTER_PLUS_POLL_SECONDS": "0.2",
        # uv's own cache on this machine (the job's cache folder would start empty every run).
        "UV_CACHE_DIR": subprocess.run(
            ["uv", "cache", "dir"],
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": base_env(project, standin)["PATH"]},
        ).stdout.strip(),
    }
    args = ["gitlab-ci-local", "--force-shell-executor", "--ignore-predefined-vars", ",".join(predefined)]
    for key, value in {**predefined, **settings, **variables}.items():
        args += ["--variable", f"{key}={value}"]
    env = base_env(project, standin)
    env["PATH"] = f"{gitlab_ci_local}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [*args, job],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_gitlab_clone_job_fails_unless_the_run_succeeds_and_notes_the_links(
    gitlab_ci_local: Path, gitlab_mr_project: Path, standin: DagsterPlusStandIn
) -> None:
    deployment = standin.add_branch_deployment("acme_data", FEATURE_BRANCH)
    # What deploy_branch's dotenv report hands on, and the optional project access token.
    links = {
        "DAGSTER_PLUS_DEPLOYMENT": deployment,
        "DAGSTER_PLUS_DEPLOYMENT_URL": f"{standin.base_url}/{deployment}",
        "GITLAB_API_TOKEN": standin.code_host_token,
    }
    for outcome in ("FAILURE", "SUCCESS"):
        standin.run_outcomes["clone_prod"] = outcome
        result = gitlab_job(gitlab_ci_local, gitlab_mr_project, standin, "clone_prod", **links)
        output = result.stdout + result.stderr
        assert (result.returncode == 0) == (outcome == "SUCCESS"), output[-4000:]
        run = list(standin.runs.values())[-1]
        assert (run.deployment, run.job) == (deployment, "clone_prod")
        assert f"{standin.base_url}/{deployment}/runs/{run.run_id}" in output
    assert len(standin.runs) == 2
    (note,) = standin.comments[f"{GITLAB_PROJECT_ID}#{PR_NUMBER}"]  # added once, then updated
    assert "**SUCCESS**" in note["body"] and f"/{deployment}/runs/{run.run_id}" in note["body"]


def test_gitlab_clone_job_fails_clearly_without_a_branch_deployment(
    gitlab_ci_local: Path, gitlab_mr_project: Path, standin: DagsterPlusStandIn
) -> None:
    result = gitlab_job(gitlab_ci_local, gitlab_mr_project, standin, "clone_prod")
    assert result.returncode != 0
    assert (
        "error: no Dagster+ branch deployment for acme_data branch 'feature/better-marts': "
        "the branch deploy job creates it (did it run and succeed?)"
    ) in result.stdout
    assert "Traceback" not in result.stdout and standin.runs == {}


def test_gitlab_close_job_drops_the_clone_and_marks_merged_or_closed(
    gitlab_ci_local: Path, gitlab_mr_project: Path, standin: DagsterPlusStandIn
) -> None:
    deployment = standin.add_branch_deployment("acme_data", FEATURE_BRANCH)
    # With GITLAB_API_TOKEN the merge request's state comes from GitLab's API.
    standin.merge_request_states[str(PR_NUMBER)] = "merged"
    merged = gitlab_job(
        gitlab_ci_local, gitlab_mr_project, standin, "close_branch", GITLAB_API_TOKEN=standin.code_host_token
    )
    assert merged.returncode == 0, (merged.stdout + merged.stderr)[-4000:]
    (drop,) = standin.runs.values()
    assert (drop.deployment, drop.job) == (deployment, "drop_prod_clone")
    assert standin.branch_deployments[("acme_data", FEATURE_BRANCH)].history == ["MERGED"]

    # A failed drop fails the job (exit 1; `allow_failure` shows it as a warning, so the manual
    # stop job never blocks the pipeline), and the branch deployment is marked closed all the same
    # (without the token, git decides: this branch is not on the default branch: CLOSED).
    standin.run_outcomes["drop_prod_clone"] = "FAILURE"
    failed = gitlab_job(gitlab_ci_local, gitlab_mr_project, standin, "close_branch")
    assert re.search(r"close_branch finished in .* WARN 1 ", failed.stdout + failed.stderr), failed.stdout[
        -4000:
    ]
    assert "drop_prod_clone run" in failed.stdout and "ended FAILURE" in failed.stdout
    assert standin.branch_deployments[("acme_data", FEATURE_BRANCH)].history == ["MERGED", "CLOSED"]


def test_gitlab_close_job_without_a_branch_deployment_has_nothing_to_drop(
    gitlab_ci_local: Path, gitlab_mr_project: Path, standin: DagsterPlusStandIn
) -> None:
    result = gitlab_job(gitlab_ci_local, gitlab_mr_project, standin, "close_branch")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Nothing to do for drop_prod_clone" in result.stdout and "Nothing to close" in result.stdout
    assert standin.runs == {} and standin.operations("createOrUpdateBranchDeployment") == []


@pytest.mark.parametrize("merged", [True, False], ids=["merged", "closed"])
def test_gitlab_close_without_api_token_asks_git_whether_the_branch_was_merged(
    tmp_path: Path, standin: DagsterPlusStandIn, generated_venv: Path, merged: bool
) -> None:
    """Without GITLAB_API_TOKEN, `close` fetches the default branch and marks MERGED when the
    merge request's head commit is on it (merge commits and fast-forwards; squash merges
    read as CLOSED: docs/branch-deployments.md)."""
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "commit", "-q", "--allow-empty", "-m", "start")
    git(work, "checkout", "-q", "-b", FEATURE_BRANCH)
    git(work, "commit", "-q", "--allow-empty", "-m", "feature")
    head = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    if merged:
        git(work, "merge", "-q", "--no-ff", "-m", "Merge", FEATURE_BRANCH)
    git(work, "push", "-q", str(origin), "main", FEATURE_BRANCH)
    checkout = tmp_path / "checkout"
    git(
        tmp_path, "clone", "-q", "--depth", "1", "--branch", FEATURE_BRANCH, f"file://{origin}", str(checkout)
    )
    script = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "ci" / "dagster_plus.py"
    standin.add_branch_deployment("acme_data", FEATURE_BRANCH)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": head,
        "CI_COMMIT_REF_NAME": FEATURE_BRANCH,
        "CI_DEFAULT_BRANCH": "main",
        "CI_JOB_URL": "https://gitlab.example.com/acme/acme_data/-/jobs/1",
        "CI_PROJECT_NAME": "acme_data",
        "CI_PROJECT_URL": "https://gitlab.example.com/acme/acme_data",
        "CI_MERGE_REQUEST_IID": str(PR_NUMBER),
        "DAGSTER_CLOUD_URL": standin.base_url,
        "DAGSTER_CLOUD_API_TOKEN": standin.token,
    }
    result = subprocess.run(
        [str(venv_bin() / "python"), str(script), "close"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = "MERGED" if merged else "CLOSED"
    assert standin.branch_deployments[("acme_data", FEATURE_BRANCH)].history == [expected]
    assert result.stdout.strip().endswith(f"{expected}.")


# --- GitHub: the hybrid image build and deploys (Docker emulated, not run) --------------------

# No container engine runs here (the Dockerfile itself is followed step by step in
# test_deploy_artifacts.py). This stand-in for the `docker` CLI records each command line (and
# what `login` reads on stdin) and answers as Docker would: `save` writes the archive, `load`
# names the image, `inspect` prints the pushed repository's digest, and `run ... python -c CODE`
# runs CODE with the Python that has the project installed (the image's, in CI).
DOCKER_STANDIN = """#!/bin/sh
printf '%s\\n' "$*" >> "$DOCKER_RECORD"
case "$1" in
  save) printf 'image archive' > "$3" ;;
  load) echo "Loaded image: code-location:build" ;;
  login) printf 'stdin %s\\n' "$(cat)" >> "$DOCKER_RECORD" ;;
  inspect) ref="$4"; echo "${ref%:*}@sha256:$DOCKER_DIGEST" ;;
  run) while [ "$1" != "-c" ]; do shift; done; exec "$IMAGE_PYTHON" -c "$2" ;;
esac
"""
DIGEST = "4" * 64


@pytest.fixture(scope="module")
def github_hybrid_project(tmp_path_factory: pytest.TempPathFactory, generated_venv: Path) -> tuple[Path, str]:
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("deploy-github-hybrid")
    context = {**GITHUB, "dagster_plus_deployment_type": "hybrid"}
    project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=context))
    head_sha = commit_all(project, "main")
    install_project(project)
    return project, head_sha


@pytest.mark.parametrize("event_name", ["push", "pull_request"])
def test_github_hybrid_builds_without_secrets_then_pushes_and_deploys_the_digest(
    github_hybrid_project: tuple[Path, str], tmp_path: Path, event_name: str
) -> None:
    """The workflow's own steps, for a push to main and for a pull request: build-image (docker
    build, save, and the packaged manifest copied out, all with no secret), then the deploy job:
    docker loads, tags and pushes the archive to its registry with its own credential, and the
    pinned CLI (`uv run --no-project --with ...`, from PyPI, not the project's venv) starts the
    session, records the pushed digest and finishes; production then publishes the manifest."""
    project, head_sha = github_hybrid_project
    production = event_name == "push"
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "docker").write_text(DOCKER_STANDIN)
    (shim / "docker").chmod(0o755)
    record = tmp_path / "docker.log"
    registry_secrets = {
        "PRODUCTION_REGISTRY_USERNAME": "prod-bot",
        "PRODUCTION_REGISTRY_TOKEN": "prod-registry-pw",
    }
    # The manifest the Dockerfile packages (`python -m acme_data.dbt_project package`).
    subprocess.run(
        ["make", "package", f"VENV={venv_bin().parent}"],
        cwd=project,
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{venv_bin()}{os.pathsep}{os.environ['PATH']}"},
    )
    with serve(DagsterPlusStandIn(agent_type="HYBRID", upload_dir=uploads)) as standin:
        event = (
            github_event(event_name="push", repository=REPO)
            if production
            else pull_request(head_sha, action="opened")
        )

        def job_for() -> GitHubJob:
            job = GitHubJob(project, standin, event_name, event)
            job.context["secrets"].update(registry_secrets)
            job.context["github"]["sha"] = head_sha
            job.env.update(
                GITHUB_SHA=head_sha,
                DOCKER_RECORD=str(record),
                DOCKER_DIGEST=DIGEST,
                IMAGE_PYTHON=str(venv_bin() / "python"),
                DAGSTER_BUILD_STATEDIR=str(tmp_path / "dg-build-state"),
            )
            job.env["PATH"] = f"{shim}{os.pathsep}{job.env['PATH']}"
            return job

        build_job = job_for()
        deploy = "deploy-production" if production else "deploy-branch"
        assert (
            build_job.runs("deploy-production") == production
            and build_job.runs("deploy-branch") != production
        )
        (build,) = build_job.run("build-image")
        assert build.returncode == 0, build.output[-6000:]
        packaged = project / "src" / "acme_data" / "dbt_project" / "target" / "manifest.json"
        assert (project / "manifest.json").read_bytes() == packaged.read_bytes()
        assert (project / "image.tar").is_file()
        # The build held nothing: no request reached Dagster+ or the code host.
        assert standin.requests == []
        built = record.read_text().splitlines()
        record.unlink()
        assert [line.split()[0] for line in built] == ["build", "save", "run"]

        results = job_for().run(deploy)
        for result in results:
            assert result.returncode == 0, f"{result.name}:\n{result.output[-6000:]}"

    registry = yaml.safe_load((project / "build.yaml").read_text())["registry"]
    target = f"{registry}:prod-{head_sha}" if production else f"{registry}-branches:pr-{PR_NUMBER}-{head_sha}"
    host = registry.split("/")[0]
    user, password = ("prod-bot", "prod-registry-pw") if production else ("octocat", standin.code_host_token)
    assert record.read_text().splitlines() == [
        "load --quiet --input image.tar",
        f"tag code-location:build {target}",
        f"login {host} --username {user} --password-stdin",
        f"stdin {password}",
        f"push {target}",
        f"logout {host}",
        f"inspect --format {{{{range .RepoDigests}}}}{{{{println .}}}}{{{{end}}}} {target}",
    ]
    image = f"{target.rsplit(':', 1)[0]}@sha256:{DIGEST}"
    (deployed,) = standin.deployed_documents
    (location,) = deployed["locations"]
    assert location["image"] == image  # by digest: a tag pushed over later changes nothing
    assert location["location_name"] == "acme_data"
    assert location["git"] == {
        **location["git"],
        "url": f"https://github.com/{REPO}/tree/{head_sha}",
        "commit_hash": head_sha,
    }
    dagster_plus = {r.token for r in standin.requests if r.operation != "code-host"}
    assert dagster_plus == {standin.token}
    if production:
        assert deployed["deployment"] == "prod" and standin.branch_deployments == {}
        assert standin.artifacts == {"dbt-state/acme_data/manifest.json": packaged.read_bytes()}
    else:
        (branch,) = standin.branch_deployments.values()
        assert (branch.pull_request_number, branch.commit_hash) == (str(PR_NUMBER), head_sha)
        assert deployed["deployment"] == branch.name and standin.artifacts == {}
        # The open-pulls check went to the code host with the job token.
        assert {r.token for r in standin.requests if r.operation == "code-host"} == {standin.code_host_token}
    for name in ("manifest.json", "image.tar"):
        (project / name).unlink()
