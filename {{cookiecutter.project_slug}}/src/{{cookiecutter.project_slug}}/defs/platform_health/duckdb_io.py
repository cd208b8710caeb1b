"""The DuckDB half of ``io_managers.py``, imported when a run first writes
findings: it subclasses dagster-duckdb-pandas' handler, and pandas stays out of the definitions'
load (utils/frames.py)."""

from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.storage.db_io_manager import TableSlice
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from ...utils.identifiers import validate_identifier
from .tables import with_text_columns


class ReplacingDuckDBHandler(DuckDBPandasTypeHandler):
    """Replaces the table on every write, empty or not, text columns stored as text."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection: Any
    ) -> None:
        frame = with_text_columns(obj)  # noqa: F841 (read by DuckDB's replacement scan below)
        schema = validate_identifier(table_slice.schema, "schema").lower()
        table = validate_identifier(table_slice.table, "table").lower()
        connection.execute(f'drop table if exists "{schema}"."{table}"')
        connection.execute(f'create table "{schema}"."{table}" as select * from frame')  # noqa: S608
        context.add_output_metadata({"dagster/row_count": len(obj)})
