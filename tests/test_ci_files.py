"""CI files: valid for their platform, linted, and wired so each event launches the right job.

The wiring is asserted by parsing the YAML (which CI job launches which Dagster job on which
event), never by grepping; GitLab's test job also runs for real with gitlab-ci-local.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import BUILD_DIR, GENERATED_VENV, GITLAB, assert_pytest_summary_all_passed, bake, run, venv_bin

GITLAB_CI_LOCAL_DIR = BUILD_DIR / "gitlab-ci-local"
DEPLOYMENT_TYPES = ["serverless", "hybrid"]


def tool(name: str) -> str:
    """A test tool installed next to this interpreter (requirements-test.txt) or on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements-test.txt"
    return found


def flatten(items: Any) -> list[str]:
    """GitLab script lists, with YAML anchors (nested lists) flattened."""
    if isinstance(items, str):
        return [items]
    return [line for item in items or [] for line in flatten(item)]


def launched_job(script: list[str], variables: dict[str, Any]) -> str | None:
    """The Dagster job a script launches with `dagster-cloud job launch --job ...`, if any."""
    lines = [line for chunk in script for line in chunk.replace("\\\n", " ").splitlines()]
    for line in lines:
        words = line.split()
        if words[:3] == ["dagster-cloud", "job", "launch"] and "--job" in words:
            value = words[words.index("--job") + 1].strip('"')
            return str(variables.get(value.lstrip("$"), value)) if value.startswith("$") else value
    return None


def index_of(script: list[str], command: str) -> int:
    return next(i for i, line in enumerate(script) if line.startswith(command))


# --- which files exist -----------------------------------------------------------------------


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
@pytest.mark.parametrize("deployment_type", DEPLOYMENT_TYPES)
def test_only_the_chosen_ci_and_deployment_files(
    cookies: Any, ci_provider: str, deployment_type: str
) -> None:
    project = bake(cookies, ci_provider=ci_provider, dagster_plus_deployment_type=deployment_type)
    assert (project / ".github").exists() == (ci_provider == "github")
    assert (project / ".gitlab-ci.yml").exists() == (ci_provider == "gitlab")
    for name in ("Dockerfile", ".dockerignore", "build.yaml"):
        assert (project / name).exists() == (deployment_type == "hybrid"), name
    assert (project / "docs" / "branch-deployments.md").exists()


# --- GitHub Actions --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=DEPLOYMENT_TYPES)
def github_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE_DIR

    out = tmp_path_factory.mktemp(f"github-{request.param}")
    context = {"ci_provider": "github", "dagster_plus_deployment_type": request.param}
    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=context))


def workflows(project: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: yaml.safe_load(p.read_text()) for p in sorted((project / ".github/workflows").glob("*.yml"))
    }


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    return on


def test_github_workflows_match_the_schema(github_project: Path) -> None:
    files = sorted(str(p) for p in (github_project / ".github/workflows").glob("*.yml"))
    assert len(files) == 2
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files], github_project)


def test_github_workflows_pass_actionlint(github_project: Path) -> None:
    files = sorted(str(p) for p in (github_project / ".github/workflows").glob("*.yml"))
    run([tool("actionlint"), *files], github_project)


def test_github_workflows_pass_zizmor(github_project: Path) -> None:
    result = run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", ".github/workflows"], github_project
    )
    assert "No findings" in result.stdout


def test_github_only_secret_is_the_dagster_token_and_no_expression_in_run(github_project: Path) -> None:
    for name, workflow in workflows(github_project).items():
        assert workflow["permissions"] == {"contents": "read"}, name
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (name, step["name"])
                if "uses" in step:  # pinned to a full commit SHA
                    ref = step["uses"].split("@")[1]
                    assert len(ref) == 40 and int(ref, 16) >= 0, step["uses"]
    text = (github_project / ".github/workflows/deploy.yml").read_text()
    secrets = {part.split("}")[0].strip() for part in text.split("secrets.")[1:]}
    assert secrets == {"DAGSTER_CLOUD_API_TOKEN"}


def test_github_ci_runs_the_project_checks(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]
    assert set(triggers(ci)) == {"pull_request", "push"}
    assert triggers(ci)["push"]["branches"] == ["main"]
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    for command in ("make install", "make lint", "make test", "make check-defs"):
        assert command in runs
    assert any(r.startswith(".venv/bin/dbt parse") for r in runs)
    setup = next(s for s in ci["jobs"]["test"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version-file"] == ".python-version"


def github_launches(workflow: dict[str, Any]) -> dict[str, tuple[str, str, list[str]]]:
    """Dagster job -> (CI job's `if`, step's `if`, the CI job's step commands in order)."""
    found = {}
    for job in workflow["jobs"].values():
        commands = [step.get("run", "") for step in job["steps"]]
        for step in job["steps"]:
            launched = launched_job([step.get("run", "")], step.get("env", {}))
            if launched:
                found[launched] = (job.get("if", ""), step.get("if", ""), commands)
    return found


def test_github_deploy_lifecycle_wiring(github_project: Path) -> None:
    deploy = workflows(github_project)["deploy.yml"]
    on = triggers(deploy)
    assert on["push"]["branches"] == ["main"]
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    # Two pushes to one pull request share a group (the newer cancels the older).
    assert "github.event.pull_request.number" in deploy["concurrency"]["group"]

    launches = github_launches(deploy)
    assert set(launches) == {"clone_prod", "drop_prod_clone"}
    clone_job_if, clone_step_if, clone_steps = launches["clone_prod"]
    assert "github.event.action != 'closed'" in clone_job_if
    assert clone_step_if == "github.event_name == 'pull_request'"
    finish = next(i for i, c in enumerate(clone_steps) if c.startswith("dg plus deploy finish"))
    launch = next(i for i, c in enumerate(clone_steps) if "dagster-cloud job launch" in c)
    assert finish < launch  # the clone is made once the branch deployment is deployed

    drop_job_if, _, drop_steps = launches["drop_prod_clone"]
    assert "github.event.action == 'closed'" in drop_job_if
    launch = next(i for i, c in enumerate(drop_steps) if "dagster-cloud job launch" in c)
    closed = next(i for i, c in enumerate(drop_steps) if "--mark-closed" in c)
    assert launch < closed  # dropped while the branch deployment still serves the job


def test_github_deploy_builds_for_the_deployment_type(github_project: Path) -> None:
    deploy = workflows(github_project)["deploy.yml"]
    agent_type = deploy["env"]["AGENT_TYPE"]
    steps = deploy["jobs"]["deploy"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert 'dg plus deploy build-and-push --agent-type "$AGENT_TYPE"' in runs
    assert ("docker login" in runs) == (agent_type == "hybrid")
    assert ("packages" in deploy["jobs"]["deploy"]["permissions"]) == (agent_type == "hybrid")


# --- GitLab CI -------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment_type", DEPLOYMENT_TYPES)
def test_gitlab_ci_schema_and_lifecycle_wiring(cookies: Any, deployment_type: str) -> None:
    project = bake(cookies, ci_provider="gitlab", dagster_plus_deployment_type=deployment_type)
    ci_file = project / ".gitlab-ci.yml"
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(ci_file)], project)
    ci = yaml.safe_load(ci_file.read_text())
    assert ci["stages"] == ["test", "deploy"]

    def job(name: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for parent in flatten(ci[name].get("extends", [])):
            merged.update(ci[parent])
        merged.update(ci[name])
        return merged

    test_rules = [rule["if"] for rule in job("test")["rules"]]
    assert test_rules == [
        '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
    ]
    production = job("deploy_production")
    assert "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in production["rules"][0]["if"]
    assert "dg plus deploy start --deployment-type full --yes" in flatten(production["script"])

    branch = job("deploy_branch")
    assert branch["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert branch["environment"]["name"] == "branch/$CI_COMMIT_REF_NAME"
    assert branch["environment"]["on_stop"] == "close_branch"
    script = flatten(branch["script"])
    assert launched_job(script, branch["variables"]) == "clone_prod"
    assert index_of(script, "dg plus deploy finish") < index_of(script, "dagster-cloud job launch")

    close = job("close_branch")
    assert close["environment"] == {"name": "branch/$CI_COMMIT_REF_NAME", "action": "stop"}
    assert close["rules"][0]["when"] == "manual"
    assert launched_job(flatten(close["script"]), close["variables"]) == "drop_prod_clone"
    assert any("--mark-closed" in line for line in flatten(close["after_script"]))
    assert ("services" in job("deploy_branch")) == (deployment_type == "hybrid")


@pytest.fixture(scope="session")
def gitlab_ci_local() -> Path:
    """gitlab-ci-local and the Node 22 it needs, installed once under build/ (npm registry)."""
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
    if not shutil.which("rsync"):  # gitlab-ci-local copies the project with rsync
        subprocess.run(["apt-get", "install", "-y", "-qq", "rsync"], check=False)
        if not shutil.which("rsync"):
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "rsync"], check=True)
    return binary.parent


@pytest.fixture
def gitlab_project(cookies: Any, installed: Any) -> Iterator[Path]:
    """A baked GitLab project under git (gitlab-ci-local needs a remote named origin)."""
    # The combination whose suite test_generated_project.py leaves to this job.
    project = bake(cookies, **GITLAB)
    installed(project)
    for args in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "remote", "add", "origin", "https://gitlab.example.com/acme/acme_data.git"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-qm", "init"],
    ):
        subprocess.run(args, cwd=project, check=True)
    yield project


def test_gitlab_test_job_runs_for_real(gitlab_ci_local: Path, gitlab_project: Path) -> None:
    # The job honours VENV: it reuses the session's environment instead of installing ~1 GB.
    result = run(
        [
            "gitlab-ci-local",
            "--force-shell-executor",
            "--variable",
            f"VENV={GENERATED_VENV}",
            "--variable",
            "CI_PIPELINE_SOURCE=merge_request_event",
            "test",
        ],
        gitlab_project,
        env={"PATH": f"{gitlab_ci_local}:{venv_bin()}:/usr/local/bin:/usr/bin:/bin"},
        timeout=1500,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    # The job ran the project's whole toolchain (test_generated_project.py leaves this
    # combination to it): ruff, formatting, mypy, the full pytest suite and dg check defs.
    for evidence in ("All checks passed!", "already formatted", "Success: no issues found"):
        assert evidence in output, evidence
    assert_pytest_summary_all_passed(output)
    assert "All definitions loaded successfully." in output
    assert "PASS" in output and "test" in output
