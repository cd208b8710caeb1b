"""Hooks: every bad answer is refused by name before anything is written; post-gen is safe."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import DEFAULT_CONTEXT, TEMPLATE_DIR


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TEMPLATE_DIR / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


def default_answers() -> dict[str, str]:
    answers = {
        k: v[0] if isinstance(v, list) else v for k, v in DEFAULT_CONTEXT.items() if not k.startswith("_")
    }
    answers["project_slug"] = "acme_data"
    return answers


# (variable, bad value, words the error must contain)
BAD_ANSWERS = [
    ("project_name", "   ", "must not be blank"),
    ("project_name", 'Acme "Data"', "double quotes"),
    ("project_slug", "Acme-Data", "lowercase Python identifier"),
    ("project_slug", "1data", "lowercase Python identifier"),
    ("project_slug", "class", "Python keyword"),
    ("project_slug", "dagster", "shadow"),
    ("project_slug", "dbt", "shadow"),
    ("project_slug", "snowflake", "shadow"),
    ("project_slug", "duckdb", "shadow"),
    ("project_slug", "test", "shadow"),
    ("project_slug", "dagster_dbt", "shadow"),
    ("project_slug", "a" * 51, "at most 50"),
    ("description", "line one\nline two", "one line"),
    ("author_email", "not-an-email", "e-mail"),
    ("ci_provider", "bitbucket", "not one of: github, gitlab"),
    ("dagster_plus_deployment_type", "kubernetes", "not one of: serverless, hybrid"),
    ("dagster_plus_organization", "Acme Corp", "lowercase letters"),
    ("production_deployment_name", "Prod!", "lowercase letters"),
    ("python_version", "3.9", "not one of: 3.11, 3.12, 3.13"),
    ("python_version", "3.14", "not one of"),
    ("snowflake_account", "acme.snowflakecomputing.com", "not the URL"),
    ("snowflake_account", "acme account", "is not allowed"),
    ("snowflake_database", "PROD; DROP DATABASE X", "unquoted Snowflake identifier"),
    ("snowflake_database", "1PROD", "unquoted Snowflake identifier"),
    ("snowflake_database", "P" * 201, "at most 200"),
    ("snowflake_sandbox_database", "SAND-BOX", "unquoted Snowflake identifier"),
    ("snowflake_sandbox_database", "production", "must differ from snowflake_database"),
    ("snowflake_warehouse", 'WH"; --', "unquoted Snowflake identifier"),
    ("snowflake_role", "", "unquoted Snowflake identifier"),
    ("snowflake_schema", "raw data", "unquoted Snowflake identifier"),
    ("dev_window_days", "0", "whole number from 1 to 3650"),
    ("dev_window_days", "ninety", "whole number"),
    ("clone_retention_days", "-3", "whole number from 1 to 365"),
    ("blue_green_publishing", "maybe", "not one of: yes, no"),
    ("platform_health", "sometimes", "not one of: yes, no"),
    ("bi_tool", "looker", "not one of: none, superset, mode"),
]


def test_defaults_are_valid() -> None:
    assert pre_gen.validate(default_answers()) == []


def test_every_answer_has_a_rule() -> None:
    assert set(default_answers()) <= set(pre_gen.RULES)


@pytest.mark.parametrize(("variable", "value", "words"), BAD_ANSWERS, ids=lambda v: str(v)[:30])
def test_validate_names_the_variable(variable: str, value: str, words: str) -> None:
    errors = pre_gen.validate({**default_answers(), variable: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"ERROR: {variable}: ")
    assert words in errors[0]
    assert "\n" not in errors[0]


def test_whole_numbers_may_arrive_as_json_numbers() -> None:
    assert pre_gen.validate({**default_answers(), "dev_window_days": 30}) == []
    assert pre_gen.validate({**default_answers(), "dev_window_days": 0})[0].startswith(
        "ERROR: dev_window_days:"
    )


def test_a_bi_tool_needs_platform_health() -> None:
    answers = {**default_answers(), "platform_health": "no", "bi_tool": "mode"}
    assert pre_gen.validate(answers) == [
        "ERROR: bi_tool: 'mode' needs platform_health=yes (only platform health reads BI reports); "
        "answer bi_tool=none"
    ]
    assert pre_gen.validate({**answers, "bi_tool": "none"}) == []


def test_several_problems_one_line_each() -> None:
    errors = pre_gen.validate({**default_answers(), "project_slug": "class", "snowflake_role": "x y"})
    assert [e.split(":")[1].strip() for e in errors] == ["project_slug", "snowflake_role"]


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("project_slug", "class", "Python keyword"),
        ("snowflake_database", "PROD; DROP DATABASE X", "unquoted Snowflake identifier"),
        ("project_name", 'Evil """ name', "double quotes"),
        ("snowflake_account", "acme.snowflakecomputing.com", "not the URL"),
    ],
)
def test_cookiecutter_refuses_and_leaves_nothing(
    cookies: Any, capfd: pytest.CaptureFixture[str], variable: str, value: str, words: str
) -> None:
    result = cookies.bake(extra_context={variable: value})
    assert result.exit_code != 0
    err = capfd.readouterr().err
    assert f"ERROR: {variable}: " in err and words in err
    assert "Traceback" not in err
    output_dir = Path(cookies._default_output_dir) if hasattr(cookies, "_default_output_dir") else None
    if output_dir is not None:
        assert not any(output_dir.iterdir())
    assert result.project_path is None or not Path(result.project_path).exists()


def test_choice_outside_the_list_is_refused_before_hooks(cookies: Any) -> None:
    """Cookiecutter itself refuses choices off the list (the hook's rule covers replay files)."""
    result = cookies.bake(extra_context={"ci_provider": "bitbucket"})
    assert result.exit_code != 0
    assert "ci_provider" in str(result.exception) and "github" in str(result.exception)
    assert result.project_path is None


def test_answers_json_survives_quotes() -> None:
    """The raw-string transport: JSON escapes every quote, so nothing can end the string."""
    nasty = {"project_name": "a \"\"\" b ''' c \\"}
    text = json.dumps(nasty, indent=4)
    source = f'ANSWERS_JSON = r"""\n{text}\n"""'
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    assert json.loads(namespace["ANSWERS_JSON"]) == nasty


def make_project(tmp_path: Path) -> Path:
    for relative in [
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        "Dockerfile",
        ".dockerignore",
        "dbt_project/macros/blue_green/swap.sql",
        "tests/test_blue_green.py",
        "build.yaml",
        "keep.txt",
        "src/acme_data/platform_health/graph.py",
        "src/acme_data/platform_health/github_pull_requests.py",
        "src/acme_data/platform_health/gitlab_merge_requests.py",
        "src/acme_data/defs/platform_health/assets.py",
        "tests/platform_health/test_graph.py",
        "tests/platform_health/test_github_pull_requests.py",
        "tests/platform_health/test_gitlab_merge_requests.py",
        "docs/platform-health.md",
    ]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    return tmp_path


def remaining(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (
            {
                "project_slug": "acme_data",
                "ci_provider": "github",
                "dagster_plus_deployment_type": "serverless",
                "blue_green_publishing": "yes",
                "platform_health": "yes",
            },
            {
                ".github/workflows/ci.yml",
                "dbt_project/macros/blue_green/swap.sql",
                "tests/test_blue_green.py",
                "keep.txt",
                "src/acme_data/platform_health/graph.py",
                "src/acme_data/platform_health/github_pull_requests.py",
                "src/acme_data/defs/platform_health/assets.py",
                "tests/platform_health/test_graph.py",
                "tests/platform_health/test_github_pull_requests.py",
                "docs/platform-health.md",
            },
        ),
        (
            {
                "project_slug": "acme_data",
                "ci_provider": "gitlab",
                "dagster_plus_deployment_type": "hybrid",
                "blue_green_publishing": "no",
                "platform_health": "yes",
            },
            {
                ".gitlab-ci.yml",
                "Dockerfile",
                ".dockerignore",
                "build.yaml",
                "keep.txt",
                "src/acme_data/platform_health/graph.py",
                "src/acme_data/platform_health/gitlab_merge_requests.py",
                "src/acme_data/defs/platform_health/assets.py",
                "tests/platform_health/test_graph.py",
                "tests/platform_health/test_gitlab_merge_requests.py",
                "docs/platform-health.md",
            },
        ),
        (
            {
                "project_slug": "acme_data",
                "ci_provider": "gitlab",
                "dagster_plus_deployment_type": "hybrid",
                "blue_green_publishing": "no",
                "platform_health": "no",
            },
            {".gitlab-ci.yml", "Dockerfile", ".dockerignore", "build.yaml", "keep.txt"},
        ),
    ],
)
def test_post_gen_keeps_only_what_options_need(
    tmp_path: Path, answers: dict[str, str], expected: set[str]
) -> None:
    project = make_project(tmp_path)
    post_gen.main(answers, project)
    assert remaining(project) == expected
    post_gen.main(answers, project)  # idempotent: a second run changes nothing and does not fail
    assert remaining(project) == expected


def test_remove_paths_refuses_to_escape(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("keep me")
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(ValueError, match="outside"):
        post_gen.remove_paths(project, ("../outside.txt",))
    assert (tmp_path / "outside.txt").exists()
