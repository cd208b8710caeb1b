"""Hooks: every bad answer is refused by name before anything is written; post-gen is safe."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
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


def default_answers() -> dict[str, object]:
    """What the hooks receive for the defaults: a list's first item, booleans as booleans."""
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
    ("project_slug", "a" * 30, "at most 29"),
    ("project_slug", "process_groups", "would shadow"),
    ("project_slug", "test_pipeline", "would shadow"),
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
    ("blue_green_publishing", "maybe", "not yes or no (accepted: 1/0, true/false, t/f, yes/no, y/n, on/off)"),
    ("reclone_on_every_push", "always", "not yes or no"),
    ("platform_health", "", "not yes or no"),
    ("platform_health", None, "not yes or no"),
    # Cookiecutter makes booleans of yes/no answers: text here came from elsewhere (an old replay).
    ("platform_health", "yes", "must be true or false, not the text 'yes'"),
    ("blue_green_publishing", "no", "must be true or false"),
    ("bi_tool", "looker", "not one of: none, superset, mode"),
]


def test_defaults_are_valid() -> None:
    assert pre_gen.validate(default_answers()) == []


def test_every_answer_has_a_rule() -> None:
    assert set(default_answers()) == set(pre_gen.RULES)


def test_the_rules_offer_what_cookiecutter_json_offers() -> None:
    """Each choice list holds the values the hook allows (its default first), each yes/no
    question is a JSON boolean, and every choice has a menu label."""
    lists = {k: v for k, v in DEFAULT_CONTEXT.items() if isinstance(v, list) and not k.startswith("_")}
    assert {k: sorted(v) for k, v in lists.items()} == {k: sorted(v) for k, v in pre_gen.CHOICES.items()}
    assert DEFAULT_CONTEXT["python_version"][0] == "3.12"
    assert {k for k, v in DEFAULT_CONTEXT.items() if isinstance(v, bool)} == set(pre_gen.BOOLEANS)
    prompts = DEFAULT_CONTEXT["__prompts__"]
    for name, values in lists.items():
        labels = prompts[name] if isinstance(prompts[name], dict) else {}
        assert set(labels) <= {"__prompt__", *values}, name
        assert "__prompt__" in labels or isinstance(prompts[name], str), name


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
    answers = {**default_answers(), "platform_health": False, "bi_tool": "mode"}
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cookiecutter's copy of the template for the pre_prompt hook, left behind as the bake fails.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = cookies.bake(extra_context={variable: value})
    assert result.exit_code != 0
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {variable}: ") and words in errors[0]
    assert "Traceback" not in err and "ValueError" not in err
    (output_dir,) = output_dirs(tmp_path)
    assert list(output_dir.iterdir()) == []


# --- The real cookiecutter CLI: hooks/pre_prompt.py checks command-line answers first ------------

CLI = [str(Path(sys.executable).with_name("cookiecutter"))]
YES_NO = "accepted: 1/0, true/false, t/f, yes/no, y/n, on/off"


def cookiecutter_cli(
    tmp_path: Path, *arguments: str, stdin: str = "", command: list[str] = CLI
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI on the template, baking into ``tmp_path/out`` with a user config of its
    own (replay files stay in ``tmp_path``, and so does the copy of the template Cookiecutter
    makes for the pre_prompt hook and leaves behind when a hook fails); the output is not
    wrapped (COLUMNS)."""
    config = tmp_path / "config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n")
    (tmp_path / "tmp").mkdir()
    return subprocess.run(
        [*command, "--config-file", str(config), "-o", str(tmp_path / "out"), *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "250", "TMPDIR": str(tmp_path / "tmp")},
        timeout=600,
    )


CLI_REFUSALS = [
    (["ci_provider=jenkins"], ["ERROR: ci_provider: 'jenkins' is not one of: github, gitlab"]),
    (["python_version=3.10"], ["ERROR: python_version: '3.10' is not one of: 3.11, 3.12, 3.13"]),
    (["bi_tool=looker"], ["ERROR: bi_tool: 'looker' is not one of: none, superset, mode"]),
    (["platform_health=maybe"], [f"ERROR: platform_health: 'maybe' is not yes or no ({YES_NO})"]),
    (
        ["snowflake_warehouse=WH-1"],
        [
            "ERROR: snowflake_warehouse: 'WH-1' is not allowed: use an unquoted Snowflake "
            "identifier: [A-Za-z_][A-Za-z0-9_$]*"
        ],
    ),
    # Several at once: one line each (in the order of pre_gen_project.RULES).
    (
        ["reclone_on_every_push=always", "ci_provider=jenkins"],
        [
            "ERROR: ci_provider: 'jenkins' is not one of: github, gitlab",
            f"ERROR: reclone_on_every_push: 'always' is not yes or no ({YES_NO})",
        ],
    ),
    # Checked with the defaults: the slug derived from a given name, and the cross-checks.
    (["project_name=Import"], ["ERROR: project_slug: 'import' is a Python keyword"]),
    (
        ["platform_health=no", "bi_tool=mode"],
        [
            "ERROR: bi_tool: 'mode' needs platform_health=yes (only platform health reads BI "
            "reports); answer bi_tool=none"
        ],
    ),
]


@pytest.mark.parametrize(("answers", "expected"), CLI_REFUSALS, ids=[" ".join(a) for a, _ in CLI_REFUSALS])
def test_cli_refuses_bad_no_input_answers_with_one_line_each(
    tmp_path: Path, answers: list[str], expected: list[str]
) -> None:
    """Choices and booleans too: Cookiecutter itself would refuse those with a ValueError
    traceback; the pre_prompt hook gets there first. Nothing is written."""
    completed = cookiecutter_cli(tmp_path, "--no-input", str(TEMPLATE_DIR), *answers)
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == expected
    assert completed.stdout.strip() == "Pre-Prompt Hook script failed"  # Cookiecutter's own note
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command",
    [CLI, [sys.executable, "-m", "cookiecutter"]],
    ids=["cookiecutter", "python -m cookiecutter"],
)
def test_cli_refuses_a_bad_given_answer_before_prompting(tmp_path: Path, command: list[str]) -> None:
    """Without --no-input the given answers become the prompts' defaults: a bad one is refused
    before the first prompt, and only given answers are checked."""
    completed = cookiecutter_cli(tmp_path, str(TEMPLATE_DIR), "ci_provider=jenkins", command=command)
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == ["ERROR: ci_provider: 'jenkins' is not one of: github, gitlab"]
    assert "[1/" not in completed.stdout
    assert not (tmp_path / "out").exists()


def test_cli_menus_number_the_choices_and_ask_yes_or_no(tmp_path: Path) -> None:
    """Interactively every choice is a numbered menu with labels and each yes/no question a
    [y/n] prompt; answering 2 for the CI provider, y for platform health (off by default) and 3
    for the BI tool bakes a GitLab project with platform health reading Mode."""
    picks = {"ci_provider": "2", "platform_health": "y", "bi_tool": "3"}
    questions = [name for name in DEFAULT_CONTEXT if not name.startswith("_")]
    stdin = "".join(f"{picks.get(name, '')}\n" for name in questions)
    completed = cookiecutter_cli(tmp_path, str(TEMPLATE_DIR), stdin=stdin)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    prompt = " ".join(completed.stdout.split())
    assert "CI provider 1 - GitHub Actions 2 - GitLab CI Choose from [1/2] (1):" in prompt
    assert "Python version the project runs on 1 - 3.12 2 - 3.11 3 - 3.13 Choose from [1/2/3] (1):" in prompt
    assert "1 - None (dbt exposures only) 2 - Apache Superset 3 - Mode" in prompt
    assert "kept current) [y/n] (n):" in prompt
    project = tmp_path / "out" / "acme_data"
    assert (project / ".gitlab-ci.yml").is_file() and not (project / ".github").exists()
    assert (project / "src/acme_data/defs/platform_health/lib/mode.py").is_file()
    answers = json.loads((project / ".cookiecutter-answers.json").read_text())
    assert [answers[k] for k in ("ci_provider", "platform_health", "bi_tool")] == ["gitlab", True, "mode"]


@pytest.mark.parametrize("word", ["no", "OFF", "false", "n"])
def test_cli_yes_no_words_are_booleans(tmp_path: Path, word: str) -> None:
    completed = cookiecutter_cli(tmp_path, "--no-input", str(TEMPLATE_DIR), f"platform_health={word}")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    project = tmp_path / "out" / "acme_data"
    assert not (project / "src" / "acme_data" / "platform_health").exists()
    assert "PLATFORM_HEALTH" not in (project / "src" / "acme_data" / "settings.py").read_text()
    assert json.loads((project / ".cookiecutter-answers.json").read_text())["platform_health"] is False


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


def test_the_generated_tests_helper_modules_are_reserved() -> None:
    """tests/ is on sys.path when the generated tests run: a package named like one of its
    helper modules would be shadowed (test_* names are refused as a prefix)."""
    tests = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "tests"
    helpers = {path.stem for path in tests.rglob("*.py") if not path.stem.startswith("test_")}
    assert helpers - {"__init__"} <= pre_gen.PROJECT_NAMES


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
        "src/acme_data/defs/platform_health/lib/graph.py",
        "src/acme_data/defs/platform_health/lib/github_pull_requests.py",
        "src/acme_data/defs/platform_health/lib/gitlab_merge_requests.py",
        "src/acme_data/defs/platform_health/assets.py",
        "tests/example/platform_health/test_graph.py",
        "tests/example/platform_health/test_github_pull_requests.py",
        "tests/example/platform_health/test_gitlab_merge_requests.py",
        "src/acme_data/defs/platform_health/lib/superset.py",
        "src/acme_data/defs/platform_health/lib/rison.py",
        "src/acme_data/defs/platform_health/lib/mode.py",
        "src/acme_data/defs/platform_health/lib/http.py",
        "tests/example/platform_health/test_superset_adapter.py",
        "tests/example/platform_health/test_mode.py",
        "tests/example/platform_health/test_mode_assets.py",
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
                "blue_green_publishing": True,
                "platform_health": True,
                "bi_tool": "none",
            },
            {
                ".github/workflows/ci.yml",
                "dbt_project/macros/blue_green/swap.sql",
                "tests/example/test_blue_green.py",
                "keep.txt",
                "src/acme_data/defs/platform_health/lib/graph.py",
                "src/acme_data/defs/platform_health/lib/github_pull_requests.py",
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
                "blue_green_publishing": False,
                "platform_health": True,
                "bi_tool": "mode",
            },
            {
                ".gitlab-ci.yml",
                "Dockerfile",
                ".dockerignore",
                "build.yaml",
                "keep.txt",
                "src/acme_data/defs/platform_health/lib/graph.py",
                "src/acme_data/defs/platform_health/lib/gitlab_merge_requests.py",
                "src/acme_data/defs/platform_health/assets.py",
                "tests/example/platform_health/test_graph.py",
                "tests/example/platform_health/test_gitlab_merge_requests.py",
                "src/acme_data/defs/platform_health/lib/mode.py",
                "src/acme_data/defs/platform_health/lib/http.py",
                "tests/example/platform_health/test_mode.py",
                "tests/example/platform_health/test_mode_assets.py",
                "docs/platform-health.md",
            },
        ),
        (
            {
                "project_slug": "acme_data",
                "ci_provider": "gitlab",
                "dagster_plus_deployment_type": "hybrid",
                "blue_green_publishing": False,
                "platform_health": False,
                "bi_tool": "none",
            },
            {".gitlab-ci.yml", "Dockerfile", ".dockerignore", "build.yaml", "keep.txt"},
        ),
    ],
)
def test_post_gen_keeps_only_what_options_need(
    tmp_path: Path, answers: dict[str, object], expected: set[str]
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
