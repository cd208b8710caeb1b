"""Counts of the platform over time: one row per platform-health run, kept in the warehouse.

Appended through the project's ``warehouse`` resource (a DuckDB or Snowflake connection), with
parameters for every value and validated, quoted identifiers for the names: the same table on
either warehouse, in the platform-health schema of this environment's database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ....utils.identifiers import quote_identifier, validate_identifier

if TYPE_CHECKING:
    import pandas as pd

TABLE = "model_count_history"
COLUMNS = (
    "recorded_at",
    "models",
    "sources",
    "exposures",
    "bi_objects",
    "unused_models",
    "stale_reports",
    "unparsed_queries",
)


def _quote(name: str, warehouse: str, what: str = "identifier") -> str:
    """Validated and quoted: upper case on Snowflake (how it resolves unquoted names), lower case
    on DuckDB (as dbt and the I/O manager create them there)."""
    if warehouse == "snowflake":
        return quote_identifier(name, what)
    return f'"{validate_identifier(name, what).lower()}"'


def history_statements(schema: str, warehouse: str) -> tuple[str, str, str, str]:
    """(create schema, create table, insert, select) for ``schema`` on ``warehouse``."""
    placeholder = "%s" if warehouse == "snowflake" else "?"
    quoted_schema = _quote(schema, warehouse, "history schema")
    table = f"{quoted_schema}.{_quote(TABLE, warehouse)}"
    counts = ", ".join(f"{_quote(c, warehouse)} integer" for c in COLUMNS[1:])
    names = ", ".join(_quote(c, warehouse) for c in COLUMNS)
    values = ", ".join([placeholder] * len(COLUMNS))
    return (
        f"create schema if not exists {quoted_schema}",
        f"create table if not exists {table} ({_quote(COLUMNS[0], warehouse)} timestamp, {counts})",
        f"insert into {table} ({names}) values ({values})",  # noqa: S608
        f"select {names} from {table} order by 1",  # noqa: S608
    )


def record_counts(
    connection: Any, schema: str, recorded_at: datetime, counts: Mapping[str, int], warehouse: str
) -> pd.DataFrame:
    """Append one row and return the whole history, oldest first (lower-case columns).

    ``warehouse`` is ``duckdb`` (``?`` parameters) or ``snowflake`` (the connector's ``%s``).
    """
    import pandas as pd  # at run time only (utils/frames.py)

    missing = set(COLUMNS[1:]) - set(counts)
    if missing:
        raise ValueError(f"history counts: missing {sorted(missing)}")
    create_schema, create_table, insert, select = history_statements(schema, warehouse)
    cursor = connection.cursor()
    cursor.execute(create_schema)
    cursor.execute(create_table)
    row = [recorded_at.replace(tzinfo=None), *(int(counts[c]) for c in COLUMNS[1:])]
    cursor.execute(insert, row)
    cursor.execute(select)
    frame = pd.DataFrame(cursor.fetchall(), columns=list(COLUMNS))
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"])
    return frame
