"""Every project name the pre-gen hook accepts bakes into a project whose `make lint` passes.

The generated tests import the package beside the tests' own modules (``conftest``,
``process_groups``, other test files). Sorted together by name, those imports were in order for
``acme_data`` and out of order (ruff's I001) for any slug after ``conftest``, such as
``nimbus_analytics``: the generated pyproject.toml now gives the package a section of its own.

The sweep: hand-picked names around every module the imports sort against (before and after
``conftest``, ``process_groups``, the test modules, ``tests``, ``dagster``, ``dbt``), a single
letter, digits, the longest slug the hook allows, hyphens, double spaces and padding, plus names
drawn from ``random.Random(SEED)``. Each is baked by the real Cookiecutter CLI (the supported
combinations of options in turn, so every provider's files are linted), then checked with the
generated project's own ruff (``ruff check``, ``ruff format --check`` in each bake) and mypy.

mypy runs once over every bake's ``src`` in the shared generated venv (15 bakes: about 15 s with
the worker's mypy cache warm, 70 s cold; one mypy run per bake costs about 7 s each even warm):
the bakes' ``[tool.mypy]`` tables and ``ci/`` folders are asserted identical, and their packages
are distinct top-level modules found from the files given (nothing is installed under their
names), so each module is checked exactly as that project's own ``mypy`` would check it. The
whole sweep takes about 30 s here, 90 s with a cold mypy cache.
"""

from __future__ import annotations

import filecmp
import importlib.util
import random
import string
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from conftest import DEFAULT_CONTEXT, SUPPORTED_COMBINATIONS, TEMPLATE_DIR, run, venv_bin


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = _load(TEMPLATE_DIR / "hooks" / "pre_gen_project.py")
# What the hook receives for the defaults: a choice list's first item, booleans as booleans.
DEFAULTS = {
    k: v[0] if isinstance(v, list) else v for k, v in DEFAULT_CONTEXT.items() if not k.startswith("_")
}

# Each name with the shape it stands for (the slug the hook derives from it in brackets).
EDGE_CASES = {
    "A": "one letter, before every module [a]",
    "Conf Hub": "before conftest [conf_hub]",
    "Conftest Two": "after conftest [conftest_two]",
    "Process-Groups Mining": "after process_groups, hyphen [process_groups_mining]",
    "Tester Data": "after the test modules (test_* is refused), before tests [tester_data]",
    "Tests Kit": "after tests and every test module [tests_kit]",
    "Dagsterish": "after dagster, before dbt [dagsterish]",
    "Dbt2 Lab": "after dbt, digit [dbt2_lab]",
    "Area51 Analytics": "digits inside [area51_analytics]",
    "Zeta 9": "after every module, trailing digit [zeta_9]",
    "  Hyper-Local  Metrics ": "padding, hyphen, double space [hyper_local__metrics]",
    "Nimbus Analytics": "the name issue 21 was reported with [nimbus_analytics]",
}
SEED = 21  # fixed: the same random names on every run and machine
RANDOM_NAMES = 2


def answers_for(name: str) -> dict[str, str]:
    return {**DEFAULTS, "project_name": name, "project_slug": pre_gen.default_slug(name)}


def random_names(count: int, taken: set[str]) -> list[str]:
    """``count`` names the hook accepts, of 1 to 3 words of mixed-case letters and digits
    joined by spaces, hyphens or underscores, whose slugs are none of ``taken``."""
    rng = random.Random(SEED)
    names: list[str] = []
    while len(names) < count:
        words = [
            rng.choice(string.ascii_letters)
            + "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(0, 8)))
            for _ in range(rng.randint(1, 3))
        ]
        name = words[0] + "".join(rng.choice(" -_") + word for word in words[1:])
        slug = pre_gen.default_slug(name)
        if not pre_gen.validate(answers_for(name)) and slug not in taken:
            names.append(name)
            taken.add(slug)
    return names


def longest_name() -> str:
    """Words whose slug is as long as the hook allows (its limit, read by asking it)."""
    limit = max(n for n in range(1, 101) if not pre_gen.validate(answers_for("Q" * n)))
    name = ("Northwind Traders Enterprise Data Platform Team 42 " * 3)[:limit]
    return name[:-1] + "X" if name.endswith(" ") else name


LONGEST = longest_name()
EDGE_CASES[LONGEST] = f"the longest slug the hook accepts ({len(LONGEST)} characters)"
NAMES = [*EDGE_CASES, *random_names(RANDOM_NAMES, {pre_gen.default_slug(n) for n in EDGE_CASES})]


def test_names_cover_the_shapes_they_claim() -> None:
    """Every name is a valid answer with a slug of its own, and the hand-picked ones still sit
    where their descriptions say (the sweep cannot silently lose its edges)."""
    slugs = [pre_gen.default_slug(name) for name in NAMES]
    assert len(set(slugs)) == len(NAMES)
    for name in NAMES:
        assert pre_gen.validate(answers_for(name)) == [], name
    helpers = {path.stem for path in (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "tests").glob("*.py")}
    assert {"conftest", "process_groups", "test_automation", "test_definitions"} <= helpers
    assert "a" < "conftest" < "dagster" < "dagsterish" < "dbt" < "dbt2_lab"
    assert "conf_hub" < "conftest" < "conftest_two" < "process_groups" < "process_groups_mining"
    assert "test_definitions" < "tester_data" < "tests" < "tests_kit"
    assert max(helpers) < "zeta_9" and len(pre_gen.default_slug(LONGEST)) == len(LONGEST)
    assert pre_gen.validate(answers_for(LONGEST + "x"))


@pytest.fixture(scope="module")
def bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each name baked by the real Cookiecutter CLI, the supported combinations in turn."""
    out = tmp_path_factory.mktemp("names")
    cookiecutter = Path(sys.executable).parent / "cookiecutter"
    projects = {}
    for index, name in enumerate(NAMES):
        answers = {"project_name": name, **SUPPORTED_COMBINATIONS[index % len(SUPPORTED_COMBINATIONS)]}
        subprocess.run(
            [str(cookiecutter), str(TEMPLATE_DIR), "--no-input", "-o", str(out)]
            + [f"{key}={value}" for key, value in answers.items()],
            check=True,
            capture_output=True,
        )
        projects[name] = out / pre_gen.default_slug(name)
    return projects


@pytest.mark.parametrize("name", NAMES)
def test_ruff_passes(bakes: dict[str, Path], generated_venv: Path, name: str) -> None:
    """`make lint`'s ruff steps, with the project's locked ruff, in the bake."""
    run([str(venv_bin(generated_venv) / "ruff"), "check", "."], cwd=bakes[name])
    run([str(venv_bin(generated_venv) / "ruff"), "format", "--check", "."], cwd=bakes[name])


@pytest.mark.usefixtures("mypy_cache")
def test_mypy_passes(bakes: dict[str, Path], generated_venv: Path) -> None:
    """`make lint`'s mypy step over every bake at once (see the module's docstring)."""
    first, *others = bakes.values()
    config = tomllib.loads((first / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] == ["src", "ci"]
    for project in others:
        assert tomllib.loads((project / "pyproject.toml").read_text())["tool"]["mypy"] == config
        comparison = filecmp.dircmp(first / "ci", project / "ci")
        assert not (comparison.diff_files or comparison.left_only or comparison.right_only)
    sources = [str(project / "src") for project in bakes.values()]
    run(
        [
            str(venv_bin(generated_venv) / "mypy"),
            *("--config-file", str(first / "pyproject.toml")),
            *sources,
            str(first / "ci"),
        ],
        cwd=first.parent,
    )
