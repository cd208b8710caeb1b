"""Who can write what: the rendered CI of the hybrid projects, read as a table of credentials.

For GitHub+hybrid and GitLab+hybrid, every job and step of the parsed CI file (yaml.safe_load,
never grep) becomes a row: the event that starts it (a pull/merge request, or main), the
credentials it holds, the image it pushes and with which credential, and whether it runs code
from the change. The platform's rules decide which credential a job holds (GitHub: secrets a
step names, environment secrets only in jobs of that environment, the job token's `permissions`;
GitLab: environment-scoped and protected variables, and the job token every job has) and what
each credential can write (docs/security.md, "CI credentials and images"). Then:

- no job a pull/merge request starts holds a credential that can write the production registry
  or deploy to production, and production images are pushed only from main;
- no job that runs the change's code (install, tests, builds) holds any configured secret;
- every push is followed by deploying that image by digest, from the registry it was pushed to.

Also: the deploy's real ``uv export`` (the exact command the serverless CI runs) lists no dev tool,
and the Dockerfile's ``uv sync`` installs the same set.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATE_DIR, _uv
from github_actions import condition, context_for, github_event
from test_ci_files import commands, flatten, gitlab_jobs, rule_outcome

SLUG = "acme_data"
DEV_TOOLS = {
    "pytest",
    "mypy",
    "ruff",
    "fakesnow",
    "cruft",
    "dagster-webserver",
    "pre-commit",
    "pytest-xdist",
    "dagster-dg-cli",
}
PRODUCTION = "production"
BRANCH = "branch"

# What each credential can write. GitHub: the job token writes the packages this repository has
# Actions write access to (the branch package only: docs/security.md); GitLab: CI_JOB_TOKEN
# writes this project's own registry ($CI_REGISTRY_IMAGE/...), which is BRANCH_REGISTRY.
GITHUB_CAPABILITIES = {
    "secrets.DAGSTER_CLOUD_API_TOKEN@production": {"dagster-plus:production"},
    "secrets.DAGSTER_CLOUD_API_TOKEN@repository": {"dagster-plus:branch"},
    "secrets.PRODUCTION_REGISTRY_TOKEN@production": {"registry:PRODUCTION_REGISTRY"},
    "secrets.PRODUCTION_REGISTRY_USERNAME@production": set(),
    "github.token+packages": {"registry:BRANCH_REGISTRY"},
    "github.token": set(),
}
# GitLab CI/CD variables as docs/security.md has them set: (environment scope, protected).
GITLAB_VARIABLES = {
    "DAGSTER_CLOUD_API_TOKEN": [("production", True), ("branch/*", False)],
    "PRODUCTION_REGISTRY_USER": [("production", True)],
    "PRODUCTION_REGISTRY_PASSWORD": [("production", True)],
    "GITLAB_API_TOKEN": [("branch/*", False)],
}
GITLAB_CAPABILITIES = {
    "DAGSTER_CLOUD_API_TOKEN@production": {"dagster-plus:production"},
    "DAGSTER_CLOUD_API_TOKEN@branch/*": {"dagster-plus:branch"},
    "PRODUCTION_REGISTRY_PASSWORD@production": {"registry:PRODUCTION_REGISTRY"},
    "PRODUCTION_REGISTRY_USER@production": set(),
    "GITLAB_API_TOKEN@branch/*": set(),
    "CI_JOB_TOKEN": {"registry:BRANCH_REGISTRY"},
}


@dataclass
class Row:
    job: str
    step: str
    trigger: str  # "pull_request" / "merge_request" or "main"
    credentials: set[str]
    pushes: list[str] = field(default_factory=list)  # registry variables pushed to
    runs_change_code: bool = False

    def can_write(self, capabilities: dict[str, set[str]]) -> set[str]:
        return set().union(*(capabilities[c] for c in self.credentials)) if self.credentials else set()


def bake_hybrid(tmp_path: Path, ci_provider: str) -> Path:
    from cookiecutter.main import cookiecutter

    context = {"ci_provider": ci_provider, "dagster_plus_deployment_type": "hybrid"}
    return Path(
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(tmp_path), extra_context=context)
    )


def strip_pinned_tool(args: list[str]) -> tuple[list[str], bool]:
    """`uv run --no-project --with "<pkg>==<version>" CMD...` -> (CMD..., True): a pinned tool
    from PyPI, run outside the project's environment (nothing of uv.lock or .venv)."""
    if args[:3] == ["uv", "run", "--no-project"] and args[3] == "--with" and "==" in args[4]:
        return args[5:], True
    return args, False


def runs_change_code(script: str) -> bool:
    """Whether a script runs code that comes from the change: the project's make targets, its
    venv's tools, a build of its sources (Dockerfile, wheel, PEX) or its modules."""
    for line in commands(script):
        args, pinned = strip_pinned_tool(line)
        if pinned:
            if args[:1] == ["python"] and args[1] != "ci/dagster_plus.py":
                return True
            continue
        words = " ".join(args)
        if args[:1] == ["make"] or "make " in words or ".venv/bin" in words or "$VENV/bin" in words:
            return True
        if args[:2] in (["docker", "build"], ["uv", "build"], ["uv", "sync"]) or args[:1] in (
            ["dg"],
            ["pytest"],
        ):
            return True
        if args[:2] == ["python", "-m"] or "dbt_project.py" in words:
            return True
    return False


def pushed_registries(script: str) -> list[str]:
    pushes = []
    for args in commands(script):
        if args[:2] == ["docker", "push"]:
            match = re.fullmatch(r"\$(\w+):.+", args[2])
            assert match, f"docker push {args[2]}: push to a registry variable"
            pushes.append(match.group(1))
    return pushes


# --- GitHub ------------------------------------------------------------------------------------


def github_table(project: Path) -> list[Row]:
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    rows: list[Row] = []
    events = {
        "main": ("push", github_event(event_name="push")),
        "pull_request": (
            "pull_request",
            github_event(event_name="pull_request", action="synchronize", head_sha="a" * 40),
        ),
    }
    for trigger, (event_name, event) in events.items():
        context = context_for(event_name, event)
        ran: set[str] = set()
        for name, job in ci["jobs"].items():
            needs = [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", [])
            context["needs"] = {
                n: {
                    "result": "success" if n in ran else "skipped",
                    "outputs": {"deployment": "x"} if n in ran else {},
                }
                for n in needs
            }
            status = "success" if all(n in ran for n in needs) else "skipped"
            if not condition(job.get("if"), context, status):
                continue
            ran.add(name)
            environment = (
                (job.get("environment") or {}).get("name")
                if isinstance(job.get("environment"), dict)
                else job.get("environment")
            )
            packages = (job.get("permissions") or {}).get("packages") == "write"
            for step in job["steps"]:
                credentials = set()
                for value in (step.get("env") or {}).values():
                    for expression in re.findall(r"\$\{\{\s*([\w.]+)\s*\}\}", str(value)):
                        if expression.startswith("secrets."):
                            # An environment's secret shadows the repository's of the same name.
                            scope = "production" if environment == PRODUCTION else "repository"
                            credentials.add(f"{expression}@{scope}")
                        elif expression == "github.token":
                            credentials.add("github.token+packages" if packages else "github.token")
                script = step.get("run", "")
                rows.append(
                    Row(
                        name,
                        step.get("name", step.get("uses", "")),
                        trigger,
                        credentials,
                        pushed_registries(script),
                        runs_change_code(script),
                    )
                )
    return rows


# --- GitLab ------------------------------------------------------------------------------------


def gitlab_table(project: Path) -> list[Row]:
    jobs = gitlab_jobs(project)
    pipelines = {
        "main": (
            {"CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main", "CI_PIPELINE_SOURCE": "push"},
            True,
        ),
        "merge_request": (
            {
                "CI_PIPELINE_SOURCE": "merge_request_event",
                "CI_MERGE_REQUEST_PROJECT_ID": "1",
                "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "1",
            },
            False,  # a merge request's source branch is not protected
        ),
    }
    rows: list[Row] = []
    for trigger, (variables, protected_ref) in pipelines.items():
        for name, job in jobs.items():
            if not rule_outcome(job.get("rules", []), variables):
                continue
            environment = (job.get("environment") or {}).get("name", "")
            credentials = {"CI_JOB_TOKEN"}  # every job has it, and it writes the project's registry
            for variable, scopes in GITLAB_VARIABLES.items():
                for scope, protected in scopes:
                    in_scope = environment == scope or (
                        scope.endswith("/*") and environment.startswith(scope[:-1])
                    )
                    if in_scope and (protected_ref or not protected):
                        credentials.add(f"{variable}@{scope}")
            script = "\n".join(flatten(job.get("before_script")) + flatten(job.get("script")))
            rows.append(
                Row(name, "script", trigger, credentials, pushed_registries(script), runs_change_code(script))
            )
    return rows


def assert_production_is_out_of_reach(
    rows: list[Row], capabilities: dict[str, set[str]], change: str, ignore: set[str]
) -> None:
    production = {"registry:PRODUCTION_REGISTRY", "dagster-plus:production"}
    table = "\n".join(
        f"{r.trigger:14} {r.job:26} {r.step[:48]:48} {sorted(r.credentials)} "
        f"pushes={r.pushes} change_code={r.runs_change_code}"
        for r in rows
    )
    print(table)
    change_rows = [r for r in rows if r.trigger == change]
    assert change_rows and [r for r in rows if r.trigger == "main"]
    for row in change_rows:
        assert not row.can_write(capabilities) & production, (
            f"{row.job}/{row.step} can write production\n{table}"
        )
        assert "PRODUCTION_REGISTRY" not in row.pushes, row
    # Jobs that run the change's code hold no configured secret, in any step (an earlier step can
    # leave a process behind that reads a later step's environment).
    for job in {r.job for r in rows if r.runs_change_code}:
        held = {c for r in rows if r.job == job for c in r.credentials} - ignore
        assert not held, f"{job} runs the change's code and holds {held}\n{table}"
    # Pushes: production only from main, with production's own credential.
    for row in rows:
        for registry in row.pushes:
            assert f"registry:{registry}" in row.can_write(capabilities), row
            if registry == "PRODUCTION_REGISTRY":
                assert row.trigger == "main", row
    assert any("PRODUCTION_REGISTRY" in r.pushes for r in rows if r.trigger == "main")
    assert any("BRANCH_REGISTRY" in r.pushes for r in change_rows)


def assert_deploys_by_digest(scripts: list[str]) -> None:
    """After each push, the session records the pushed image's digest from that same registry."""
    calls = [args for script in scripts for args in commands(script)]
    pushed = [args[2].split(":")[0].lstrip("$") for args in calls if args[:2] == ["docker", "push"]]
    recorded = [
        strip_pinned_tool(args)[0] for args in calls if "set-image" in args and strip_pinned_tool(args)[1]
    ]
    assert len(pushed) == len(recorded) == 1, (pushed, recorded)
    helper = recorded[0]
    assert helper[helper.index("--registry") + 1] == f"${pushed[0]}"
    assert helper[helper.index("--image") + 1] == "$IMAGE"  # RepoDigests' REGISTRY@sha256:...


def test_github_hybrid_credentials_and_images(tmp_path: Path) -> None:
    project = bake_hybrid(tmp_path, "github")
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    rows = github_table(project)
    # GitHub's job token reaches every step through actions; only the permissions matter.
    assert_production_is_out_of_reach(rows, GITHUB_CAPABILITIES, "pull_request", ignore={"github.token"})
    registry = yaml.safe_load((project / "build.yaml").read_text())["registry"]
    assert ci["env"]["PRODUCTION_REGISTRY"] == registry != ci["env"]["BRANCH_REGISTRY"]
    for name in ("deploy-production", "deploy-branch"):
        assert_deploys_by_digest([s.get("run", "") for s in ci["jobs"][name]["steps"]])
    # Production's secrets live in the production environment, which only main's push reaches.
    for row in rows:
        if any(c.endswith("@production") for c in row.credentials):
            assert row.trigger == "main" and ci["jobs"][row.job]["environment"]["name"] == PRODUCTION
    assert "packages" not in ci["jobs"]["deploy-production"]["permissions"]
    assert [n for n, j in ci["jobs"].items() if (j.get("permissions") or {}).get("packages")] == [
        "deploy-branch"
    ]


def test_gitlab_hybrid_credentials_and_images(tmp_path: Path) -> None:
    project = bake_hybrid(tmp_path, "gitlab")
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    rows = gitlab_table(project)
    assert_production_is_out_of_reach(rows, GITLAB_CAPABILITIES, "merge_request", ignore={"CI_JOB_TOKEN"})
    # The production registry is not this project's: CI_JOB_TOKEN (in every job, merge requests'
    # included) writes $CI_REGISTRY_IMAGE and below.
    registry = yaml.safe_load((project / "build.yaml").read_text())["registry"]
    project_registry = f"registry.gitlab.com/acme/{SLUG}"
    assert ci["variables"]["PRODUCTION_REGISTRY"] == registry
    assert registry != project_registry and not registry.startswith(project_registry + "/")
    assert ci["variables"]["BRANCH_REGISTRY"].startswith("$CI_REGISTRY_IMAGE/")
    jobs = gitlab_jobs(project)
    for name in ("deploy_production", "deploy_branch"):
        assert_deploys_by_digest(flatten(jobs[name]["script"]))
    assert "environment" not in jobs["build_image"]  # no environment: no scoped variable at all


def test_the_table_sees_an_attack(tmp_path: Path) -> None:
    """The check is not vacuous: a merge request pipeline that pushes with the job token to the
    production registry path (the old layout: production in $CI_REGISTRY_IMAGE) is caught."""
    project = bake_hybrid(tmp_path, "gitlab")
    ci_file = project / ".gitlab-ci.yml"
    ci = yaml.safe_load(ci_file.read_text())
    ci["build_image"]["script"].append('docker push "$PRODUCTION_REGISTRY:prod-$CI_COMMIT_SHA"')
    ci_file.write_text(yaml.safe_dump(ci))
    with pytest.raises(AssertionError, match=r"PRODUCTION_REGISTRY"):
        assert_production_is_out_of_reach(
            gitlab_table(project), GITLAB_CAPABILITIES, "merge_request", {"CI_JOB_TOKEN"}
        )


# --- what a deploy installs ---------------------------------------------------------------------


def exported(project: Path, args: list[str]) -> set[str]:
    completed = subprocess.run([_uv(), *args[1:]], cwd=project, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    output = Path(project / args[args.index("--output-file") + 1]).read_text()
    return {
        re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower()
        for line in output.splitlines()
        if line and not line.startswith(("#", " ", "-"))
    }


@pytest.mark.parametrize("ci_provider", ["github", "gitlab"])
def test_the_deploy_export_holds_no_dev_tool(tmp_path: Path, ci_provider: str) -> None:
    """The serverless deploy's own `uv export` line, run on a baked project."""
    from cookiecutter.main import cookiecutter

    project = Path(
        cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"ci_provider": ci_provider},
        )
    )
    if ci_provider == "github":
        ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
        scripts = [
            s.get("run", "")
            for job in ("deploy-production", "deploy-branch")
            for s in ci["jobs"][job]["steps"]
        ]
    else:
        jobs = gitlab_jobs(project)
        scripts = [
            line for job in ("deploy_production", "deploy_branch") for line in flatten(jobs[job]["script"])
        ]
    exports = [args for script in scripts for args in commands(script) if args[:2] == ["uv", "export"]]
    assert len(exports) == 2 and exports[0] == exports[1]
    packages = exported(project, exports[0])
    assert {"dagster", "dagster-dbt", "dagster-cloud", "dbt-core", "dbt-snowflake"} <= packages
    assert not packages & DEV_TOOLS, packages & DEV_TOOLS
    # The same lock exported with the dev group (what `make install` gets) does list them: the
    # check can fail.
    with_dev = exported(project, [a for a in exports[0] if a != "--no-dev"])
    assert with_dev >= DEV_TOOLS

    # The Dockerfile's `uv sync` flags select the same set (sync and export resolve alike).
    dockerfile = (project / "Dockerfile").read_text() if (project / "Dockerfile").exists() else None
    if dockerfile is None:
        hybrid = Path(
            cookiecutter(
                str(TEMPLATE_DIR),
                no_input=True,
                output_dir=str(tmp_path / "hybrid"),
                extra_context={"ci_provider": ci_provider, "dagster_plus_deployment_type": "hybrid"},
            )
        )
        dockerfile = (hybrid / "Dockerfile").read_text()
    (sync,) = [shlex.split(line) for line in dockerfile.splitlines() if "uv sync" in line]
    sync_flags = [a for a in sync[sync.index("sync") + 1 :] if a.startswith("--")]
    assert set(sync_flags) == {"--locked", "--no-install-project", "--no-dev"}
    same = ["uv", "export", *[f.replace("--no-install-project", "--no-emit-project") for f in sync_flags]]
    assert exported(project, [*same, "--no-hashes", "--output-file", "docker.txt"]) == packages
