"""Hooks: every bad answer is refused by name before anything is written; post-gen is safe."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
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
    ("project_slug", "donn\u00e9es", "lowercase Python identifier"),
    ("project_slug", "class", "Python keyword"),
    ("project_slug", "match", "Python keyword"),
    ("project_slug", "dagster", "shadow"),
    ("project_slug", "dbt", "shadow"),
    ("project_slug", "snowflake", "shadow"),
    ("project_slug", "duckdb", "shadow"),
    ("project_slug", "test", "shadow"),
    ("project_slug", "dagster_dbt", "shadow"),
    # The standard library and every installed dependency, not a hand-picked list.
    ("project_slug", "email", "shadow"),
    ("project_slug", "statistics", "shadow"),
    ("project_slug", "yaml", "shadow"),
    ("project_slug", "requests", "shadow"),
    ("project_slug", "sqlglot", "shadow"),
    ("project_slug", "tests", "shadow"),
    ("project_slug", "a" * 51, "at most 50"),
    ("description", "line one\nline two", "one line"),
    ("author_email", "not-an-email", "e-mail"),
    ("author_email", "{{team}}@example.com", "e-mail"),
    ("author_email", "\u00e9quipe@example.com", "ASCII e-mail"),
    ("author_email", "o'brien@example.com", "Dagster owner rules"),
    ("ci_provider", "bitbucket", "not one of: github, gitlab"),
    ("ci_provider", "GitHub", "not one of: github, gitlab"),
    ("dagster_plus_deployment_type", "kubernetes", "not one of: serverless, hybrid"),
    ("dagster_plus_organization", "Acme Corp", "lowercase letters"),
    ("production_deployment_name", "Prod!", "lowercase letters"),
    ("python_version", "3.9", "not one of: 3.11, 3.12, 3.13"),
    ("python_version", "3.14", "not one of"),
    ("snowflake_account", "acme.snowflakecomputing.com", "not the URL"),
    ("snowflake_account", "acme account", "is not allowed"),
    ("snowflake_account", "12345", "always contain letters"),
    ("snowflake_account", "\uff41cme", "is not allowed"),
    ("snowflake_database", "PROD; DROP DATABASE X", "Snowflake identifier"),
    ("snowflake_database", "1PROD", "Snowflake identifier"),
    ("snowflake_database", "P" * 191, "at most 190"),
    # `$` is a Snowflake name character, not a Dagster one: these two become asset keys.
    ("snowflake_database", "PROD$1", "Dagster name"),
    ("snowflake_schema", "HN$RAW", "Dagster name"),
    ("snowflake_database", "\u00c9T\u00c9", "Snowflake identifier"),
    ("snowflake_database", "SELECT", "reserved SQL keyword"),
    ("snowflake_schema", "limit", "reserved SQL keyword"),
    ("snowflake_sandbox_database", "SAND-BOX", "Snowflake identifier"),
    ("snowflake_sandbox_database", "production", "must differ from snowflake_database"),
    ("snowflake_sandbox_database", "PRODUCTION_CLONE_5", "named like a pull-request clone"),
    ("snowflake_sandbox_database", "production_clone_dev", "named like a pull-request clone"),
    ("snowflake_warehouse", 'WH"; --', "Snowflake identifier"),
    ("snowflake_warehouse", "NULL", "reserved SQL keyword"),
    ("snowflake_role", "", "Snowflake identifier"),
    ("snowflake_branch_role", "dagster", "must differ from snowflake_role"),
    ("snowflake_branch_role", "DAG STER", "Snowflake identifier"),
    ("snowflake_schema", "raw data", "Snowflake identifier"),
    # Schemas the project builds (from its own definitions, scripts/refresh_reserved_names.py):
    # raw tables there would be dropped by blue/green's prepare or swapped by its promotion.
    ("snowflake_schema", "ANALYTICS_BLUE", "schema the project builds"),
    ("snowflake_schema", "analytics", "schema the project builds"),
    ("snowflake_schema", "Staging", "schema the project builds"),
    ("snowflake_schema", "platform_health", "schema the project builds"),
    ("snowflake_schema", "snapshots_blue", "schema the project builds"),
    ("snowflake_schema", "CLONE_ADMIN", "schema the project builds"),
    ("snowflake_schema", "information_schema", "Snowflake reserves"),
    # Snowflake's own roles and databases: a service user must never hold them.
    ("snowflake_branch_role", "ACCOUNTADMIN", "Snowflake system role"),
    ("snowflake_branch_role", "sysadmin", "Snowflake system role"),
    ("snowflake_branch_role", "SECURITYADMIN", "Snowflake system role"),
    ("snowflake_branch_role", "PUBLIC", "Snowflake system role"),
    ("snowflake_role", "ACCOUNTADMIN", "Snowflake system role"),
    ("snowflake_role", "UserAdmin", "Snowflake system role"),
    ("snowflake_database", "SNOWFLAKE", "Snowflake system database"),
    ("snowflake_sandbox_database", "snowflake_sample_data", "Snowflake system database"),
    ("dev_window_days", "0", "whole number from 1 to 3650"),
    ("dev_window_days", "ninety", "whole number"),
    # Canonical ASCII integers only: these would not even compile in settings.py.
    ("dev_window_days", "090", "no leading zero"),
    ("clone_retention_days", "014", "no leading zero"),
    ("clone_retention_days", "\u0661\u0664", "ASCII digits"),
    ("clone_retention_days", "\uff11\uff14", "ASCII digits"),
    ("clone_retention_days", "\u00b2", "ASCII digits"),
    ("clone_retention_days", "1_4", "whole number"),
    ("clone_retention_days", "-3", "whole number from 1 to 365"),
    ("blue_green_publishing", "maybe", "not one of: yes, no"),
    ("reclone_on_every_push", "always", "not one of: yes, no"),
    ("platform_health", "sometimes", "not one of: yes, no"),
    ("bi_tool", "looker", "not one of: none, superset, mode"),
]


def test_defaults_are_valid() -> None:
    assert pre_gen.validate(default_answers()) == []


def test_every_answer_has_a_rule() -> None:
    assert set(default_answers()) == set(pre_gen.RULES)


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


def test_yaml_words_are_accepted_names() -> None:
    """Words YAML reads as booleans or null are fine names: every answer reaches YAML quoted
    (test_answer_sweep.py bakes them and checks they stay strings)."""
    answers = {
        **default_answers(),
        "project_slug": "on",
        "snowflake_warehouse": "YES",
        "snowflake_role": "off",
        "snowflake_sandbox_database": "n",
        "snowflake_account": "0x1F",
    }
    assert pre_gen.validate(answers) == []


def output_dirs(tmp_path: Path) -> list[Path]:
    """The folders pytest-cookies baked into (its `cookies` fixture uses the test's tmp dir)."""
    return sorted((tmp_path / "cookies").iterdir())


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("project_slug", "class", "Python keyword"),
        ("snowflake_database", "PROD; DROP DATABASE X", "Snowflake identifier"),
        ("project_name", 'Evil """ name', "double quotes"),
        ("snowflake_account", "acme.snowflakecomputing.com", "not the URL"),
        # Choices are plain answers validated by the hook, not Cookiecutter lists (which fail
        # with a ValueError traceback before any hook runs).
        ("ci_provider", "bitbucket", "not one of: github, gitlab"),
        ("python_version", "3.10", "not one of: 3.11, 3.12, 3.13"),
        ("clone_retention_days", "014", "no leading zero"),
        # Answers that would make the baked project destroy its own data or run as an admin.
        ("snowflake_schema", "ANALYTICS_BLUE", "schema the project builds"),
        ("snowflake_schema", "ANALYTICS", "schema the project builds"),
        ("snowflake_branch_role", "ACCOUNTADMIN", "Snowflake system role"),
        ("snowflake_role", "ACCOUNTADMIN", "Snowflake system role"),
        ("snowflake_database", "SNOWFLAKE", "Snowflake system database"),
    ],
)
def test_cookiecutter_refuses_and_leaves_nothing(
    cookies: Any,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    variable: str,
    value: str,
    words: str,
) -> None:
    result = cookies.bake(extra_context={variable: value})
    assert result.exit_code != 0
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {variable}: ") and words in errors[0]
    assert "Traceback" not in err and "ValueError" not in err
    (output_dir,) = output_dirs(tmp_path)
    assert list(output_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ci_provider", "bitbucket"), ("python_version", "3.14"), ("blue_green_publishing", "maybe")],
)
def test_cookiecutter_cli_refuses_choices_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    """The real `cookiecutter --no-input` CLI: one ERROR line from the hook, no ValueError
    traceback, and no project folder. (Cookiecutter itself then reports that the hook failed.)"""
    out = tmp_path / "out"
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("cookiecutter")),
            "--no-input",
            "-o",
            str(out),
            str(TEMPLATE_DIR),
            f"{variable}={value}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    ours = [line for line in output.splitlines() if re.match(r"ERROR: [a-z_]+: ", line)]
    assert ours == [f"ERROR: {variable}: {value!r} is not one of: {', '.join(pre_gen.CHOICES[variable])}"]
    assert "ValueError" not in output
    assert not out.exists() or list(out.iterdir()) == []


NASTY = 'a """ b \'\'\' c \\ d \\" e \\\\""" f\n\t\u2028 \u00e9 \U0001f600 </script> ;DROP'


def test_answers_json_survives_quotes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Render the real pre-gen hook through Cookiecutter with a nasty answer, then run the
    rendered source: it must parse exactly the answer back (JSON in a raw string). Cookiecutter
    renders each answer as a Jinja template before any hook sees it (so no braces here, and
    "\r\n" would arrive as "\n"): that is Cookiecutter's doing, not the hook's transport."""
    import cookiecutter.hooks
    from cookiecutter.main import cookiecutter as bake

    rendered: dict[str, str] = {}

    def keep_script(script_path: str, cwd: str = ".") -> None:
        rendered[Path(script_path).name] = Path(script_path).read_text()

    monkeypatch.setattr(cookiecutter.hooks, "run_script", keep_script)
    bake(
        str(TEMPLATE_DIR),
        no_input=True,
        output_dir=str(tmp_path),
        extra_context={"project_name": NASTY, "project_slug": "nasty_check"},
    )
    (source,) = [text for text in rendered.values() if "def validate(" in text]
    namespace: dict[str, Any] = {"__name__": "rendered_hook"}
    exec(compile(source, "pre_gen_project.py", "exec"), namespace)
    answers = json.loads(namespace["ANSWERS_JSON"])
    assert answers["project_name"] == NASTY
    assert namespace["validate"](answers) == [
        'ERROR: project_name: must be one line without double quotes, backslashes or braces ("\\{}")'
    ]


def test_reserved_names_cover_this_interpreter() -> None:
    """The checked-in lists hold at least what this Python knows (the full check, against the
    generated project's environment, is in test_answer_sweep.py)."""
    running = {name.lower() for name in sys.stdlib_module_names if re.fullmatch(r"[A-Za-z]\w*", name)}
    assert running <= pre_gen.STDLIB_MODULES
    assert {"dagster", "dbt", "duckdb", "snowflake", "yaml", "pytest"} <= pre_gen.DEPENDENCY_MODULES


def make_project(tmp_path: Path) -> Path:
    for relative in [
        ".github/workflows/ci.yml",
        ".gitlab-ci.yml",
        "Dockerfile",
        ".dockerignore",
        "dbt_project/macros/blue_green/swap.sql",
        "tests/example/test_blue_green.py",
        "build.yaml",
        "keep.txt",
        "src/acme_data/platform_health/graph.py",
        "src/acme_data/platform_health/github_pull_requests.py",
        "src/acme_data/platform_health/gitlab_merge_requests.py",
        "src/acme_data/defs/platform_health/assets.py",
        "tests/example/platform_health/test_graph.py",
        "tests/example/platform_health/test_github_pull_requests.py",
        "tests/example/platform_health/test_gitlab_merge_requests.py",
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
                "tests/example/test_blue_green.py",
                "keep.txt",
                "src/acme_data/platform_health/graph.py",
                "src/acme_data/platform_health/github_pull_requests.py",
                "src/acme_data/defs/platform_health/assets.py",
                "tests/example/platform_health/test_graph.py",
                "tests/example/platform_health/test_github_pull_requests.py",
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
                "tests/example/platform_health/test_graph.py",
                "tests/example/platform_health/test_gitlab_merge_requests.py",
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
