"""Pull-request clones: the lifecycle on DuckDB for real, Snowflake on fakesnow, the guards."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import fakesnow
import pytest
from fakesnow.cursor import FakeSnowflakeCursor

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs as project_defs
from {{ cookiecutter.project_slug }}.utils.clones import (
    ClonePlan,
    NotAProductionCloneError,
    duckdb_clone_path,
    duckdb_drop,
    require_clone,
    snowflake_clone_sql,
    snowflake_drop_sql,
    stale_clones,
)
from {{ cookiecutter.project_slug }}.utils.environment import UnsafeEnvironmentError

PROD = settings.PRODUCTION_DATABASE
OPT_IN = {"allow_outside_branch_deployment": True}


def run_job(name: str, op: str, **op_config: Any) -> dg.ExecuteInProcessResult:
    """Load the definitions as the current environment would, and run one job in process."""
    job = project_defs().resolve_job_def(name)
    result: dg.ExecuteInProcessResult = job.execute_in_process(
        run_config={"ops": {op: {"config": op_config}}}
    )
    return result


def make_warehouse(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        connection.execute(
            "CREATE OR REPLACE TABLE analytics.stories AS SELECT range AS id FROM range(?)", [rows]
        )


def count_stories(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM analytics.stories").fetchone()
    assert row is not None
    return int(row[0])


# --- guards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        PROD,
        f"{PROD}_CLONE_",
        f"{PROD}_CLONE_12a",
        f"{PROD}_CLONE_1_2",
        f"X{PROD}_CLONE_1",
        "SANDBOX_CLONE_1",
        f"{PROD}_CLONE_1; DROP DATABASE {PROD}",
        f'{PROD}_CLONE_1"',
    ],
)
def test_guard_refuses_anything_but_a_clone(name: str) -> None:
    with pytest.raises(UnsafeEnvironmentError):
        require_clone(name)
    with pytest.raises(UnsafeEnvironmentError):
        snowflake_drop_sql(name)


def test_guard_accepts_clones_case_insensitively() -> None:
    assert require_clone(f"{PROD.lower()}_clone_7") == f"{PROD}_CLONE_7"


def test_duckdb_drop_refuses_the_warehouse_file(local_environment: Path) -> None:
    make_warehouse(local_environment, 3)
    with pytest.raises(NotAProductionCloneError):
        duckdb_drop(local_environment)
    assert local_environment.exists()


def test_jobs_refuse_outside_branch_deployments_without_opt_in(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 3)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42")
    with pytest.raises(UnsafeEnvironmentError, match="not in a Dagster\\+ branch deployment"):
        run_job("clone_prod", "clone_production_database")
    assert not duckdb_clone_path(local_environment, f"{PROD}_CLONE_42").exists()


def test_malformed_pull_request_id_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42; DROP DATABASE x")
    with pytest.raises(UnsafeEnvironmentError, match="DAGSTER_CLOUD_PULL_REQUEST_ID"):
        run_job("drop_prod_clone", "drop_production_clone", **OPT_IN)


# --- which deployment gets which job ---------------------------------------------------------


def job_names(definitions: dg.Definitions) -> set[str]:
    return {job.name for job in definitions.resolve_all_job_defs()}


@pytest.mark.usefixtures("branch_environment")
def test_branch_deployments_have_the_clone_jobs_and_no_sweeper() -> None:
    definitions = project_defs()
    assert {"clone_prod", "drop_prod_clone"} <= job_names(definitions)
    assert "sweep_prod_clones" not in job_names(definitions)


@pytest.mark.usefixtures("prod_environment")
def test_production_has_the_sweeper_schedule_and_no_clone_jobs() -> None:
    definitions = project_defs()
    assert not {"clone_prod", "drop_prod_clone"} & job_names(definitions)
    schedule = definitions.resolve_schedule_def("sweep_prod_clones_daily")
    assert schedule.job_name == "sweep_prod_clones"
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING


# --- DuckDB: the real lifecycle --------------------------------------------------------------


def test_duckdb_clone_and_drop_lifecycle(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 5)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42")
    clone = duckdb_clone_path(local_environment, f"{PROD}_CLONE_42")

    result = run_job("clone_prod", "clone_production_database", **OPT_IN)
    assert result.success
    assert result.output_for_node("clone_production_database") == f"{PROD}_CLONE_42"
    assert count_stories(clone) == 5

    # Work in the clone never touches production, and re-cloning starts afresh from production.
    make_warehouse(clone, 99)
    assert count_stories(local_environment) == 5
    make_warehouse(local_environment, 7)
    assert run_job("clone_prod", "clone_production_database", **OPT_IN).success
    assert count_stories(clone) == 7

    assert run_job("drop_prod_clone", "drop_production_clone", **OPT_IN).success
    assert not clone.exists()
    assert count_stories(local_environment) == 7
    # Dropping what is already gone is fine (a closed PR whose clone the sweeper took).
    assert run_job("drop_prod_clone", "drop_production_clone", **OPT_IN).success


def test_duckdb_sweeper_drops_only_old_clones(local_environment: Path) -> None:
    make_warehouse(local_environment, 1)
    old, fresh = (duckdb_clone_path(local_environment, f"{PROD}_CLONE_{n}") for n in (1, 2))
    other = local_environment.parent / "SCRATCH.duckdb"
    for path in (old, fresh, other):
        make_warehouse(path, 1)
    long_ago = (datetime.now(UTC) - timedelta(days=settings.CLONE_RETENTION_DAYS + 1)).timestamp()
    for path in (old, other, local_environment):
        os.utime(path, (long_ago, long_ago))

    assert _run_sweeper_locally() == [f"{PROD}_CLONE_1"]
    assert not old.exists()
    assert fresh.exists() and other.exists() and local_environment.exists()


def _run_sweeper_locally() -> list[str]:
    """The sweeper job is only in production's definitions: run it here on the local resources."""
    from {{ cookiecutter.project_slug }}.defs.clones.jobs import RESULTS_RESOURCES, sweep_prod_clones
    from {{ cookiecutter.project_slug }}.resources import build_resources

    result = sweep_prod_clones.execute_in_process(
        resources={**build_resources(), **RESULTS_RESOURCES}
    )
    assert result.success
    stale: list[str] = result.output_for_node("sweep_stale_clones")
    return stale


# --- sweeper logic ---------------------------------------------------------------------------


def test_stale_clones_compares_aware_and_naive_datetimes() -> None:
    now = datetime(2025, 6, 30, 12, tzinfo=UTC)
    pacific = timezone(timedelta(hours=-7))
    databases = [
        (f"{PROD}_CLONE_1", datetime(2025, 6, 1, tzinfo=pacific)),  # aware, old
        (f"{PROD}_CLONE_2", datetime(2025, 6, 1)),  # naive (taken as UTC), old
        (f"{PROD}_CLONE_3", now - timedelta(days=1)),  # recent
        (PROD, datetime(2000, 1, 1, tzinfo=UTC)),  # production: never, however old
        ("SANDBOX", datetime(2000, 1, 1, tzinfo=UTC)),
    ]
    assert stale_clones(databases, now, retention_days=14) == [f"{PROD}_CLONE_1", f"{PROD}_CLONE_2"]
    assert stale_clones(databases, now.replace(tzinfo=None), retention_days=14) == [
        f"{PROD}_CLONE_1",
        f"{PROD}_CLONE_2",
    ]
    with pytest.raises(ValueError, match="CLONE_RETENTION_DAYS"):
        stale_clones(databases, now, retention_days=0)


# --- Snowflake (fakesnow) --------------------------------------------------------------------


@pytest.fixture
def fake_snowflake(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """fakesnow in patch mode, recording every statement sent; yields the record.

    fakesnow cannot parse ``DROP DATABASE``: it is turned into a no-op, so for drops the test
    asserts the exact SQL sent (what Snowflake would run) instead of its effect.
    """
    monkeypatch.setenv("SNOWFLAKE_USER", "ci")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "not-a-secret")
    sent: list[str] = []
    original = FakeSnowflakeCursor.execute

    def recording_execute(
        self: FakeSnowflakeCursor, command: str, *args: Any, **kwargs: Any
    ) -> Any:
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeSnowflakeCursor, "execute", recording_execute)
    with fakesnow.patch(create_database_on_connect=False, nop_regexes=[r"^DROP DATABASE "]):
        yield sent


def snowflake_databases() -> set[str]:
    import snowflake.connector

    with snowflake.connector.connect(account="x", user="u", password="p") as connection:
        cursor = connection.cursor()
        cursor.execute("SHOW DATABASES")
        rows = cursor.fetchall()
    return {str(row[1]) for row in rows}


def create_databases(*names: str) -> None:
    import snowflake.connector

    with snowflake.connector.connect(account="x", user="u", password="p") as connection:
        for name in names:
            connection.cursor().execute(f'CREATE DATABASE "{name}"')


def test_snowflake_clone_sql_is_exact() -> None:
    plan = ClonePlan(production=PROD, clone=f"{PROD}_CLONE_1523")
    assert snowflake_clone_sql(plan) == [
        f'DROP DATABASE IF EXISTS "{PROD}_CLONE_1523"',
        f'CREATE DATABASE "{PROD}_CLONE_1523" CLONE "{PROD}"',
    ]
    assert (
        snowflake_drop_sql(f"{PROD}_CLONE_1523") == f'DROP DATABASE IF EXISTS "{PROD}_CLONE_1523"'
    )


def test_snowflake_clone_prod_in_a_branch_deployment(
    branch_environment: str, fake_snowflake: list[str]
) -> None:
    create_databases(PROD)
    fake_snowflake.clear()
    result = run_job("clone_prod", "clone_production_database")
    assert result.success
    ours = [statement for statement in fake_snowflake if "DATABASE" in statement]
    assert ours == [
        f'DROP DATABASE IF EXISTS "{branch_environment}"',
        f'CREATE DATABASE "{branch_environment}" CLONE "{PROD}"',
    ]
    assert branch_environment in snowflake_databases()  # fakesnow ran the CREATE ... CLONE


def test_snowflake_drop_prod_clone_sends_exactly_one_guarded_drop(
    branch_environment: str, fake_snowflake: list[str]
) -> None:
    assert run_job("drop_prod_clone", "drop_production_clone").success
    drops = [statement for statement in fake_snowflake if statement.startswith("DROP")]
    assert drops == [f'DROP DATABASE IF EXISTS "{branch_environment}"']


def test_snowflake_sweeper_drops_old_clones_only(
    prod_environment: str, fake_snowflake: list[str]
) -> None:
    # fakesnow reports every database as last altered in 1970: all clones are stale, and the
    # guard alone keeps production and the sandbox out of the drop list.
    create_databases(PROD, f"{PROD}_CLONE_3", f"{PROD}_CLONE_12", "SANDBOX", f"{PROD}_CLONE_X")
    result = project_defs().resolve_job_def("sweep_prod_clones").execute_in_process()
    assert result.success
    assert result.output_for_node("sweep_stale_clones") == [f"{PROD}_CLONE_12", f"{PROD}_CLONE_3"]
    drops = [statement for statement in fake_snowflake if statement.startswith("DROP")]
    assert drops == [
        f'DROP DATABASE IF EXISTS "{PROD}_CLONE_12"',
        f'DROP DATABASE IF EXISTS "{PROD}_CLONE_3"',
    ]
