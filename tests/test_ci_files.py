"""CI files: valid for their platform, linted, and wired so each event launches the right job.

The wiring is asserted by parsing the YAML (which CI job launches which Dagster job on which
event), never by grepping; GitLab's test job also runs for real with gitlab-ci-local.
"""

from __future__ import annotations

import re
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
    SUITE_TIMEOUT,
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


# ci/dagster_plus.py commands that never call Dagster+ (code host or local deploy session only).
NO_DAGSTER_PLUS = ("comment", "only-change-request", "set-image")


def pinned_tool(args: list[str]) -> list[str]:
    """The command behind `uv run --no-project --with <pkg>==<version>` (the pinned Dagster+ CLI,
    run outside the project's environment), else the arguments as they are."""
    if args[:3] == ["uv", "run", "--no-project"] and args[3] == "--with" and "==" in args[4]:
        return args[5:]
    return args


def calls_dagster_plus(script: str, agent_type: str) -> bool:
    """Whether a script talks to Dagster+ (the comment and the image's digest do not)."""
    for raw in commands(script):
        args = pinned_tool(raw)
        if args[:5] == MANAGE_MANIFEST or args[:3] == ["dg", "plus", "deploy"]:
            return True
        helper = helper_call(args)
        if helper is not None and helper[0] not in NO_DAGSTER_PLUS:
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
    production_registry = {"PRODUCTION_REGISTRY_USERNAME", "PRODUCTION_REGISTRY_TOKEN"}
    hybrid = answers(github_project)["deployment_type"] == "hybrid"
    assert secrets == {"DAGSTER_CLOUD_API_TOKEN", *(production_registry if hybrid else ())}
    # Production's registry credential: only in the production deploy (environment `production`).
    for name, job in ci["jobs"].items():
        named = {
            n for step in job["steps"] for n in production_registry if f"secrets.{n}" in str(step.get("env"))
        }
        assert named == (production_registry if hybrid and name == "deploy-production" else set()), name


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
    hybrid = answers(github_project)["deployment_type"] == "hybrid"
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
                n: {
                    "result": "success" if n in ran else "skipped",
                    "outputs": {k: "x" for k in ci["jobs"][n].get("outputs", {})} if n in ran else {},
                }
                for n in needs
            }
            status = "success" if all(n in ran for n in needs) else "skipped"
            if condition(job.get("if"), context, status):
                ran.add(name)
        return ran

    # Hybrid: the image is built by its own job (no secret), before either deploy.
    image = {"build-image"} if hybrid else set()
    pr = {"head_sha": "a" * 40}
    assert started("push") == {"test", "deploy-production", *image}
    for action in ("opened", "synchronize", "reopened"):
        assert started("pull_request", action=action, **pr) == {
            "test",
            "deploy-branch",
            "clone-prod",
            "slim-build",
            "comment",
            *({"branch-state", "build-image"} if hybrid else set()),
        }
    assert started("pull_request", action="closed", merged=True, **pr) == {"close-branch-deployment"}
    # Forks and Dependabot: tests only; their state, image, deploy and close jobs are skipped.
    for outsider in ({"head_repository": "someone/acme_data"}, {"author": "dependabot[bot]"}):
        assert started("pull_request", action="opened", **outsider, **pr) == {"test"}
        assert started("pull_request", action="closed", **outsider, **pr) == set()


def test_github_production_deploys_only_after_the_tests_in_its_environment(github_project: Path) -> None:
    jobs = workflows(github_project)["ci.yml"]["jobs"]
    hybrid = answers(github_project)["deployment_type"] == "hybrid"
    job = jobs["deploy-production"]
    # Hybrid: both deploys need the image job, which needs the tests (and runs only after they
    # passed: `always()` there only lets it run when branch-state was skipped, on pushes).
    assert job["needs"] == ("build-image" if hybrid else "test")
    assert jobs["deploy-branch"]["needs"] == ("build-image" if hybrid else "test")
    if hybrid:
        assert jobs["build-image"]["needs"] == ["test", "branch-state"]
        assert "needs.test.result == 'success'" in jobs["build-image"]["if"]
        assert jobs["branch-state"]["needs"] == "test"
    assert job["environment"]["name"] == "production"
    assert job["concurrency"] == {"group": "dagster-plus-production", "cancel-in-progress": False}
    assert jobs["slim-build"]["needs"] == "clone-prod"
    for name in ("clone-prod", "comment"):
        assert "deploy-branch" in jobs[name]["needs"]
    # Only the production deploy is in the environment that holds production's secrets.
    assert [n for n, j in jobs.items() if "environment" in j] == ["deploy-production"]


def run_commands(job: dict[str, Any]) -> list[list[str]]:
    return [args for step in job["steps"] for args in commands(step.get("run", ""))]


def docker_calls(calls: list[list[str]]) -> list[list[str]]:
    """`docker ...` commands, also after a pipe (`echo "$P" | docker login ...`)."""
    return [args[args.index("docker") :] for args in calls if "docker" in args]


def trusted_tool(args: list[str]) -> bool:
    """docker, echo, a `$(docker load|inspect ...)` capture, or the pinned Dagster+ CLI running
    `dg plus deploy` or ci/dagster_plus.py: nothing from the project's environment."""
    if re.fullmatch(r"\w+=\$\(docker (load|inspect) .*", args[0], re.S):
        return True
    if args[0] in ("docker", "echo"):
        return True
    tool = pinned_tool(args)
    return tool is not args and (
        tool[:3] == ["dg", "plus", "deploy"] or tool[:2] == ["python", "ci/dagster_plus.py"]
    )


def step_env_secrets(step: dict[str, Any]) -> set[str]:
    return {
        expression
        for value in (step.get("env") or {}).values()
        for expression in re.findall(r"\$\{\{\s*([\w.]+)\s*\}\}", str(value))
        if expression.startswith("secrets.") or expression == "github.token"
    }


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
        calls = run_commands(job)
        deploy = [pinned_tool(args) for args in calls if pinned_tool(args)[:3] == ["dg", "plus", "deploy"]]
        start = deploy[0]
        assert option(start, "--deployment-type") == kind
        assert option(start, "--commit-hash") == head
        assert option(start, "--git-url") == f"$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/tree/{head}"
        tools = [pinned_tool(args) for args in calls]
        state = [h for args in calls if (h := helper_call(args)) and h[0] == "dbt-state"]
        helpers = [h[0] for args in calls if (h := helper_call(args))]
        # One pull request per head branch, checked before anything is pushed or deployed.
        assert (helpers[0] == "only-change-request") == (kind == "branch")
        assert helpers.count("only-change-request") == (kind == "branch")
        if agent_type == "serverless":
            assert [args[3] for args in deploy] == ["start", "build-and-push", "finish"], name
            build = deploy[1]
            assert option(build, "--agent-type") == "serverless"
            assert option(build, "--build-strategy") == "python-executable"
            assert option(build, "--pex-build-method") == "local"
            export = tools[tools.index(build) - 1]
            assert export[:2] == ["uv", "export"] and "--locked" in export and "--no-dev" in export
            install = calls.index(["make", "install"])
            assert calls[install + 1] == ["make", "package"] and tools.index(start) > install
            # dbt state: production publishes the manifest it packaged once deployed; a branch
            # fetches production's into dbt_project/state/ before packaging it.
            if kind == "full":
                assert state == [["dbt-state", "publish", "--file", "dbt_project/target/manifest.json"]]
                assert helper_call(calls[-1]) == state[0] and tools[-2] == ["dg", "plus", "deploy", "finish"]
            else:
                assert state == [["dbt-state", "fetch", "--output", "dbt_project/state/manifest.json"]]
                fetch = next(i for i, args in enumerate(calls) if helper_call(args) == state[0])
                assert fetch < install
            uv = next(step for step in job["steps"] if "setup-uv" in step.get("uses", ""))
            assert uv["with"]["save-cache"] is False  # deploy jobs only read the tests' cache
            assert "packages" not in job["permissions"]
        else:
            # Hybrid: no build here. docker loads the archive build-image made, tags and pushes
            # it; the pinned CLI records its digest in the session between start and finish.
            assert [args[3] for args in deploy] == ["start", "finish"], name
            untrusted = [args for args in calls if not trusted_tool(args)]
            assert untrusted == [], (name, untrusted)
            assert not any("make" in args or ".venv/bin" in " ".join(args) for args in calls)
            registry, tag, login_secret = (
                ("PRODUCTION_REGISTRY", "prod-$GITHUB_SHA", "secrets.PRODUCTION_REGISTRY_TOKEN")
                if kind == "full"
                else ("BRANCH_REGISTRY", "pr-$PR_NUMBER-$HEAD_SHA", "github.token")
            )
            docker = docker_calls(calls)
            assert [args[1] for args in docker] == ["tag", "login", "push", "logout"], name
            assert docker[0] == ["docker", "tag", "$loaded", f"${registry}:{tag}"]
            assert docker[1] == [
                "docker",
                "login",
                f"${{{registry}%%/*}}",
                "--username",
                "$REGISTRY_USERNAME",
                "--password-stdin",
            ]
            assert docker[2] == ["docker", "push", f"${registry}:{tag}"]
            push = next(s for s in job["steps"] if "docker push" in s.get("run", ""))
            assert push["env"]["REGISTRY_PASSWORD"] == f"${{{{ {login_secret} }}}}"
            assert step_env_secrets(push) == {
                login_secret,
                "secrets.PRODUCTION_REGISTRY_USERNAME" if kind == "full" else "github.token",
            }
            assert push["run"].splitlines()[0].startswith('loaded="$(docker load --quiet --input image.tar')
            assert f'grep -m1 "^${registry}@"' in push["run"]  # the pushed digest, not the tag
            (set_image,) = [h for args in calls if (h := helper_call(args)) and h[0] == "set-image"]
            assert set_image == ["set-image", "--image", "$IMAGE", "--registry", f"${registry}"]
            at = {h[0]: i for i, args in enumerate(calls) if (h := helper_call(args))}
            start_at, finish_at = (i for i, args in enumerate(tools) if args[:3] == ["dg", "plus", "deploy"])
            assert calls.index(docker[2]) < start_at < at["set-image"] < finish_at
            if kind == "full":
                assert state == [["dbt-state", "publish", "--file", "manifest.json"]]  # from build-image
                assert at["dbt-state"] == len(calls) - 1
            else:
                assert state == []  # fetched by branch-state, into the image
            uv = next(step for step in job["steps"] if "setup-uv" in step.get("uses", ""))
            assert uv["with"]["enable-cache"] is False  # credential-holding jobs use no cache
            download = next(s for s in job["steps"] if "download-artifact" in s.get("uses", ""))
            assert download["with"] == {"name": "code-location-image"}
            # The job token writes the branch package only: production has no packages: write.
            assert job["permissions"].get("packages") == (None if kind == "full" else "write")
    test_uv = next(s for s in ci["jobs"]["test"]["steps"] if "setup-uv" in s.get("uses", ""))
    assert test_uv["with"]["cache-dependency-glob"] == "uv.lock"
    registries = {k: v for k, v in ci["env"].items() if k.endswith("_REGISTRY")}
    if agent_type == "hybrid":
        build_yaml = yaml.safe_load((github_project / "build.yaml").read_text())
        assert registries == {
            "PRODUCTION_REGISTRY": build_yaml["registry"],
            "BRANCH_REGISTRY": build_yaml["registry"] + "-branches",
        }
    else:
        assert registries == {}


def test_github_hybrid_image_job_holds_no_secret(github_project: Path) -> None:
    """build-image runs the change's Dockerfile: no secret, no environment, no registry login,
    no write permission; its output is an archive and the manifest packaged in it."""
    jobs = workflows(github_project)["ci.yml"]["jobs"]
    if answers(github_project)["deployment_type"] != "hybrid":
        assert "build-image" not in jobs and "branch-state" not in jobs
        return
    build = jobs["build-image"]
    assert build["permissions"] == {"contents": "read"} and "environment" not in build
    assert not any(step_env_secrets(step) for step in build["steps"])
    assert "secrets." not in yaml.safe_dump(build) and "github.token" not in yaml.safe_dump(build)
    calls = run_commands(build)
    assert [args[:2] for args in docker_calls(calls)] == [
        ["docker", "build"],
        ["docker", "save"],
        ["docker", "run"],
    ]
    assert calls[0][-1] == "." and option(calls[0], "--file") == "Dockerfile"
    assert calls[1] == ["docker", "save", "--output", "image.tar", "code-location:build"]
    # The manifest, found by the image's own Python (not a path naming a Python version).
    copy = calls[2]
    assert copy[-2:] == [">", "manifest.json"] and copy[copy.index("-c") + 1] == "$MANIFEST_OF_THE_PACKAGE"
    step = next(s for s in build["steps"] if "MANIFEST_OF_THE_PACKAGE" in (s.get("env") or {}))
    assert 'find_spec("acme_data")' in step["env"]["MANIFEST_OF_THE_PACKAGE"]
    assert "python3." not in yaml.safe_dump(build)
    upload = next(s for s in build["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "code-location-image"
    assert upload["with"]["path"].split() == ["image.tar", "manifest.json"]
    # Pull requests' image carries production's dbt state, fetched by branch-state (which runs
    # only the pinned CLI and ci/dagster_plus.py, with the branch token).
    download = next(s for s in build["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["if"] == "github.event_name == 'pull_request'"
    assert (download["with"]["pattern"], download["with"]["path"]) == ("dbt-state", "dbt_project/state")
    state = jobs["branch-state"]
    assert [helper_call(a) for a in run_commands(state)] == [
        ["dbt-state", "fetch", "--output", ".ci-state/manifest.json"]
    ]
    assert all(trusted_tool(a) for a in run_commands(state))
    assert (
        next(s for s in state["steps"] if "upload-artifact" in s.get("uses", ""))["with"]["name"]
        == "dbt-state"
    )
    assert {e for s in state["steps"] for e in step_env_secrets(s)} == {"secrets.DAGSTER_CLOUD_API_TOKEN"}


def test_github_dagster_jobs_and_the_comment(github_project: Path) -> None:
    ci = workflows(github_project)["ci.yml"]

    def helpers(job: str) -> list[tuple[list[str], Any]]:
        return [
            (helper, step.get("if"))
            for step in ci["jobs"][job]["steps"]
            for args in commands(step.get("run", ""))
            if (helper := helper_call(args)) is not None
        ]

    hybrid = answers(github_project)["deployment_type"] == "hybrid"
    assert helpers("deploy-branch") == [
        (["only-change-request"], None),
        (
            ["set-image", "--image", "$IMAGE", "--registry", "$BRANCH_REGISTRY"]
            if hybrid
            else ["dbt-state", "fetch", "--output", "dbt_project/state/manifest.json"],
            None,
        ),
        (["branch-deployment", "--output", "$GITHUB_OUTPUT"], None),
    ]
    keep = [] if answers(github_project)["reclone"] == "yes" else ["--keep-clone-unless", "fresh-clone"]
    assert helpers("clone-prod") == [(["launch", "clone_prod", "--output", "$GITHUB_OUTPUT", *keep], None)]
    assert helpers("slim-build") == [(["launch", "dbt_slim_branch_build"], None)]
    assert helpers("close-branch-deployment") == [
        (["launch", "drop_prod_clone", "--skip-without-branch-deployment"], None),
        (["close"], "always()"),  # marked merged/closed even when the drop failed
    ]
    assert helpers("comment") == [(["comment"], None)]
    # Only the comment job may write to the pull request; it installs nothing. The deploy and
    # close jobs read the head branch's other open pull requests (one per branch).
    access = {
        n: j["permissions"]["pull-requests"]
        for n, j in ci["jobs"].items()
        if "pull-requests" in j.get("permissions", {})
    }
    assert access == {"deploy-branch": "read", "comment": "write", "close-branch-deployment": "read"}
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

    hybrid = deployment_type == "hybrid"
    image = {"build_image": "on_success"} if hybrid else {}
    assert pipeline(default_branch) == {"test": "on_success", "deploy_production": "on_success", **image}
    assert pipeline(merge_request) == {
        "test": "on_success",
        "deploy_branch": "on_success",
        "clone_prod": "on_success",
        "slim_build": "on_success",
        "close_branch": "manual",
        **({} if reclone == "yes" else {"fresh_clone": "manual"}),
        **({"branch_state": "on_success", **image} if hybrid else {}),
    }
    assert pipeline(fork) == {"test": "on_success"}  # deploy jobs skipped, not failed

    # Deploys only after the tests (hybrid: through the image job); clone after the deploy.
    if hybrid:
        assert jobs["branch_state"]["needs"] == ["test"]
        assert jobs["build_image"]["needs"] == [{"job": "test"}, {"job": "branch_state", "optional": True}]
        assert jobs["deploy_production"]["needs"] == jobs["deploy_branch"]["needs"] == ["build_image"]
    else:
        assert jobs["deploy_production"]["needs"] == jobs["deploy_branch"]["needs"] == ["test"]
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
    # The jobs running the change's code are in no environment: no scoped variable reaches them.
    assert "environment" not in jobs["test"]

    def calls_of(name: str) -> list[list[str]]:
        return [args for line in flatten(jobs[name]["script"]) for args in commands(line)]

    for name, kind in (("deploy_production", "full"), ("deploy_branch", "branch")):
        calls = calls_of(name)
        tools = [pinned_tool(args) for args in calls]
        deploy = [args for args in tools if args[:3] == ["dg", "plus", "deploy"]]
        start = deploy[0]
        assert option(start, "--deployment-type") == kind
        assert option(start, "--commit-hash") == "$CI_COMMIT_SHA"
        assert option(start, "--git-url") == "$CI_PROJECT_URL/-/tree/$CI_COMMIT_SHA"
        helpers = [h for args in calls if (h := helper_call(args))]
        # One merge request per source branch, checked before anything is pushed or deployed.
        assert (helpers[0] == ["only-change-request"]) == (kind == "branch")
        state = [h for h in helpers if h[0] == "dbt-state"]
        if not hybrid:
            # Install and package with no secret in the child's environment, then dg plus deploy.
            for target in ("install", "package"):
                line = next(a for a in calls if "make" in a and a[a.index("make") + 1] == target)
                make = line.index("make")
                assert line[make - 5 : make] == [
                    "env",
                    "-u",
                    "DAGSTER_CLOUD_API_TOKEN",
                    "-u",
                    "GITLAB_API_TOKEN",
                ]
            assert [args[3] for args in deploy] == ["start", "build-and-push", "finish"]
            build = deploy[1]
            assert option(build, "--agent-type") == "serverless"
            assert (option(build, "--build-strategy"), option(build, "--pex-build-method")) == (
                "python-executable",
                "local",
            )
            export = tools[tools.index(build) - 1]
            assert export[:2] == ["uv", "export"] and "--no-dev" in export
            assert "services" not in jobs[name]
            assert jobs[name]["cache"] == {**jobs["test"]["cache"], "policy": "pull"}
            if kind == "full":
                assert state == [["dbt-state", "publish", "--file", "dbt_project/target/manifest.json"]]
                assert calls[-2] == ["dg", "plus", "deploy", "finish"] and helper_call(calls[-1]) == state[0]
            else:  # fetched, then packaged (no secret) before the build
                assert state == [["dbt-state", "fetch", "--output", "dbt_project/state/manifest.json"]]
                fetch = next(i for i, args in enumerate(calls) if helper_call(args) == state[0])
                assert "package" in calls[fetch + 1] and "DAGSTER_CLOUD_API_TOKEN" in calls[fetch + 1]
            continue
        # Hybrid: docker and the pinned CLI only (no install, no build, no cache); the archive
        # build_image made is tagged and pushed, and deployed by its digest.
        assert [args[3] for args in deploy] == ["start", "finish"]
        assert not any("make" in args or "$VENV/bin" in " ".join(args) for args in calls)
        assert "cache" not in jobs[name] and "services" in jobs[name]
        registry, tag, user, password = (
            (
                "PRODUCTION_REGISTRY",
                "prod-$CI_COMMIT_SHA",
                "PRODUCTION_REGISTRY_USER",
                "PRODUCTION_REGISTRY_PASSWORD",
            )
            if kind == "full"
            else (
                "BRANCH_REGISTRY",
                "mr-$CI_MERGE_REQUEST_IID-$CI_COMMIT_SHA",
                "CI_REGISTRY_USER",
                "CI_REGISTRY_PASSWORD",
            )
        )
        docker = [args[args.index("docker") :] for args in calls if "docker" in args]
        assert docker == [
            ["docker", "tag", "$loaded", f"${registry}:{tag}"],
            ["docker", "login", f"${{{registry}%%/*}}", "--username", f"${user}", "--password-stdin"],
            ["docker", "push", f"${registry}:{tag}"],
            ["docker", "logout", f"${{{registry}%%/*}}"],
        ]
        login = next(args for args in calls if "login" in args)
        assert login[:2] == ["echo", f"${password}"]
        script = "\n".join(flatten(jobs[name]["script"]))
        assert f'grep -m1 "^${registry}@"' in script  # the pushed digest, not the tag
        assert ["set-image", "--image", "$IMAGE", "--registry", f"${registry}"] in helpers
        set_image = next(i for i, args in enumerate(calls) if (helper_call(args) or [""])[0] == "set-image")
        push = calls.index(docker[2])
        start_at, finish_at = (i for i, args in enumerate(tools) if args[:3] == ["dg", "plus", "deploy"])
        assert push < start_at < set_image < finish_at
        assert state == ([["dbt-state", "publish", "--file", "manifest.json"]] if kind == "full" else [])
    if hybrid:
        # build_image: the change's Dockerfile, no environment (no scoped variable), no login.
        assert "environment" not in jobs["build_image"]
        build_calls = calls_of("build_image")
        assert [args[:2] for args in build_calls] == [
            ["docker", "build"],
            ["docker", "save"],
            ["docker", "run"],
        ]
        assert option(build_calls[0], "--file") == "Dockerfile"
        copy = build_calls[2]
        assert copy[-2:] == [">", "manifest.json"] and 'find_spec("acme_data")' in copy[copy.index("-c") + 1]
        assert "python3." not in "\n".join(flatten(jobs["build_image"]["script"]))
        assert jobs["build_image"]["artifacts"]["paths"] == ["image.tar", "manifest.json"]
        assert "cache" not in jobs["build_image"]
        # branch_state: production's state for the image, with the branch token (pinned CLI).
        assert [pinned_tool(a) for a in calls_of("branch_state")][1:] == [  # after the uv install
            [
                "python",
                "ci/dagster_plus.py",
                "dbt-state",
                "fetch",
                "--output",
                "dbt_project/state/manifest.json",
            ]
        ]
        assert jobs["branch_state"]["environment"] == {
            "name": "branch/$CI_COMMIT_REF_NAME",
            "action": "prepare",
        }
        assert jobs["branch_state"]["artifacts"]["paths"] == ["dbt_project/state/"]
        build_yaml = yaml.safe_load((project / "build.yaml").read_text())
        assert (
            ci["variables"]["PRODUCTION_REGISTRY"]
            == build_yaml["registry"]
            == ("registry.gitlab.com/acme/acme_data-production")
        )
        assert ci["variables"]["BRANCH_REGISTRY"] == "$CI_REGISTRY_IMAGE/branches"
    else:
        assert not {"build_image", "branch_state"} & set(jobs)
        assert "PRODUCTION_REGISTRY" not in ci["variables"]

    # The Dagster+ jobs, through ci/dagster_plus.py (fails unless the run succeeds).
    def helpers(name: str) -> list[list[str]]:
        return [h for line in flatten(jobs[name]["script"]) for a in commands(line) if (h := helper_call(a))]

    assert helpers("deploy_branch") == [
        ["only-change-request"],
        ["set-image", "--image", "$IMAGE", "--registry", "$BRANCH_REGISTRY"]
        if hybrid
        else ["dbt-state", "fetch", "--output", "dbt_project/state/manifest.json"],
        ["branch-deployment", "--output", "deploy.env"],
    ]
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
    # (deploy jobs: serverless only reads it, hybrid's use none; asserted above)


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


# The suite's generated-command environment, less the generated tests that start real `make run`
# and `make dev` processes (to interrupt them, or to find a `dg launch` run in the UI; about three
# minutes): their code is the same for both providers, and the GitHub project's suite runs them
# (test_generated_project.py).
GITLAB_JOB_ENV = {
    **GENERATED_COMMAND_ENV,
    "PYTEST_ADDOPTS": GENERATED_COMMAND_ENV["PYTEST_ADDOPTS"]
    + " --ignore=tests/test_make_dev_interrupts.py --ignore=tests/example/test_make_run_interrupts.py"
    + " --ignore=tests/example/test_local_instance.py",
}


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
            *(f"--variable={name}={value}" for name, value in GITLAB_JOB_ENV.items()),
            "test",
        ],
        gitlab_project,
        # The pinned uv is next to this interpreter (the job installs it only when missing).
        env={"PATH": f"{gitlab_ci_local}:{venv_bin()}:{Path(tool('uv')).parent}:{SYSTEM_PATH}"},
        timeout=SUITE_TIMEOUT,
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
