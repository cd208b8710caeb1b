"""The Snowflake half of ``io_managers.py``, imported only where the warehouse
is Snowflake: ``dagster_snowflake_pandas`` takes seconds to import, which no DuckDB process should
pay (and every module under ``defs/`` is imported when the definitions load)."""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_snowflake_pandas import SnowflakePandasIOManager
from dagster_snowflake_pandas.snowflake_pandas_type_handler import SnowflakePandasTypeHandler

from .tables import (
    empty_snowflake_table_sql,
    snowflake_table_name,
    with_text_columns,
)


class _SnowflakeHandler(SnowflakePandasTypeHandler):
    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection: Any
    ) -> Mapping[str, Any]:
        frame = with_text_columns(obj)
        cursor = connection.cursor()
        cursor.execute(f"drop table if exists {snowflake_table_name(table_slice)}")
        if not frame.empty:
            return super().handle_output(context, table_slice, frame, connection)
        cursor.execute(empty_snowflake_table_sql(table_slice, frame))
        return {"dagster/row_count": 0}


class PlatformHealthSnowflakeIOManager(SnowflakePandasIOManager):
    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler[Any]]:
        return [_SnowflakeHandler()]
