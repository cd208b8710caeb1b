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
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice

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
from ...utils.identifiers import quote_identifier

if TYPE_CHECKING:
    import pandas as pd

IO_MANAGER_KEY = "platform_health_io_manager"


def snowflake_column_type(dtype: Any) -> str:
    """The Snowflake type ``write_pandas`` would infer for a pandas column type."""
    import pandas as pd  # at run time only (utils/frames.py)

    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "NUMBER(38,0)"
    if pd.api.types.is_float_dtype(dtype):
        return "FLOAT"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP_NTZ"
    return "VARCHAR"


def with_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (text, possibly all missing) as pandas' string type."""
    return frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})


def snowflake_table_name(table_slice: TableSlice) -> str:
    parts = [table_slice.database, table_slice.schema, table_slice.table]
    return ".".join(quote_identifier(p, "table name") for p in parts if p)


def empty_snowflake_table_sql(table_slice: TableSlice, frame: pd.DataFrame) -> str:
    """``create table`` with the frame's columns (names validated and quoted)."""
    columns = ", ".join(
        f"{quote_identifier(str(c), 'column')} {snowflake_column_type(t)}"
        for c, t in frame.dtypes.items()
    )
    return f"create table {snowflake_table_name(table_slice)} ({columns})"


class PlatformHealthDuckDBIOManager(DuckDBPandasIOManager):
    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler[Any]]:
        # Imported only when a run writes: the handler subclasses pandas' (utils/frames.py).
        from ...platform_health.duckdb_io_manager import ReplacingDuckDBHandler

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
    from ...platform_health.snowflake_io_manager import PlatformHealthSnowflakeIOManager

    return PlatformHealthSnowflakeIOManager(**snowflake_connection_config(), schema=schema)
