"""Findings tables as both warehouses' I/O managers write them: replaced whole on every write,
text columns stored as text. Shared by the DuckDB and Snowflake halves (``duckdb_io.py``,
``snowflake_io.py``), which ``io_managers.py`` imports only when a run writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster._core.storage.db_io_manager import TableSlice

from ...utils.identifiers import quote_identifier

if TYPE_CHECKING:
    import pandas as pd


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
