"""The default project's own unit tests (environments, identifiers, clones, dbt command lines,
import layers), run with its own pytest in the shared generated venv: the part of the generated
suite that needs neither a dbt manifest nor a warehouse, for `make test-fast`. The whole suite
runs in test_generated_project.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TEMPLATE_DIR, assert_pytest_summary_all_passed, install_project, run

UNIT_TESTS = [
    "tests/test_environment.py",
    "tests/test_identifiers.py",
    "tests/test_clones.py",
    "tests/test_dbt_args.py",
    "tests/test_layers.py",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, generated_venv: Path) -> Path:
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("unit")
    path = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out)))
    install_project(path)
    return path


def test_the_default_projects_unit_tests_pass(project: Path) -> None:
    assert all((project / name).is_file() for name in UNIT_TESTS)
    result = run(["pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *UNIT_TESTS], cwd=project)
    assert_pytest_summary_all_passed(result.stdout, at_least=50)
