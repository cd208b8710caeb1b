"""Bake every supported combination with the real Cookiecutter and inspect what it wrote."""

from __future__ import annotations

import ast
import json
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_determinism import describe_differences, tree_snapshot

from conftest import DEFAULT_CONTEXT, SUPPORTED_COMBINATIONS, TEMPLATE_DIR, _uv, bake, combination_id

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
# dbt's own Jinja is legitimate in these files; cookiecutter's must never survive anywhere.
DBT_JINJA_SUFFIXES = (".sql",)
# Files Cookiecutter copies verbatim: any Jinja in them is meant for dbt (or a test reading it).
COPIED_RAW = DEFAULT_CONTEXT["_copy_without_render"]


class _GitLabLoader(yaml.SafeLoader):
    """GitLab's `!reference [job, key]` tag, parsed as a plain list."""


_GitLabLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def template_files() -> set[str]:
    """Every file the project template holds, with the slug folder rendered as the default."""
    return {
        str(p.relative_to(PROJECT_TEMPLATE)).replace("{{cookiecutter.project_slug}}", "acme_data")
        for p in PROJECT_TEMPLATE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def option_files(context: dict[str, str]) -> set[str]:
    """The files each option removes when it is off, spelled out per option."""
    removed = set()
    everything = template_files()
    if context["ci_provider"] == "github":
        removed |= {".gitlab-ci.yml"}
    else:
        removed |= {f for f in everything if f.startswith(".github/")}
    if context["dagster_plus_deployment_type"] != "hybrid":
        removed |= {"Dockerfile", ".dockerignore", "build.yaml"}
    if context["blue_green_publishing"] != "yes":
        removed |= {f for f in everything if f.startswith("dbt_project/macros/blue_green/")}
        removed |= {"tests/example/test_blue_green.py", "tests/test_blue_green_snowflake_sql.py"}
    if context["platform_health"] != "yes":
        feature = ("src/acme_data/defs/platform_health/", "tests/example/platform_health/")
        removed |= {f for f in everything if f.startswith(feature)}
        removed |= {"docs/platform-health.md"}
    else:
        other = "gitlab_merge_requests" if context["ci_provider"] == "github" else "github_pull_requests"
        removed |= {
            f"src/acme_data/defs/platform_health/lib/{other}.py",
            f"tests/example/platform_health/test_{other}.py",
        }
        adapters = {
            "superset": {"lib/superset.py", "lib/rison.py", "test_superset_adapter.py"},
            "mode": {"lib/mode.py", "test_mode.py", "test_mode_assets.py"},
        }
        unused = {f for tool, files in adapters.items() if tool != context["bi_tool"] for f in files}
        unused |= {"lib/http.py"} if context["bi_tool"] == "none" else set()
        folders = {True: "src/acme_data/defs/platform_health", False: "tests/example/platform_health"}
        removed |= {f"{folders[f.startswith('lib/')]}/{f}" for f in unused}
    return removed


def baked_files(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}


@pytest.fixture(params=SUPPORTED_COMBINATIONS, ids=combination_id)
def baked(request: pytest.FixtureRequest, cookies: Any) -> tuple[dict[str, str], Path]:
    return request.param, bake(cookies, **request.param)


def test_exact_file_set(baked: tuple[dict[str, str], Path]) -> None:
    context, project = baked
    assert project.name == "acme_data"
    assert baked_files(project) == template_files() - option_files(context)


def test_only_the_chosen_ci_provider(baked: tuple[dict[str, str], Path]) -> None:
    context, project = baked
    github = (project / ".github" / "workflows").is_dir()
    gitlab = (project / ".gitlab-ci.yml").is_file()
    assert (github, gitlab) == ((True, False) if context["ci_provider"] == "github" else (False, True))
    assert (project / "Dockerfile").exists() is (context["dagster_plus_deployment_type"] == "hybrid")


def test_nothing_left_unrendered(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for path in project.rglob("*"):
        if not path.is_file() or path.suffix in {".duckdb"}:
            continue
        text = path.read_text()
        assert "cookiecutter." not in text.replace("cookiecutter.json", ""), path
        raw = any(fnmatch(str(path.relative_to(project)), glob) for glob in COPIED_RAW)
        if path.suffix not in DBT_JINJA_SUFFIXES and "dbt_project" not in path.parts and not raw:
            assert "{%" not in text, path


def test_structured_files_parse(baked: tuple[dict[str, str], Path]) -> None:
    _context, project = baked
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        assert yaml.load(path.read_text(), Loader=_GitLabLoader) is not None, path
    for path in project.rglob("*.toml"):
        tomllib.loads(path.read_text())
    for path in project.rglob("*.json"):
        assert path.read_text().strip()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "acme_data"
    assert pyproject["tool"]["dg"]["project"]["root_module"] == "acme_data"
    assert (project / ".python-version").read_text().strip() == "3.12"


def deployed_requirements(project: Path) -> set[str]:
    """The distributions a deploy installs: the Serverless PEX's ``uv export --no-dev``, read from
    the bake's own uv.lock (``--frozen``: offline)."""
    exported = subprocess.run(
        [_uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--quiet"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("==")[0].lower() for line in exported.splitlines() if "==" in line}


PLATFORM_HEALTH_LIBRARIES = {"networkx", "scipy", "sqlglot", "matplotlib"}


def test_platform_health_answers_reach_its_component_and_dependencies(
    baked: tuple[dict[str, str], Path],
) -> None:
    context, project = baked
    component = project / "src/acme_data/defs/platform_health/defs.yaml"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    deployed = deployed_requirements(project)
    code_host_client = {"github": "pygithub", "gitlab": "python-gitlab"}
    if context["platform_health"] == "yes":
        declared = yaml.safe_load(component.read_text())
        assert declared["type"] == ".component.PlatformHealth"
        assert declared["attributes"]["bi_tool"] == context["bi_tool"]
        assert declared["attributes"]["code_host"] == context["ci_provider"]
        groups = ["platform-health", f"platform-health-{context['ci_provider']}"]
        assert pyproject["tool"]["uv"]["default-groups"] == ["dev", *groups]
        assert deployed >= PLATFORM_HEALTH_LIBRARIES | {code_host_client[context["ci_provider"]]}
        other_provider = "gitlab" if context["ci_provider"] == "github" else "github"
        assert code_host_client[other_provider] not in deployed
    else:
        assert not component.exists()
        assert pyproject["tool"]["uv"]["default-groups"] == ["dev"]
        # What only platform health uses is not deployed (dbt-core needs networkx and
        # dagster-dbt sqlglot themselves).
        assert not deployed & {"scipy", "matplotlib", "pygithub", "python-gitlab"}
    # Never the test tools, whatever the answers.
    assert not deployed & {"pytest", "fakesnow", "ruff", "dagster-webserver"}
    settings = (project / "src" / "acme_data" / "settings.py").read_text()
    assert "PLATFORM_HEALTH" not in settings and "CI_PROVIDER" not in settings
    # The example's consumers are there whatever the answer (a plain dbt feature).
    exposures = yaml.safe_load((project / "dbt_project/models/marts/_exposures.yml").read_text())
    assert {e["name"] for e in exposures["exposures"]} == {"front_page_dashboard", "author_leaderboard"}


def test_python_files_compile(baked: tuple[dict[str, str], Path]) -> None:
    _, project = baked
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec", flags=ast.PyCF_ONLY_AST)


def test_lockstep_dagster_pins(cookies: Any) -> None:
    project = bake(cookies)
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(d.split("==") for d in dependencies if "==" in d)
    core = pins.pop("dagster")
    assert core.startswith("1.13.")
    assert pins.pop("dagster-cloud") == core
    assert set(pins.values()) == {"0.29." + core.split(".")[2]}
    assert "dbt-core>=1.11,<1.12" in dependencies


def test_answers_reach_settings_and_dbt(cookies: Any) -> None:
    project = bake(
        cookies,
        project_name="Big Corp Analytics",
        snowflake_database="BIGCORP",
        snowflake_schema="HN_RAW",
        production_deployment_name="production",
        python_version="3.11",
        snowflake_branch_role="CI_BRANCH",
    )
    assert project.name == "big_corp_analytics"
    settings = (project / "src" / "big_corp_analytics" / "settings.py").read_text()
    assert 'PRODUCTION_DATABASE = "BIGCORP"' in settings
    assert 'PRODUCTION_DEPLOYMENT_NAME = "production"' in settings
    assert 'SNOWFLAKE_BRANCH_ROLE = "CI_BRANCH"' in settings
    dbt_project = yaml.safe_load((project / "dbt_project" / "dbt_project.yml").read_text())
    assert dbt_project["name"] == "big_corp_analytics"
    assert dbt_project["vars"]["raw_schema"] == "hn_raw"
    assert dbt_project["vars"]["production_database"] == "BIGCORP"
    profiles = yaml.safe_load((project / "dbt_project" / "profiles.yml").read_text())
    outputs = profiles["big_corp_analytics"]["outputs"]
    assert outputs["prod"]["database"] == "BIGCORP"
    assert (outputs["prod"]["role"], outputs["branch_deployment"]["role"]) == ("DAGSTER", "CI_BRANCH")
    assert set(profiles["big_corp_analytics"]["outputs"]) == {
        "local",
        "personal",
        "branch_deployment",
        "prod",
    }
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["target-version"] == "py311"


def test_the_project_keeps_the_answers_it_was_made_with(cookies: Any) -> None:
    """``.cookiecutter-answers.json`` holds this project's answers (a choice's value, booleans as
    booleans), whatever was baked since; baking again from it gives the same project."""
    given = {
        "project_name": "Big Corp",
        "ci_provider": "gitlab",
        "platform_health": "no",
        "python_version": "3.13",
    }
    first = bake(cookies, **given)
    bake(cookies, project_name="Other Corp", platform_health="yes", bi_tool="mode")  # baked later
    kept = json.loads((first / ".cookiecutter-answers.json").read_text())
    defaults = {
        k: v[0] if isinstance(v, list) else v for k, v in DEFAULT_CONTEXT.items() if not k.startswith("_")
    }
    assert kept == {**defaults, **given, "project_slug": "big_corp", "platform_health": False}
    again = bake(cookies, **kept)
    assert describe_differences(tree_snapshot(first), tree_snapshot(again)) == []
