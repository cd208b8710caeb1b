"""Every test starts LOCAL, offline, on a DuckDB file of its own, with a parsed dbt manifest."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.resources import dbt_executable

DEPLOYMENT_VARIABLES = (
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME",
    "DAGSTER_CLOUD_PULL_REQUEST_ID",
    "LOCAL_WAREHOUSE",
    "LOCAL_DUCKDB_PATH",
    "SANDBOX_SCHEMA_NAME",
    "SNOWFLAKE_PRIVATE_KEY",
    "SNOWFLAKE_PRIVATE_KEY_PASSWORD",
    "SNOWFLAKE_PASSWORD",
    "SNOWFLAKE_USER",
)


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """Parse the dbt project once per session (what `make manifest` does)."""
    subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--target", "local"],
        cwd=settings.DBT_PROJECT_DIR,
        check=True,
    )
    return settings.DBT_PROJECT_DIR / "target" / "manifest.json"


@pytest.fixture(autouse=True)
def local_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """LOCAL, DuckDB, a fresh warehouse file under tmp_path; yields that file's path."""
    for name in DEPLOYMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    duckdb_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(duckdb_path))
    yield duckdb_path


@pytest.fixture
def branch_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Dagster+ branch deployment for pull request 1523; returns its clone's name."""
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "feature-branch-1523")
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "1523")
    return f"{settings.PRODUCTION_DATABASE}_CLONE_1523"


@pytest.fixture
def prod_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    """The production deployment; returns the production database's name."""
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", settings.PRODUCTION_DEPLOYMENT_NAME)
    return settings.PRODUCTION_DATABASE
