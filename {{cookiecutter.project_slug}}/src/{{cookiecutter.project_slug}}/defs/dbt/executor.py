"""DuckDB allows one writer process per file: locally, run every step in the run's own process.

With Snowflake (branch deployments, production, a personal sandbox) steps run in parallel
processes as usual. Two *runs* launched at once on one DuckDB file can still collide: locally,
launch one at a time (schedules are stopped by default). See docs/dbt.md.
"""

import dagster as dg

from ...utils.environment import Warehouse, get_warehouse


def executor_for_warehouse() -> dg.ExecutorDefinition | None:
    """``in_process_executor`` on DuckDB, else None (Dagster's default multiprocess executor)."""
    return dg.in_process_executor if get_warehouse() is Warehouse.DUCKDB else None


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(executor=executor_for_warehouse())
