"""The warehouse's pandas I/O manager, made fit for findings recomputed in full every run.

Dagster's DuckDB and Snowflake pandas I/O managers skip empty DataFrames ("An empty table will
not be created"), so a week with no stale report would leave no ``stale_reports`` table and the
assets reading it would fail; and they keep a table's first columns for ever (rows are deleted,
then inserted). These subclasses replace the table on every write, empty or not, and store text
columns as text even when every value is missing (DuckDB would otherwise type them NULL).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster._core.storage.db_io_manager import DbTypeHandler

from ... import settings
from ...resources import DuckDBPandasIOManager, snowflake_connection_config
from ...utils.environment import (
    Environment,
    Warehouse,
    get_duckdb_path,
    get_environment,
    get_schema_for_environment,
    get_warehouse,
)

IO_MANAGER_KEY = "platform_health_io_manager"


class PlatformHealthDuckDBIOManager(DuckDBPandasIOManager):
    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler[Any]]:
        # Imported only when a run writes: the handler subclasses pandas' (utils/frames.py).
        from .duckdb_io import ReplacingDuckDBHandler

        return [ReplacingDuckDBHandler()]


def build_io_manager() -> dg.ConfigurableIOManagerFactory[Any]:
    """Configured like the project's ``io_manager`` (resources.py) for this environment."""
    if get_warehouse() is Warehouse.DUCKDB:
        return PlatformHealthDuckDBIOManager(database=os.fspath(get_duckdb_path()))
    schema = (
        get_schema_for_environment(settings.RAW_SCHEMA)
        if get_environment() is Environment.LOCAL
        else None
    )
    # Imported only for Snowflake: dagster_snowflake_pandas takes seconds to import.
    from .snowflake_io import PlatformHealthSnowflakeIOManager

    return PlatformHealthSnowflakeIOManager(**snowflake_connection_config(), schema=schema)
