"""Every test starts LOCAL, offline, on a DuckDB file of its own, with a parsed dbt manifest."""

import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from {{ cookiecutter.project_slug }} import local_pipeline, settings
from {{ cookiecutter.project_slug }}.dbt_project import dbt_project, manifest_is_stale, prepare

DEPLOYMENT_VARIABLES = (
    "DAGSTER_HOME",  # `make test` exports the project's instance: tests use throwaway ones
    "LOCAL_DAGSTER_HOME",  # (the same, for the .env line dg and dagster read: Makefile)
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
    """The parsed dbt project: parsed here only if a dbt file changed since `make manifest` (by
    one pytest-xdist worker at a time: the others wait, then find it fresh)."""
    target = dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".tests-parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if manifest_is_stale(dbt_project):
            prepare()
    return dbt_project.manifest_path


@pytest.fixture(autouse=True)
def local_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """LOCAL, DuckDB, a fresh warehouse file under tmp_path; yields that file's path."""
    for name in DEPLOYMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    duckdb_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(duckdb_path))
    # Offline: dbt commands the tests start themselves send no usage statistics (`make test`
    # sets this too; a bare `pytest` does not).
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
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


@dataclass(frozen=True)
class MaterializedWarehouse:
    """A DuckDB file with every asset materialized once, as `make run` leaves it."""

    path: Path
    results: list[dg.ExecuteInProcessResult]
    instance: dg.DagsterInstance | None = None

    def query(self, sql: str, *parameters: object) -> list[Any]:
        """Run ``sql`` (a constant; values only as parameters) and fetch every row."""
        with duckdb.connect(str(self.path)) as connection:
            return connection.execute(sql, list(parameters)).fetchall()


@pytest.fixture(scope="session")
def materialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaterializedWarehouse]:
    """Materialize everything once per session; the dbt test modules share it (about 40 s)."""
    path = tmp_path_factory.mktemp("materialized") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in DEPLOYMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(path))
        with dg.instance_for_test() as instance:
            results = local_pipeline.materialize_everything(instance)
            yield MaterializedWarehouse(path, results, instance)


@pytest.fixture
def on_materialized(
    materialized: MaterializedWarehouse, local_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> MaterializedWarehouse:
    """LOCAL, pointed at the shared materialized warehouse instead of a fresh file."""
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(materialized.path))
    return materialized
