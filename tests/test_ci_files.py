"""CI files: valid for their platform, linted, and wired so each event launches the right job.

The wiring is asserted by parsing the YAML (which CI job launches which Dagster job on which
event), never by grepping; GitLab's test job also runs for real with gitlab-ci-local.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    DEFAULT_CONTEXT,
    GENERATED_COMMAND_ENV,
    GENERATED_VENV,
    GITLAB,
    assert_pytest_summary_all_passed,
    bake,
    run,
    venv_bin,
)
from github_actions import condition, context_for, github_event

DEPLOYMENT_TYPES = ["serverless", "hybrid"]
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


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


def commands(script: str) -> list[list[str]]:
    """A shell script's command lines as argument lists (continuations joined, comments dropped)."""
    joined = script.replace("\\\n", " ")
    return [
        shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)
    ]


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def helper_call(args: list[str]) -> list[str] | None:
    """The arguments after `ci/dagster_plus.py` when a command runs that script, else None."""
    return args[args.index("ci/dagster_plus.py") + 1 :] if "ci/dagster_plus.py" in args else None


DAGSTER_PLUS_CALLS = (["dg", "plus", "deploy"], ["dg", "plus", "integrations"], ["dagster-cloud"])
# The pinned CLI's own command publishing (production) and fetching (branch) dbt state.
MANAGE_MANIFEST = ["dg", "plus", "integrations", "dbt", "manage-manifest"]


def calls_dagster_plus(script: str, agent_type: str) -> bool:
    """Whether a script talks to Dagster+ (a hybrid image build and the comment do not)."""
    for args in commands(script):
        if args[:5] == MANAGE_MANIFEST:
            return True
        if args[:3] == ["dg", "plus", "deploy"] and not (
            agent_type == "hybrid" and args[3] == "build-and-push"
        ):
            return True
        helper = helper_call(args)
        if helper is not None and helper[0] != "comment":
            return True
    return False


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
    assert (project / "ci" / "dagster_plus.py").exists()


# --- GitHub Actions --------------------------------------------------------------------------

GITHUB_VARIANTS = [("serverless", "us"), ("hybrid", "eu")]


@pytest.fixture(scope="module", params=GITHUB_VARIANTS, ids=["serverless-us", "hybrid-eu"])
def github_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cookiecutter.main import cookiecutter

    from conftest import TEMPLATE_DIR

    deployment_type, region = request.param
    out = tmp_path_factory.mktemp(f"github-{deployment_type}")
    context = {
        "ci_provider": "github",
        "dagster_plus_deployment_type": deployment_type,
        "dagster_plus_region": region,
        "clone_retention_days": "9",
        # The seed's behaviour (re-clone on every push) with the hybrid variant.
        "reclone_on_every_push": "yes" if deployment_type == "hybrid" else "no",
    }
    project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=context))
    BAKED_ANSWERS[project] = {
        "deployment_type": deployment_type,
        "region": region,
        "reclone": context["reclone_on_every_push"],
    }
    return project


BAKED_ANSWERS: dict[Path, dict[str, str]] = {}


def workflows(project: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: yaml.safe_load(p.read_text()) for p in sorted((project / ".github/workflows").glob("*.yml"))
    }


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    on: dict[str, Any] = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    return on


def answers(project: Path) -> dict[str, str]:
    return BAKED_ANSWERS[project]


def test_github_workflow_matches_the_schema(github_project: Path) -> None:
    files = sorted(str(p) for p in (github_project / ".github/workflows").glob("*.yml"))
    assert [Path(f).name for f in files] == ["ci.yml"]  # tests and deploys in one workflow
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files], github_project)


def test_github_workflows_pass_actionlint(github_project: Path) -> None:
    files = sorted(str(p) for p in (github_project / ".github/workflows").glob("*.yml"))
    run([tool("actionlint"), *files], github_project)


def test_github_workflows_pass_zizmor(github_project: Path) -> None:
    result = run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", ".github/workflows"], github_project
    )
    assert "No findings" in result.stdout


def test_github_pins_actions_and_keeps_expressions_out_of_scripts(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]
    assert ci["permissions"] == {"contents": "read"}
    for name, job in ci["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), (name, step["name"])
            if "uses" in step:  # pinned to a full commit SHA
                ref = step["uses"].split("@")[1]
                assert len(ref) == 40 and int(ref, 16) >= 0, step["uses"]
            if "setup-uv" in step.get("uses", ""):
                assert step["with"]["version"] == DEFAULT_CONTEXT["_uv_version"]
    text = (github_project / ".github/workflows/ci.yml").read_text()
    secrets = {part.split("}")[0].strip() for part in text.split("secrets.")[1:]}
    assert secrets == {"DAGSTER_CLOUD_API_TOKEN"}


def test_github_token_reaches_only_the_steps_that_call_dagster_plus(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]
    agent_type = answers(github_project)["deployment_type"]
    assert "DAGSTER_CLOUD_API_TOKEN" not in (ci.get("env") or {})
    given = needed = 0
    for name, job in ci["jobs"].items():
        assert "DAGSTER_CLOUD_API_TOKEN" not in (job.get("env") or {}), name
        for step in job["steps"]:
            has_token = "DAGSTER_CLOUD_API_TOKEN" in (step.get("env") or {})
            needs_token = calls_dagster_plus(step.get("run", ""), agent_type)
            assert has_token == needs_token, (name, step["name"])
            given += has_token
            needed += needs_token
            if "make install" in step.get("run", ""):
                assert not has_token
    assert given == needed >= 7


def test_github_jobs_per_event(github_project: Path) -> None:
    """Which jobs an event starts, evaluated from the jobs' own `if:` expressions."""
    ci = workflows(github_project)["ci.yml"]
    on = triggers(ci)
    assert on["push"]["branches"] == ["main"]
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    # Pushes to one pull request share a group (the newer cancels the older).
    assert "github.event.pull_request.number" in ci["concurrency"]["group"]

    def started(event_name: str, **event: Any) -> set[str]:
        """Jobs in dependency order: a job whose needs did not all run sees them as skipped
        (only `always()` runs it then); jobs that ran hand on non-empty outputs."""
        context = context_for(event_name, github_event(event_name=event_name, **event))
        ran: set[str] = set()
        for name, job in ci["jobs"].items():  # the file lists jobs after the jobs they need
            needs = [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", [])
            context["needs"] = {
                n: {"outputs": {k: "x" for k in ci["jobs"][n].get("outputs", {})} if n in ran else {}}
                for n in needs
            }
            status = "success" if all(n in ran for n in needs) else "skipped"
            if condition(job.get("if"), context, status):
                ran.add(name)
        return ran

    pr = {"head_sha": "a" * 40}
    assert started("push") == {"test", "deploy-production"}
    for action in ("opened", "synchronize", "reopened"):
        assert started("pull_request", action=action, **pr) == {
            "test",
            "deploy-branch",
            "clone-prod",
            "slim-build",
            "comment",
        }
    assert started("pull_request", action="closed", merged=True, **pr) == {"close-branch-deployment"}
    # Forks and Dependabot: tests only; their deploy and close jobs are skipped, not failed.
    for outsider in ({"head_repository": "someone/acme_data"}, {"author": "dependabot[bot]"}):
        assert started("pull_request", action="opened", **outsider, **pr) == {"test"}
        assert started("pull_request", action="closed", **outsider, **pr) == set()


def test_github_production_deploys_only_after_the_tests_in_its_environment(github_project: Path) -> None:
    job = workflows(github_project)["ci.yml"]["jobs"]["deploy-production"]
    assert job["needs"] == "test"
    assert job["environment"]["name"] == "production"
    assert job["concurrency"] == {"group": "dagster-plus-production", "cancel-in-progress": False}
    assert workflows(github_project)["ci.yml"]["jobs"]["slim-build"]["needs"] == "clone-prod"
    for name in ("deploy-branch", "clone-prod", "comment"):
        needs = workflows(github_project)["ci.yml"]["jobs"][name]["needs"]
        assert ("test" in needs) if name == "deploy-branch" else ("deploy-branch" in needs)


def test_github_deploy_commands(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]
    agent_type = answers(github_project)["deployment_type"]
    region = answers(github_project)["region"]
    host = "acme.eu.dagster.cloud" if region == "eu" else "acme.dagster.cloud"
    assert ci["env"]["DAGSTER_CLOUD_URL"] == f"https://{host}"
    for name, kind, head in (
        ("deploy-production", "full", "$GITHUB_SHA"),
        ("deploy-branch", "branch", "$HEAD_SHA"),
    ):
        job = ci["jobs"][name]
        scripts = [step.get("run", "") for step in job["steps"]]
        calls = [args for script in scripts for args in commands(script)]
        deploy = [args for args in calls if args[:3] == ["dg", "plus", "deploy"]]
        assert [args[3] for args in deploy] == ["start", "build-and-push", "finish"], name
        start, build, _ = deploy
        assert option(start, "--deployment-type") == kind
        assert option(start, "--commit-hash") == head
        assert option(start, "--git-url") == f"$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/tree/{head}"
        assert option(build, "--agent-type") == agent_type
        if agent_type == "serverless":
            assert option(build, "--build-strategy") == "python-executable"
            assert option(build, "--pex-build-method") == "local"
            export = calls[calls.index(build) - 1]
            assert export[:2] == ["uv", "export"] and "--locked" in export
        else:
            assert "--build-strategy" not in build
        install = next(i for i, args in enumerate(calls) if args == ["make", "install"])
        assert calls[install + 1] == ["make", "package"] and calls.index(start) > install
        # dbt state: production publishes the manifest once deployed; a branch fetches it after
        # `start` (the CLI reads the deploy session) and packages again before the build.
        (manifest,) = [i for i, args in enumerate(calls) if args[:5] == MANAGE_MANIFEST]
        assert option(calls[manifest], "--file") == "src/acme_data/dbt_project.py"
        assert option(calls[manifest], "--source-deployment") == "$DAGSTER_CLOUD_DEPLOYMENT"
        if kind == "full":
            assert manifest == len(calls) - 1 and calls[manifest - 1] == ["dg", "plus", "deploy", "finish"]
        else:
            assert calls.index(start) < manifest < calls.index(build)
            assert calls[manifest][-3:-1] == ["||", "echo"]  # none yet: a warning, not a failure
            assert calls[manifest + 1] == ["make", "package"]
        assert ("packages" in job["permissions"]) == (agent_type == "hybrid")
        assert any("docker login" in s for s in scripts) == (agent_type == "hybrid")
        uv = next(step for step in job["steps"] if "setup-uv" in step.get("uses", ""))
        assert uv["with"]["save-cache"] is False  # deploy jobs only read the tests' cache
    test_uv = next(s for s in ci["jobs"]["test"]["steps"] if "setup-uv" in s.get("uses", ""))
    assert test_uv["with"]["cache-dependency-glob"] == "uv.lock"


def test_github_dagster_jobs_and_the_comment(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]

    def helpers(job: str) -> list[tuple[list[str], Any]]:
        return [
            (helper, step.get("if"))
            for step in ci["jobs"][job]["steps"]
            for args in commands(step.get("run", ""))
            if (helper := helper_call(args)) is not None
        ]

    assert helpers("deploy-branch") == [(["branch-deployment", "--output", "$GITHUB_OUTPUT"], None)]
    keep = [] if answers(github_project)["reclone"] == "yes" else ["--keep-clone-unless", "fresh-clone"]
    assert helpers("clone-prod") == [(["launch", "clone_prod", "--output", "$GITHUB_OUTPUT", *keep], None)]
    assert helpers("slim-build") == [(["launch", "dbt_slim_branch_build"], None)]
    assert helpers("close-branch-deployment") == [
        (["launch", "drop_prod_clone", "--skip-without-branch-deployment"], None),
        (["close"], "always()"),  # marked merged/closed even when the drop failed
    ]
    assert helpers("comment") == [(["comment"], None)]
    # Only the comment job may write to the pull request; it installs nothing.
    for name, job in ci["jobs"].items():
        assert ("pull-requests" in job.get("permissions", {})) == (name == "comment"), name
    assert ci["jobs"]["comment"]["permissions"]["pull-requests"] == "write"
    assert ci["jobs"]["comment"]["needs"] == ["deploy-branch", "clone-prod"]
    assert ci["jobs"]["comment"]["if"].startswith("always()")  # also after a failed clone
    # Jobs that only talk to Dagster+ install only the pinned Dagster+ CLI package.
    for name in ("clone-prod", "slim-build", "close-branch-deployment"):
        for step in ci["jobs"][name]["steps"]:
            for args in commands(step.get("run", "")):
                assert args[:5] == [
                    "uv",
                    "run",
                    "--no-project",
                    "--with",
                    "dagster-cloud-cli==$DAGSTER_CLOUD_CLI_VERSION",
                ]
    assert ci["env"]["DAGSTER_CLOUD_CLI_VERSION"] == DEFAULT_CONTEXT["_dagster_version"]


def test_github_ci_runs_the_project_checks(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    for command in ("make install", "make lint", "make test", "make check-defs"):
        assert command in runs
    assert any(r.startswith(".venv/bin/dbt parse") for r in runs)
    # The slim dbt build on DuckDB, against the base commit checked out beside (pull requests).
    base = next(s for s in ci["jobs"]["test"]["steps"] if s.get("with", {}).get("path") == ".ci-base")
    assert base["if"] == "github.event_name == 'pull_request'"
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    slim = [args for r in runs for args in commands(r) if "acme_data.utils.dbt_state" in args]
    assert slim == [[".venv/bin/python", "-m", "acme_data.utils.dbt_state", "ci", "--base", ".ci-base"]]
    assert runs.index("make test") < next(i for i, r in enumerate(runs) if "dbt_state" in r)
    setup = next(s for s in ci["jobs"]["test"]["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version-file"] == ".python-version"
    assert not any("DAGSTER_CLOUD_API_TOKEN" in (s.get("env") or {}) for s in ci["jobs"]["test"]["steps"])


# --- GitLab CI -------------------------------------------------------------------------------


def gitlab_jobs(project: Path) -> dict[str, dict[str, Any]]:
    """Every job with `extends` merged in (GitLab merges hashes deeply; these files need one level)."""
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text())

    def merged(name: str) -> dict[str, Any]:
        job: dict[str, Any] = {}
        for parent in flatten(ci[name].get("extends", [])):
            job.update(merged(parent))
        job.update(ci[name])
        return job

    return {name: merged(name) for name in ci if isinstance(ci[name], dict) and "stage" in merged(name)}


def rule_outcome(rules: list[dict[str, Any]], variables: dict[str, str]) -> str | None:
    """The `when` of the first matching rule (None: the job is not in the pipeline). Supports
    what these files use: `$A == "x"`, `$A != $B`, `$A`, `&&`."""

    def value(term: str) -> str | None:
        term = term.strip()
        if term.startswith("$"):
            return variables.get(term[1:])
        return term.strip('"')

    def holds(expression: str) -> bool:
        for clause in expression.split("&&"):
            if "==" in clause or "!=" in clause:
                op = "==" if "==" in clause else "!="
                left, right = clause.split(op)
                if (value(left) == value(right)) != (op == "=="):
                    return False
            elif not value(clause):
                return False
        return True

    for rule in rules:
        if "if" not in rule or holds(rule["if"]):
            when = rule.get("when", "on_success")
            return None if when == "never" else str(when)
    return None


@pytest.mark.parametrize("deployment_type", DEPLOYMENT_TYPES)
def test_gitlab_ci_schema_and_lifecycle_wiring(cookies: Any, deployment_type: str) -> None:
    reclone = "yes" if deployment_type == "hybrid" else "no"
    project = bake(
        cookies,
        ci_provider="gitlab",
        dagster_plus_deployment_type=deployment_type,
        dagster_plus_region="eu" if deployment_type == "hybrid" else "us",
        clone_retention_days="9",
        reclone_on_every_push=reclone,
    )
    ci_file = project / ".gitlab-ci.yml"
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(ci_file)], project)
    ci = yaml.safe_load(ci_file.read_text())
    jobs = gitlab_jobs(project)
    assert ci["stages"] == ["test", "deploy"]
    host = "acme.eu.dagster.cloud" if deployment_type == "hybrid" else "acme.dagster.cloud"
    assert ci["variables"]["DAGSTER_CLOUD_URL"] == f"https://{host}"
    assert ci["variables"]["UV_VERSION"] == DEFAULT_CONTEXT["_uv_version"]

    default_branch = {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push"}
    merge_request = {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_PROJECT_ID": "1",
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "1",
        "CI_COMMIT_REF_NAME": "feature",
    }
    fork = {**merge_request, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "2"}

    def pipeline(variables: dict[str, str]) -> dict[str, str]:
        outcomes = {name: rule_outcome(job.get("rules", []), variables) for name, job in jobs.items()}
        return {name: when for name, when in outcomes.items() if when}

    assert pipeline(default_branch) == {"test": "on_success", "deploy_production": "on_success"}
    assert pipeline(merge_request) == {
        "test": "on_success",
        "deploy_branch": "on_success",
        "clone_prod": "on_success",
        "slim_build": "on_success",
        "close_branch": "manual",
        **({} if reclone == "yes" else {"fresh_clone": "manual"}),
    }
    assert pipeline(fork) == {"test": "on_success"}  # deploy jobs skipped, not failed

    # Deploys only after the tests; clone after the deploy; stop job of the environment.
    assert jobs["deploy_production"]["needs"] == ["test"] and jobs["deploy_branch"]["needs"] == ["test"]
    assert jobs["clone_prod"]["needs"] == ["deploy_branch"]
    assert jobs["slim_build"]["needs"] == ["clone_prod"]
    assert jobs["deploy_production"]["environment"]["name"] == "production"
    branch_env = jobs["deploy_branch"]["environment"]
    assert branch_env == {
        "name": "branch/$CI_COMMIT_REF_NAME",
        "url": "$DAGSTER_PLUS_DEPLOYMENT_URL",  # the link on the merge request
        "on_stop": "close_branch",
        "auto_stop_in": "9 days",  # clone_retention_days
    }
    assert jobs["deploy_branch"]["artifacts"]["reports"]["dotenv"] == "deploy.env"
    assert jobs["clone_prod"]["environment"] == {"name": "branch/$CI_COMMIT_REF_NAME", "action": "access"}
    assert jobs["close_branch"]["environment"] == {"name": "branch/$CI_COMMIT_REF_NAME", "action": "stop"}
    # Every job that talks to Dagster+ belongs to an environment (the token is environment-scoped).
    for name, job in jobs.items():
        scripts = "\n".join(flatten(job.get("script")))
        if calls_dagster_plus(scripts, deployment_type):
            assert job["environment"]["name"] in ("production", "branch/$CI_COMMIT_REF_NAME"), name
    assert "environment" not in jobs["test"]

    # The deploy scripts: install with no secret, package, then dg plus deploy with git metadata.
    for name, kind in (("deploy_production", "full"), ("deploy_branch", "branch")):
        calls = [args for line in flatten(jobs[name]["script"]) for args in commands(line)]
        for target in ("install", "package"):  # neither sees a secret
            line = next(a for a in calls if "make" in a and a[a.index("make") + 1] == target)
            make = line.index("make")
            assert line[make - 5 : make] == ["env", "-u", "DAGSTER_CLOUD_API_TOKEN", "-u", "GITLAB_API_TOKEN"]
        deploy = [args for args in calls if args[:3] == ["dg", "plus", "deploy"]]
        assert [args[3] for args in deploy] == ["start", "build-and-push", "finish"]
        start, build, _ = deploy
        assert option(start, "--deployment-type") == kind
        assert option(start, "--commit-hash") == "$CI_COMMIT_SHA"
        assert option(start, "--git-url") == "$CI_PROJECT_URL/-/tree/$CI_COMMIT_SHA"
        assert option(build, "--agent-type") == deployment_type
        assert (option(build, "--build-strategy"), option(build, "--pex-build-method")) == (
            ("python-executable", "local") if deployment_type == "serverless" else (None, None)
        )
        assert ("services" in jobs[name]) == (deployment_type == "hybrid")
        (manifest,) = [i for i, args in enumerate(calls) if args[:5] == MANAGE_MANIFEST]
        assert option(calls[manifest], "--file") == "src/acme_data/dbt_project.py"
        if kind == "full":
            assert calls[manifest - 1] == ["dg", "plus", "deploy", "finish"]
        else:  # fetched after `start`, then packaged (no secret) before the build
            assert calls.index(start) < manifest < calls.index(build)
            assert "package" in calls[manifest + 1] and "DAGSTER_CLOUD_API_TOKEN" in calls[manifest + 1]

    # The Dagster+ jobs, through ci/dagster_plus.py (fails unless the run succeeds).
    def helpers(name: str) -> list[list[str]]:
        return [h for line in flatten(jobs[name]["script"]) for a in commands(line) if (h := helper_call(a))]

    assert helpers("deploy_branch") == [["branch-deployment", "--output", "deploy.env"]]
    keep = [] if reclone == "yes" else ["--keep-clone-unless", "fresh-clone"]
    assert helpers("clone_prod") == [["launch", "clone_prod", "--output", "clone.env", *keep]]
    assert helpers("slim_build") == [["launch", "dbt_slim_branch_build"]]
    if reclone == "no":  # by hand: the same launch with FRESH_CLONE=1
        assert helpers("fresh_clone") == helpers("clone_prod")
        assert jobs["fresh_clone"]["variables"]["FRESH_CLONE"] == "1"
    slim = [a for line in flatten(jobs["test"]["script"]) for a in commands(line) if "--base" in a]
    assert slim == [["$VENV/bin/python", "-m", "acme_data.utils.dbt_state", "ci", "--base", ".ci-base"]]
    # The drop's failure is kept for the end (`|| status=$?` ... `exit "$status"`): closed either way.
    assert helpers("close_branch") == [
        ["launch", "drop_prod_clone", "--skip-without-branch-deployment", "||", "status=$?"],
        ["close"],
    ]
    assert flatten(jobs["close_branch"]["script"])[-1] == 'exit "$status"'
    assert [helper_call(a) for line in jobs["clone_prod"]["after_script"] for a in commands(line)] == [
        ["comment", "--values", "clone.env"]
    ]

    # Caches: uv's download cache keyed on uv.lock, never .venv; deploy jobs only read it.
    assert jobs["test"]["cache"] == {"key": {"files": ["uv.lock"]}, "paths": [".cache/uv/"]}
    assert ci["variables"]["UV_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/uv"
    for name in ("deploy_production", "deploy_branch"):
        assert jobs[name]["cache"] == {**jobs["test"]["cache"], "policy": "pull"}


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


@pytest.mark.usefixtures("mypy_cache")
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
            *(f"--variable={name}={value}" for name, value in GENERATED_COMMAND_ENV.items()),
            "test",
        ],
        gitlab_project,
        # The pinned uv is next to this interpreter (the job installs it only when missing).
        env={"PATH": f"{gitlab_ci_local}:{venv_bin()}:{Path(tool('uv')).parent}:{SYSTEM_PATH}"},
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
