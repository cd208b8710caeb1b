"""The Snowflake path, for real against fakesnow (Snowflake emulated on DuckDB).

Runs the ingestion assets through the very resources a branch deployment builds: the Snowflake
pandas I/O manager writes into the pull request's clone, reads back for the downstream assets,
and the Snowflake SQL resource queries the result. See NOTES on the two fakesnow gotchas.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import fakesnow
import pytest
from dagster_snowflake import SnowflakeResource
from dagster_snowflake.snowflake_io_manager import SnowflakeDbClient

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.defs.ingestion.hackernews import comments, items, stories
from {{ cookiecutter.project_slug }}.resources import build_warehouse_resources

# write_pandas is imported by dagster's type handler before any patch: patch it where it is used.
WRITE_PANDAS = "dagster_snowflake_pandas.snowflake_pandas_type_handler.write_pandas"


@pytest.fixture
def fake_snowflake(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SNOWFLAKE_USER", "dagster")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "not-a-secret")
    original = SnowflakeDbClient.delete_table_slice

    def delete_table_slice(context: Any, table_slice: Any, connection: Any) -> None:
        # The I/O manager ignores a missing table only in Snowflake's own wording
        # ("does not exist or not authorized"); fakesnow words it differently.
        try:
            original(context, table_slice, connection)
        except Exception as error:
            if "does not exist" not in str(error).lower():
                raise

    monkeypatch.setattr(SnowflakeDbClient, "delete_table_slice", staticmethod(delete_table_slice))
    with fakesnow.patch(extra_targets=[WRITE_PANDAS]):
        yield


def create_database(resource: SnowflakeResource, database: str) -> None:
    """What clone_prod does before a branch deployment writes (fakesnow clones are empty)."""
    with resource.get_connection() as connection:
        connection.cursor().execute(f'CREATE DATABASE IF NOT EXISTS "{database}"')


def test_branch_ingestion_writes_into_the_clone(
    branch_environment: str, fake_snowflake: None
) -> None:
    resources = build_warehouse_resources()
    warehouse: SnowflakeResource = resources["warehouse"]
    assert warehouse.database == branch_environment
    create_database(warehouse, branch_environment)

    result = dg.materialize([items, comments, stories], resources=resources)
    assert result.success

    schema = settings.RAW_SCHEMA.upper()
    with warehouse.get_connection() as connection:
        cursor = connection.cursor()
        counts = {
            table: cursor.execute(
                f"select count(*) from {branch_environment}.{schema}.{table}"  # noqa: S608
            ).fetchone()[0]
            for table in ("ITEMS", "COMMENTS", "STORIES")
        }
        cursor.execute(
            "select table_catalog, table_schema from information_schema.tables where table_name = 'ITEMS'"
        )
        locations = set(cursor.fetchall())
    assert counts["ITEMS"] == counts["COMMENTS"] + counts["STORIES"] > 0
    # Everything landed in the clone's raw schema; nothing went to production.
    assert locations == {(branch_environment, schema)}


def test_personal_sandbox_writes_to_the_developer_schema(
    monkeypatch: pytest.MonkeyPatch, fake_snowflake: None
) -> None:
    monkeypatch.setenv("LOCAL_WAREHOUSE", "snowflake")
    monkeypatch.setenv("SANDBOX_SCHEMA_NAME", "alice")
    resources = build_warehouse_resources()
    create_database(resources["warehouse"], settings.SANDBOX_DATABASE)

    assert dg.materialize([items, stories], resources=resources).success
    with resources["warehouse"].get_connection() as connection:
        rows = (
            connection.cursor()
            .execute(
                f"select count(*) from {settings.SANDBOX_DATABASE}.ALICE.STORIES"  # noqa: S608
            )
            .fetchone()[0]
        )
    assert rows > 0
