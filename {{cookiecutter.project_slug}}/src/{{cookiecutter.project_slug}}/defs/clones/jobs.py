"""Jobs managing pull-request clones, on the ``warehouse`` resource (Snowflake or DuckDB).

CI launches ``clone_prod`` in a branch deployment after each deploy and ``drop_prod_clone`` when
the pull request closes; production runs ``sweep_prod_clones`` daily for clones CI failed to drop.
The names, guards and SQL live in ``utils.clones``; these ops only pick the warehouse and log.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource

from ... import settings
from ...utils.clones import (
    duckdb_clone,
    duckdb_clone_path,
    duckdb_clones,
    duckdb_drop,
    plan_for_this_deployment,
    require_clone,
    snowflake_clone_sql,
    snowflake_drop_sql,
    snowflake_list_databases_sql,
    stale_clones,
)
from ...utils.environment import Environment, get_environment

SWEEPER_CRON = "0 5 * * *"
# The ops' return values (names touched) are for run logs and tests, not tables: they stay in
# memory instead of going to the warehouse I/O manager.
RESULTS_IO_MANAGER = "clone_results_io_manager"
RESULTS_RESOURCES = {RESULTS_IO_MANAGER: dg.mem_io_manager}


class CloneJobConfig(dg.Config):
    allow_outside_branch_deployment: bool = False
    """Let a developer run the job outside a branch deployment (with DAGSTER_CLOUD_PULL_REQUEST_ID
    set); production always refuses."""


class SweeperConfig(dg.Config):
    retention_days: int = settings.CLONE_RETENTION_DAYS
    """Drop pull-request clones nobody changed for this many days."""


def run_snowflake(warehouse: SnowflakeResource, statements: list[str]) -> list[tuple[Any, ...]]:
    """Run the statements in order on one connection; return the last one's rows."""
    rows: list[tuple[Any, ...]] = []
    with warehouse.get_connection() as connection:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
            rows = list(cursor.fetchall())
    return rows


def duckdb_warehouse_path(warehouse: DuckDBResource) -> Path:
    return Path(warehouse.database).resolve()


def unsupported(warehouse: object) -> TypeError:
    return TypeError(f"warehouse: {type(warehouse).__name__} is not a DuckDB or Snowflake resource")


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def clone_production_database(
    context: dg.OpExecutionContext, config: CloneJobConfig, warehouse: dg.ConfigurableResource[Any]
) -> str:
    """Drop the pull request's clone if it exists, then clone production into it."""
    plan = plan_for_this_deployment(config.allow_outside_branch_deployment)
    if isinstance(warehouse, SnowflakeResource):
        run_snowflake(warehouse, snowflake_clone_sql(plan))
        context.log.info(f"Cloned {plan.production} into {plan.clone}")
    elif isinstance(warehouse, DuckDBResource):
        source = duckdb_warehouse_path(warehouse)
        target = duckdb_clone_path(source, plan.clone)
        duckdb_clone(source, target)
        context.log.info(f"Copied {source} to {target}")
    else:
        raise unsupported(warehouse)
    return plan.clone


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def drop_production_clone(
    context: dg.OpExecutionContext, config: CloneJobConfig, warehouse: dg.ConfigurableResource[Any]
) -> str:
    """Drop the pull request's clone (only ever a ``<PRODUCTION>_CLONE_<digits>`` database)."""
    plan = plan_for_this_deployment(config.allow_outside_branch_deployment)
    if isinstance(warehouse, SnowflakeResource):
        run_snowflake(warehouse, [snowflake_drop_sql(plan.clone)])
    elif isinstance(warehouse, DuckDBResource):
        duckdb_drop(duckdb_clone_path(duckdb_warehouse_path(warehouse), plan.clone))
    else:
        raise unsupported(warehouse)
    context.log.info(f"Dropped {plan.clone}")
    return plan.clone


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def sweep_stale_clones(
    context: dg.OpExecutionContext, config: SweeperConfig, warehouse: dg.ConfigurableResource[Any]
) -> list[str]:
    """Drop every pull-request clone unchanged for ``retention_days`` (name-guarded one by one)."""
    now = datetime.now(UTC)
    if isinstance(warehouse, SnowflakeResource):
        listed = run_snowflake(warehouse, [snowflake_list_databases_sql()])
        stale = stale_clones(((row[0], row[1]) for row in listed), now, config.retention_days)
        for name in stale:
            run_snowflake(warehouse, [snowflake_drop_sql(name)])
    elif isinstance(warehouse, DuckDBResource):
        source = duckdb_warehouse_path(warehouse)
        stale = stale_clones(duckdb_clones(source), now, config.retention_days)
        for name in stale:
            duckdb_drop(duckdb_clone_path(source, require_clone(name)))
    else:
        raise unsupported(warehouse)
    context.log.info(f"Dropped {len(stale)} stale clone(s): {', '.join(stale) or 'none'}")
    return stale


@dg.job(description="Replace this pull request's clone with a fresh clone of production.")
def clone_prod() -> None:
    clone_production_database()


@dg.job(description="Drop this pull request's clone of production.")
def drop_prod_clone() -> None:
    drop_production_clone()


@dg.job(description="Drop pull-request clones of production unused for CLONE_RETENTION_DAYS.")
def sweep_prod_clones() -> None:
    sweep_stale_clones()


sweep_prod_clones_schedule = dg.ScheduleDefinition(
    name="sweep_prod_clones_daily",
    job=sweep_prod_clones,
    cron_schedule=SWEEPER_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.definitions
def defs() -> dg.Definitions:
    """Branch deployments (and laptops) get the clone jobs; production gets only the sweeper."""
    if get_environment() is Environment.PROD:
        return dg.Definitions(
            jobs=[sweep_prod_clones],
            schedules=[sweep_prod_clones_schedule],
            resources=RESULTS_RESOURCES,
        )
    return dg.Definitions(jobs=[clone_prod, drop_prod_clone], resources=RESULTS_RESOURCES)
