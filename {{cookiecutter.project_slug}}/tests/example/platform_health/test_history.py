"""The model-count history table on DuckDB (for real) and Snowflake (fakesnow), and the empty
finding tables the platform-health I/O manager creates."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import fakesnow
import pandas as pd
import pytest
import snowflake.connector
from dagster._core.storage.db_io_manager import TableSlice

from {{ cookiecutter.project_slug }}.defs.platform_health.io_managers import (
    PlatformHealthDuckDBIOManager,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.history import (
    COLUMNS,
    history_statements,
    record_counts,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.tables import empty_snowflake_table_sql
from {{ cookiecutter.project_slug }}.utils.identifiers import InvalidIdentifierError

COUNTS = {c: i for i, c in enumerate(COLUMNS[1:], start=1)}
FIRST = datetime(2026, 1, 5, 6, tzinfo=UTC)
SECOND = datetime(2026, 1, 12, 6, tzinfo=UTC)


def test_duckdb_history_appends_one_row_per_run(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        record_counts(connection, "platform_health", FIRST, COUNTS, "duckdb")
        history = record_counts(
            connection, "platform_health", SECOND, {**COUNTS, "models": 40}, "duckdb"
        )
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    assert list(history.columns) == list(COLUMNS)
    assert list(history["recorded_at"]) == [
        pd.Timestamp("2026-01-05 06:00"),
        pd.Timestamp("2026-01-12 06:00"),
    ]
    assert list(history["models"]) == [1, 40]
    assert tables == [("platform_health", "model_count_history")]


@pytest.fixture
def fake_snowflake() -> Iterator[snowflake.connector.SnowflakeConnection]:
    with fakesnow.patch():
        connection = snowflake.connector.connect(database="PRODUCTION_CLONE_7")
        connection.cursor().execute("create database if not exists PRODUCTION_CLONE_7")
        connection.cursor().execute("use database PRODUCTION_CLONE_7")
        yield connection
        connection.close()


def test_snowflake_history_appends_one_row_per_run(
    fake_snowflake: snowflake.connector.SnowflakeConnection,
) -> None:
    record_counts(fake_snowflake, "platform_health", FIRST, COUNTS, "snowflake")
    history = record_counts(fake_snowflake, "platform_health", SECOND, COUNTS, "snowflake")
    assert list(history["stale_reports"]) == [COUNTS["stale_reports"]] * 2
    assert len(history) == 2


def test_history_sql_is_quoted_and_parameterized() -> None:
    create_schema, create_table, insert, _ = history_statements("platform_health", "snowflake")
    assert create_schema == 'create schema if not exists "PLATFORM_HEALTH"'
    assert create_table.startswith(
        'create table if not exists "PLATFORM_HEALTH"."MODEL_COUNT_HISTORY" ("RECORDED_AT" timestamp, '
    )
    assert insert.endswith("values (%s, %s, %s, %s, %s, %s, %s, %s)")
    assert history_statements("platform_health", "duckdb")[2].endswith(
        "values (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    with pytest.raises(InvalidIdentifierError, match="history schema"):
        history_statements('x"; drop table y; --', "duckdb")


FINDINGS = pd.DataFrame(
    {
        "node_id": pd.Series([], dtype="object"),
        "url": pd.Series([], dtype="object"),
        "run_count": pd.Series([], dtype="Int64"),
        "last_run_at": pd.Series([], dtype="datetime64[ns]"),
        "archived": pd.Series([], dtype="bool"),
    }
)


def test_an_empty_finding_is_still_a_table_on_duckdb(tmp_path: Path) -> None:
    """Dagster's own I/O manager would skip it, and assets reading it would fail; a text column
    whose values are all missing is still text, so a later run with values fits."""
    path = tmp_path / "w.duckdb"

    @dg.asset(key_prefix=["production", "platform_health"], io_manager_key="io")
    def nothing_stale() -> pd.DataFrame:
        return FINDINGS

    @dg.asset(key_prefix=["production", "platform_health"], io_manager_key="io")
    def counted(nothing_stale: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(nothing_stale)]})

    result = dg.materialize(
        [nothing_stale, counted],
        resources={"io": PlatformHealthDuckDBIOManager(database=str(path))},
    )
    assert result.success
    with duckdb.connect(str(path)) as connection:
        columns = connection.execute("describe platform_health.nothing_stale").fetchall()
        (rows,) = connection.execute("select rows from platform_health.counted").fetchone()  # type: ignore[misc]
    assert [(c[0], c[1]) for c in columns] == [
        ("node_id", "VARCHAR"),
        ("url", "VARCHAR"),
        ("run_count", "BIGINT"),
        ("last_run_at", "TIMESTAMP_NS"),
        ("archived", "BOOLEAN"),
    ]
    assert rows == 0


def test_an_empty_finding_is_still_a_table_on_snowflake(
    fake_snowflake: snowflake.connector.SnowflakeConnection,
) -> None:
    table_slice = TableSlice(
        table="stale_reports", schema="platform_health", database="PRODUCTION_CLONE_7"
    )
    sql = empty_snowflake_table_sql(table_slice, FINDINGS)
    assert sql == (
        'create table "PRODUCTION_CLONE_7"."PLATFORM_HEALTH"."STALE_REPORTS" '
        '("NODE_ID" VARCHAR, "URL" VARCHAR, "RUN_COUNT" NUMBER(38,0), "LAST_RUN_AT" TIMESTAMP_NTZ, "ARCHIVED" BOOLEAN)'
    )
    cursor = fake_snowflake.cursor()
    cursor.execute('create schema if not exists "PLATFORM_HEALTH"')
    cursor.execute(sql)
    cursor.execute('select count(*) from "PLATFORM_HEALTH"."STALE_REPORTS"')
    assert cursor.fetchone() == (0,)
