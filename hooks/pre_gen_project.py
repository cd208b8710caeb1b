"""Validate every answer before Cookiecutter writes anything.

Each rule names the variable and what is allowed, one line per problem, then exits 1; Cookiecutter
then removes the half-made output folder. The module is plain, importable Python: the answers
arrive as JSON in a raw string (JSON escapes every quote, so no answer can end the string early),
and the template's tests import :func:`validate` directly.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable, Mapping

ANSWERS_JSON = r"""
{{ cookiecutter | jsonify }}
"""

SUPPORTED_PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
CHOICES = {
    "ci_provider": ("github", "gitlab"),
    "dagster_plus_deployment_type": ("serverless", "hybrid"),
    "python_version": SUPPORTED_PYTHON_VERSIONS,
    "blue_green_publishing": ("yes", "no"),
    "platform_health": ("yes", "no"),
    "bi_tool": ("none", "superset", "mode"),
}
# Package names a project package must not shadow: importing the project would hide them.
SHADOWED_PACKAGES = frozenset(
    {
        "dagster",
        "dagster_dbt",
        "dagster_snowflake",
        "dagster_duckdb",
        "dagster_webserver",
        "dbt",
        "duckdb",
        "snowflake",
        "pandas",
        "numpy",
        "pyarrow",
        "sqlglot",
        "fakesnow",
        "pytest",
        "test",
        "tests",
        "src",
        "setuptools",
        "typing",
        "json",
        "os",
        "sys",
    }
)
SLUG = re.compile(r"[a-z][a-z0-9_]*")
# Unquoted Snowflake identifiers; the production database leaves room for "_CLONE_<pr id>".
SNOWFLAKE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
SNOWFLAKE_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
DAGSTER_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
EMAIL = re.compile(r"[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+")
FREE_TEXT_FORBIDDEN = re.compile(r"[\"\\\x00-\x1f\x7f{}]")

Rule = Callable[[str], "str | None"]


def _free_text(max_length: int) -> Rule:
    def check(value: str) -> str | None:
        if not value.strip():
            return "must not be blank"
        if len(value) > max_length:
            return f"must be at most {max_length} characters (got {len(value)})"
        if FREE_TEXT_FORBIDDEN.search(value):
            return 'must be one line without double quotes, backslashes or braces ("\\{}")'
        return None

    return check


def _matches(pattern: re.Pattern[str], max_length: int, allowed: str) -> Rule:
    def check(value: str) -> str | None:
        if not pattern.fullmatch(value):
            return f"{value!r} is not allowed: use {allowed}"
        if len(value) > max_length:
            return f"must be at most {max_length} characters (got {len(value)})"
        return None

    return check


def _one_of(choices: tuple[str, ...]) -> Rule:
    def check(value: str) -> str | None:
        if value not in choices:
            return f"{value!r} is not one of: {', '.join(choices)}"
        return None

    return check


def _whole_number(low: int, high: int) -> Rule:
    def check(value: str) -> str | None:
        if not value.isdigit() or not low <= int(value) <= high:
            return f"{value!r} is not a whole number from {low} to {high}"
        return None

    return check


def _check_slug(value: str) -> str | None:
    if not SLUG.fullmatch(value):
        return (
            f"{value!r} is not a lowercase Python identifier "
            "(a letter, then lowercase letters, digits or underscores)"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return f"{value!r} is a Python keyword"
    if value in SHADOWED_PACKAGES or value.startswith(("dagster_", "dbt_")):
        return f"{value!r} would shadow the package of the same name; pick a name of your own"
    if len(value) > 50:
        return f"must be at most 50 characters (got {len(value)})"
    return None


def _check_account(value: str) -> str | None:
    if "snowflakecomputing" in value.lower():
        return "give the account identifier (e.g. myorg-myaccount), not the URL"
    return _matches(SNOWFLAKE_ACCOUNT, 255, "letters, digits, '-', '_' and '.'")(value)


_IDENTIFIER_HELP = "an unquoted Snowflake identifier: [A-Za-z_][A-Za-z0-9_$]*"
RULES: dict[str, Rule] = {
    "project_name": _free_text(100),
    "project_slug": _check_slug,
    "description": _free_text(200),
    "author_name": _free_text(100),
    "author_email": _matches(EMAIL, 254, "an e-mail address such as team@example.com"),
    "dagster_plus_organization": _matches(
        DAGSTER_NAME, 63, "lowercase letters, digits and '-' (as in <org>.dagster.cloud)"
    ),
    "production_deployment_name": _matches(
        DAGSTER_NAME, 63, "lowercase letters, digits and '-' (a Dagster+ deployment name)"
    ),
    "snowflake_account": _check_account,
    "snowflake_database": _matches(SNOWFLAKE_IDENTIFIER, 200, _IDENTIFIER_HELP),
    "snowflake_sandbox_database": _matches(SNOWFLAKE_IDENTIFIER, 255, _IDENTIFIER_HELP),
    "snowflake_warehouse": _matches(SNOWFLAKE_IDENTIFIER, 255, _IDENTIFIER_HELP),
    "snowflake_role": _matches(SNOWFLAKE_IDENTIFIER, 255, _IDENTIFIER_HELP),
    "snowflake_schema": _matches(SNOWFLAKE_IDENTIFIER, 255, _IDENTIFIER_HELP),
    "dev_window_days": _whole_number(1, 3650),
    "clone_retention_days": _whole_number(1, 365),
    **{name: _one_of(choices) for name, choices in CHOICES.items()},
}


def _cross_checks(answers: Mapping[str, str]) -> list[str]:
    """Rules that involve more than one answer."""
    errors = []
    production = str(answers.get("snowflake_database", "")).upper()
    if production and production == str(answers.get("snowflake_sandbox_database", "")).upper():
        errors.append(
            "ERROR: snowflake_sandbox_database: must differ from snowflake_database "
            "(developers must never write to production)"
        )
    bi_tool = str(answers.get("bi_tool", "none"))
    if bi_tool != "none" and answers.get("platform_health") == "no":
        errors.append(
            f"ERROR: bi_tool: {bi_tool!r} needs platform_health=yes "
            "(only platform health reads BI reports); answer bi_tool=none"
        )
    return errors


def validate(answers: Mapping[str, object]) -> list[str]:
    """Return one ``ERROR: <variable>: <problem>`` line per invalid answer (empty when all pass)."""
    errors = []
    for name, rule in RULES.items():
        value = answers.get(name)
        # `cruft update --variables-to-update '{"dev_window_days": 30}'` passes JSON numbers.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors.append(f"ERROR: {name}: missing or not text")
            continue
        problem = rule(value)
        if problem:
            errors.append(f"ERROR: {name}: {problem}")
    return errors + _cross_checks({k: str(v) for k, v in answers.items()})


def main() -> int:
    errors = validate(json.loads(ANSWERS_JSON))
    for line in errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
