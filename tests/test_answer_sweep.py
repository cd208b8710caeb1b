"""A property-style sweep over answers: refused with one line and nothing left behind, or baked
into a project that compiles, parses its YAML and TOML with every answer intact, and loads.

Candidate answers come from general generators (digits in other scripts and with leading zeros,
case, Unicode look-alikes, words YAML reads as booleans or null, numbers YAML reads as numbers,
SQL reserved words, module names from the computed lists), crossed with every variable. The rule
layer sees all of them; a seeded sample goes through the real Cookiecutter (the refused ones
through its CLI, where the pre_prompt hook must refuse them with the same lines); a few accepted
answer sets are installed and their Dagster definitions loaded. Answers are text, as typed after
``cookiecutter --no-input``: Cookiecutter makes booleans of the yes/no words (:func:`resolved`).

Not generated: braces. Cookiecutter renders each answer as a Jinja template before any hook
runs, so ``{{ x }}`` in an answer is Cookiecutter's to reject (or evaluate), not the hook's.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import random
import runpy
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from email.headerregistry import Address
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from cookiecutter.prompt import YesNoPrompt
from rich.prompt import InvalidResponse

from conftest import DEFAULT_CONTEXT, TEMPLATE_DIR, _uv, install_project, run, venv_bin


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = _load(TEMPLATE_DIR / "hooks" / "pre_gen_project.py")
refresh = _load(TEMPLATE_DIR / "scripts" / "refresh_reserved_names.py")


def _as_typed(default: object) -> str:
    """A cookiecutter.json default as typed on the command line: a list's first item, yes/no."""
    if isinstance(default, bool):
        return "yes" if default else "no"
    return str(default[0] if isinstance(default, list) else default)


DEFAULTS = {k: _as_typed(v) for k, v in DEFAULT_CONTEXT.items() if not k.startswith("_")}
DEFAULTS["project_slug"] = pre_gen.default_slug(DEFAULTS["project_name"])


def resolved(answers: Mapping[str, str]) -> dict[str, object]:
    """What the hooks receive: the yes/no answers Cookiecutter can read as booleans."""
    values: dict[str, object] = dict(answers)
    for name in pre_gen.BOOLEANS:
        with contextlib.suppress(InvalidResponse):
            values[name] = YesNoPrompt().process_response(answers[name])
    return values


def refusals(answers: Mapping[str, str]) -> list[str]:
    return pre_gen.validate(resolved(answers))


class _GitLabLoader(yaml.SafeLoader):
    """GitLab's `!reference [job, key]` tag, parsed as a plain list."""


_GitLabLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))

# --- generators ------------------------------------------------------------------------------

_rng = random.Random(20261122)  # fixed: the sweep is the same on every run and machine

DIGITS = [
    "1", "7", "14", "90", "365", "366", "3650", "3651", "0", "00", "014", "090", "-1", "+5",
    " 14", "14 ", "1_4", "1e2", "0x10", "1.0", "\u0661\u0664", "\uff11\uff14", "\u00b2", "\u00bd",
    "\u096f", "", "fourteen",
]  # fmt: skip
YAML_WORDS = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "nan", "inf",
]  # fmt: skip
YAML_NUMBERS = ["12", "1e5", "0x1F", "0o17", "1_000", "12:30", "2024-01-01", "3.14", "-1", "~"]
UNICODE = [
    "\u00e9t\u00e9", "Donn\u00e9es", "\u00c9T\u00c9", "\uff30ROD", "d\u0131rty", "\u017ftr",
    "\u212aELVIN", "\u0663\u0664", "\u65e5\u672c", "a\u200bb", "\ufb01le", "x\u0085y", "x\u2028y",
]  # fmt: skip
CASES = ["production", "Production", "PRODUCTION", "pRoDuCtIoN"]
SQL_WORDS = sorted(pre_gen.SNOWFLAKE_RESERVED_WORDS | pre_gen.DUCKDB_RESERVED_WORDS)
MODULE_NAMES = sorted(pre_gen.STDLIB_MODULES | pre_gen.DEPENDENCY_MODULES | pre_gen.PROJECT_NAMES)
KEYWORDS = ["class", "match", "case", "type", "_", "def"]


def _sample(values: list[str], k: int) -> list[str]:
    return _rng.sample(values, min(k, len(values)))


def candidates(variable: str) -> list[str]:
    """Answers to try for ``variable``: the default, then the generators that fit its kind."""
    default = DEFAULTS[variable]
    common = YAML_WORDS + YAML_NUMBERS + UNICODE
    if variable in {"project_name", "description", "author_name"}:
        values = [*common, 'Acme "Data"', "back\\slash", "  ", "tab\there", "a" * 101, "O'Brien"]
    elif variable == "project_slug":
        values = (
            [w.lower() for w in YAML_WORDS] + _sample(MODULE_NAMES, 25) + KEYWORDS + UNICODE
            + ["json", "email", "requests", "yaml", "tests", "my_platform", "1x", "a-b", "Acme"]
            + ["x" * 51, "dagster_extra", "dbt_extra"]
        )  # fmt: skip
    elif variable == "author_email":
        values = [
            "team@example.com", "yes@no.off", "\u00fc@ex\u00e4mple.com", "a@b", "@x.io",
            "a b@x.io", "o'brien@example.com", "a\u2028b@x.io",
        ]  # fmt: skip
    elif variable in {"dagster_plus_organization", "production_deployment_name"}:
        values = [*common, "acme", "a-b", "-a", "A", "\u00e4", "a_b", "prod2"]
    elif variable == "snowflake_account":
        values = [
            *common,
            "acme-analytics", "xy12345.us-east-1", "acme.snowflakecomputing.com", "-acme", "ACME_1",
        ]  # fmt: skip
    elif variable.startswith("snowflake_"):
        values = (
            common + CASES + _sample(SQL_WORDS, 12)
            + ["P$1", "_X", "A" * 256, "P-1", "P 1", "", "PRODUCTION_CLONE_7", "SANDBOX"]
        )  # fmt: skip
    elif variable in {"dev_window_days", "clone_retention_days"}:
        values = DIGITS
    elif variable in pre_gen.BOOLEANS:
        values = [*YAML_WORDS, " yes", "yes please", "2", "-1", "si", "", "\u0443es"]
    else:
        choices = list(pre_gen.CHOICES[variable])
        values = choices + [c.upper() for c in choices] + [f"{choices[0]} ", "bitbucket", "3.10", ""]
    return [default, *dict.fromkeys(v for v in values if v != default)]


def answers_with(variable: str, value: str) -> dict[str, str]:
    """The defaults with one answer changed; a new project name also moves the slug, as
    cookiecutter.json derives it."""
    answers = {**DEFAULTS, variable: value}
    if variable == "project_name":
        answers["project_slug"] = pre_gen.default_slug(value)
    return answers


# Which variables an error about a change to ``variable`` may name (cross-checks, derived slug).
BLAME = {
    "project_name": {"project_name", "project_slug"},
    "snowflake_database": {"snowflake_database", "snowflake_sandbox_database"},
    "snowflake_role": {"snowflake_role", "snowflake_branch_role"},
}

SWEEP = [(variable, value) for variable in DEFAULTS for value in candidates(variable)]


def test_sweep_is_broad() -> None:
    kinds = {v for _, v in SWEEP}
    assert len(SWEEP) > 600
    assert {"090", "\u0661\u0664", "yes", "NULL", "0x1F", "P$1", "json", "requests"} <= kinds


@pytest.mark.parametrize("variable", sorted(DEFAULTS))
def test_every_answer_is_accepted_or_refused_with_one_line(variable: str) -> None:
    accepted = refused = 0
    for value in candidates(variable):
        errors = refusals(answers_with(variable, value))
        if not errors:
            accepted += 1
            continue
        refused += 1
        assert len(errors) == 1, (value, errors)
        named = errors[0].split(":")[1].strip()
        assert errors[0].startswith("ERROR: ") and named in BLAME.get(variable, {variable}), errors
        assert "\n" not in errors[0] and "\r" not in errors[0]
    assert accepted >= 1 and refused >= 1


# --- baking ----------------------------------------------------------------------------------


def check_baked(project: Path, answers: Mapping[str, str]) -> None:
    """Everything compiles and parses, and every answer arrives intact where it is used."""
    slug = answers["project_slug"]
    assert project.name == slug and (project / "src" / slug / "__init__.py").is_file()
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec", flags=ast.PyCF_ONLY_AST)
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        assert yaml.load(path.read_text(), Loader=_GitLabLoader) is not None, path
    for path in project.rglob("*.toml"):
        tomllib.loads(path.read_text())

    dbt = project / "dbt_project"
    dbt_project = yaml.safe_load((dbt / "dbt_project.yml").read_text())
    assert dbt_project["name"] == dbt_project["profile"] == slug
    assert list(dbt_project["models"]) == [slug]
    assert dbt_project["vars"]["raw_schema"] == answers["snowflake_schema"].lower()
    assert dbt_project["vars"]["production_database"] == answers["snowflake_database"]
    assert dbt_project["vars"]["dev_window_days"] == int(answers["dev_window_days"])
    profiles = yaml.safe_load((dbt / "profiles.yml").read_text())
    assert list(profiles) == [slug]
    outputs = profiles[slug]["outputs"]
    for target in ("personal", "branch_deployment", "prod"):
        assert outputs[target]["account"] == answers["snowflake_account"]
        assert outputs[target]["warehouse"] == answers["snowflake_warehouse"]
    assert outputs["prod"]["role"] == outputs["personal"]["role"] == answers["snowflake_role"]
    assert outputs["branch_deployment"]["role"] == answers["snowflake_branch_role"]
    assert outputs["prod"]["database"] == answers["snowflake_database"]
    marts = yaml.safe_load((dbt / "models" / "marts" / "_marts.yml").read_text())
    owners = {model["meta"]["owner"] for model in marts["models"] if "owner" in model.get("meta", {})}
    assert owners == {answers["author_email"]}

    # What packaging tools make of the author (hatchling builds this header, and refuses what
    # it cannot encode).
    Address(display_name=answers["author_name"], addr_spec=answers["author_email"])
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == slug
    assert pyproject["project"]["description"] == answers["description"]
    assert pyproject["project"]["authors"] == [
        {"name": answers["author_name"], "email": answers["author_email"]}
    ]
    assert pyproject["tool"]["mypy"]["python_version"] == answers["python_version"]

    settings = runpy.run_path(str(project / "src" / slug / "settings.py"))
    assert settings["PRODUCTION_DATABASE"] == answers["snowflake_database"]
    assert settings["SANDBOX_DATABASE"] == answers["snowflake_sandbox_database"]
    assert settings["SNOWFLAKE_ACCOUNT"] == answers["snowflake_account"]
    assert settings["SNOWFLAKE_WAREHOUSE"] == answers["snowflake_warehouse"]
    assert settings["SNOWFLAKE_ROLE"] == answers["snowflake_role"]
    assert settings["SNOWFLAKE_BRANCH_ROLE"] == answers["snowflake_branch_role"]
    assert settings["RAW_SCHEMA"] == answers["snowflake_schema"]
    assert settings["CLONE_RETENTION_DAYS"] == int(answers["clone_retention_days"])
    assert settings["BLUE_GREEN_PUBLISHING"] is resolved(answers)["blue_green_publishing"]
    assert settings["PRODUCTION_DEPLOYMENT_NAME"] == answers["production_deployment_name"]
    # Asset keys start with these: they must be Dagster names.
    for part in (answers["snowflake_database"], answers["snowflake_schema"]):
        assert pre_gen.DAGSTER_SAFE_IDENTIFIER.fullmatch(part.lower())


def _accepted_combination(index: int) -> dict[str, str]:
    """Every variable at once, each a random answer the rules accept (seeded)."""
    rng = random.Random(index)
    while True:
        answers = {
            variable: rng.choice([v for v in candidates(variable) if not refusals(answers_with(variable, v))])
            for variable in DEFAULTS
            if variable != "project_slug"
        }
        answers["project_slug"] = rng.choice(
            [v for v in candidates("project_slug") if not refusals(answers_with("project_slug", v))]
        )
        if not refusals(answers):
            return answers


def _bake_sample() -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(7)
    accepted = [
        (f"{var}={val!r}", answers_with(var, val))
        for var, val in SWEEP
        if not refusals(answers_with(var, val))
    ]
    refused = [
        (f"{var}={val!r}", answers_with(var, val)) for var, val in SWEEP if refusals(answers_with(var, val))
    ]
    combinations = [(f"combination-{i}", _accepted_combination(i)) for i in range(6)]
    return rng.sample(accepted, 14) + rng.sample(refused, 14) + combinations


BAKE_SAMPLE = _bake_sample()


@pytest.mark.parametrize(("case", "answers"), BAKE_SAMPLE, ids=[case for case, _ in BAKE_SAMPLE])
def test_real_cookiecutter_refuses_or_bakes_a_sound_project(
    cookies: Any, tmp_path: Path, case: str, answers: dict[str, str]
) -> None:
    expected = refusals(answers)
    if expected:
        out = tmp_path / "out"
        cli = [str(Path(sys.executable).with_name("cookiecutter")), "--no-input", "-o", str(out)]
        arguments = [f"{name}={value}" for name, value in answers.items()]
        (tmp_path / "tmp").mkdir()  # where Cookiecutter leaves its copy of the template
        refused = subprocess.run(
            [*cli, "--default-config", str(TEMPLATE_DIR), *arguments],
            capture_output=True,
            text=True,
            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
            timeout=600,
        )
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == expected
        assert "Traceback" not in refused.stdout
        assert not out.exists()
    else:
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, (case, result.exception)
        check_baked(Path(result.project_path), answers)


# --- the computed name lists, and definitions that load --------------------------------------


def test_reserved_names_are_current(generated_venv: Path) -> None:
    """The hook's lists hold every module of the generated project's environment and every
    DuckDB reserved word (refresh with scripts/refresh_reserved_names.py)."""
    python = venv_bin(generated_venv) / "python"
    missing = refresh.dependency_modules(python) - pre_gen.DEPENDENCY_MODULES - pre_gen.STDLIB_MODULES
    assert missing == set(), "run scripts/refresh_reserved_names.py"
    assert refresh.duckdb_reserved_words(python) <= pre_gen.DUCKDB_RESERVED_WORDS
    assert refresh.stdlib_modules(sys.executable) <= pre_gen.STDLIB_MODULES


def test_hand_over_schema_is_reserved() -> None:
    """The clone code's hand-over schema (in production's database) is one the hook refuses."""
    source = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.project_slug}}"
    tree = ast.parse((source / "utils" / "clones.py").read_text())
    (value,) = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "HAND_OVER_SCHEMA" for t in node.targets)
        and isinstance(node.value, ast.Constant)
    ]
    assert value.upper() in pre_gen.PROJECT_SCHEMAS
    assert refusals({**DEFAULTS, "snowflake_schema": value})


# Each full load costs a dbt parse and a definitions load (about a minute here), so one project
# carries every stress at once: words YAML reads as booleans or null, an account YAML reads as a
# number, lower case, '$' where Snowflake allows it and Dagster never sees it, non-ASCII text, and
# the non-default choices.
LOADED = {
    "stress": {
        "project_name": "Z\u00fcrich D\u00e4ta",
        "project_slug": "on",
        "description": "Donn\u00e9es \u65e5\u672c \u2014 O'Brien's",
        "author_name": "\u00c9quipe Donn\u00e9es",
        "author_email": "o.brien+data@exemple.fr",
        "snowflake_account": "0x1F",
        "snowflake_database": "off",
        "snowflake_schema": "yes",
        "snowflake_warehouse": "YES",
        "snowflake_role": "no",
        "snowflake_branch_role": "branch$ci",
        "snowflake_sandbox_database": "sandbox$dev",
        "production_deployment_name": "null",
        "dagster_plus_organization": "123",
        "dev_window_days": "3650",
        "clone_retention_days": "1",
        "python_version": "3.13",
        "ci_provider": "gitlab",
        "dagster_plus_deployment_type": "hybrid",
        "blue_green_publishing": "no",
    },
}


@pytest.fixture
def loaded_project(
    tmp_path: Path, request: pytest.FixtureRequest, generated_venv: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    from cookiecutter.main import cookiecutter

    answers = {**DEFAULTS, **LOADED[request.param]}
    assert refusals(answers) == []
    project = Path(
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(tmp_path), extra_context=answers)
    )
    install_project(project)
    try:
        yield project, answers
    finally:  # leave the shared environment with the default project only
        uninstall = [_uv(), "pip", "uninstall", "-q", "--python", str(venv_bin() / "python")]
        run([*uninstall, answers["project_slug"]], cwd=tmp_path, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("loaded_project", sorted(LOADED), indirect=True)
def test_accepted_answers_load_their_definitions(loaded_project: tuple[Path, dict[str, str]]) -> None:
    """The project's own loader (dg) builds every asset, check and job from these answers."""
    project, answers = loaded_project
    slug = answers["project_slug"]
    run(
        ["dagster-dbt", "project", "prepare-and-package", "--file", f"src/{slug}/dbt_project.py"], cwd=project
    )
    listed = json.loads(run(["dg", "list", "defs", "--json"], cwd=project).stdout)
    keys = [asset["asset_key"].split("/") for asset in listed["assets"]]
    assert len(keys) >= 10
    assert {key[0] for key in keys} == {answers["snowflake_database"].lower()}
    assert [answers["snowflake_database"].lower(), answers["snowflake_schema"].lower(), "items"] in keys
    assert {"clone_prod", "drop_prod_clone"} <= {job["name"] for job in listed["jobs"]}
    # Every schema these definitions build is one the hook refuses for the raw tables (else
    # refresh scripts/refresh_reserved_names.py).
    built = refresh.schemas_from_listing(listed, answers["snowflake_schema"])
    assert {"ANALYTICS", "ANALYTICS_BLUE", "STAGING"} <= built
    assert built <= pre_gen.PROJECT_SCHEMAS, "run scripts/refresh_reserved_names.py"
