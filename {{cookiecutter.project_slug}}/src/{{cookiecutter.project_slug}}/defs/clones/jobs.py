"""Jobs managing pull-request clones, on the ``warehouse`` resource (Snowflake or DuckDB).

CI launches ``clone_prod`` in a branch deployment after each deploy and ``drop_prod_clone`` when
the pull request closes; production runs ``sweep_prod_clones`` daily for clones CI failed to drop.
Names, proof of origin and SQL live in ``utils.clones``, the warehouse I/O in
``utils.clone_catalogs``; these ops only choose the catalog, log and report.

Runs of the clone jobs carry the tag ``prod_clone/pull_request=<number>``: with a run-queue limit
of one run per value of that tag (dagster.yaml here, the organization's branch deployment
settings in Dagster+, see docs/branch-deployments.md), a second push and a close of the same pull
request queue behind the running clone instead of interleaving with it.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from ... import settings
from ...resources import WarehouseResource
from ...utils.clone_catalogs import CloneCatalog, DuckDBCatalog, SnowflakeCatalog
from ...utils.clones import (
    QUERY_HISTORY,
    is_complete,
    plan_for_this_deployment,
    plan_sweep,
    pull_request_for_this_deployment,
)
from ...utils.environment import Environment, clone_pull_request_id, get_environment
from ...utils.identifiers import validate_identifier

SWEEPER_CRON = "0 5 * * *"
PULL_REQUEST_TAG = "prod_clone/pull_request"
# The ops' return values (names touched) are for run logs and tests, not tables: they stay in
# memory instead of going to the warehouse I/O manager.
RESULTS_IO_MANAGER = "clone_results_io_manager"
RESULTS_RESOURCES = {RESULTS_IO_MANAGER: dg.mem_io_manager}
QUERY_HISTORY_GRANT = "GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER TO ROLE " + (
    settings.SNOWFLAKE_ROLE
)


class CloneJobConfig(dg.Config):
    allow_outside_branch_deployment: bool = False
    """Let a developer run the job outside a branch deployment (with DAGSTER_CLOUD_PULL_REQUEST_ID
    set); production always refuses."""


class CloneProdConfig(CloneJobConfig):
    keep_existing: bool = False
    """Keep the pull request's clone if it exists (and clone_prod made it: name and marker),
    so what the branch built survives the push; clone only when there is none. CI sets it on
    later pushes unless the team asks for a fresh clone (docs/branch-deployments.md)."""


class SweeperConfig(dg.Config):
    retention_days: int = settings.CLONE_RETENTION_DAYS
    """Drop pull-request clones nobody created, changed or queried for this many days."""
    dry_run: bool = False
    """Only report what would be dropped; drop nothing."""
    require_query_history: bool = False
    """Fail instead of falling back to creation and change times when the role cannot read
    SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY."""


def catalog_for(warehouse: WarehouseResource, sweeper: bool = False) -> CloneCatalog:
    """The clone catalog of ``warehouse``; ``sweeper``: production's, which drops clones through
    the administrator's procedure (it does not own them)."""
    production = validate_identifier(settings.PRODUCTION_DATABASE, "production database")
    if warehouse.dialect == "duckdb":
        return DuckDBCatalog(warehouse=Path(warehouse.database).resolve(), production=production)
    if warehouse.dialect == "snowflake":
        return SnowflakeCatalog(
            connect=warehouse.get_connection,
            production=production,
            drop_through_procedure=sweeper,
        )
    raise TypeError(f"warehouse: dialect {warehouse.dialect!r} is not duckdb or snowflake")


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def clone_production_database(
    context: dg.OpExecutionContext,
    config: CloneProdConfig,
    warehouse: dg.ResourceParam[WarehouseResource],
) -> str:
    """Replace the pull request's clone with a fresh, marked clone of production (or, with
    ``keep_existing``, keep the verified, complete clone there is)."""
    plan = plan_for_this_deployment(config.allow_outside_branch_deployment)
    catalog = catalog_for(warehouse)
    if config.keep_existing:
        existing = catalog.describe(plan.clone)
        # A database clone_prod did not make is refused (verify_origin raises); one it made whose
        # later steps failed is cloned again.
        if existing is not None and is_complete(existing, plan.production):
            context.log.info(f"Kept {plan.clone} (clone_prod's); no fresh clone asked for")
            return plan.clone
        if existing is not None:
            context.log.warning(
                f"{plan.clone} is clone_prod's but incomplete (a step after cloning failed "
                "earlier): cloning it again"
            )
    catalog.clone(plan)
    context.log.info(f"Cloned {plan.production} into {plan.clone} (marked as clone_prod's)")
    return plan.clone


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def drop_production_clone(
    context: dg.OpExecutionContext,
    config: CloneJobConfig,
    warehouse: dg.ResourceParam[WarehouseResource],
) -> str:
    """Drop the pull request's clone, only if clone_prod made it (name and marker)."""
    plan = plan_for_this_deployment(config.allow_outside_branch_deployment)
    outcome = catalog_for(warehouse).drop(plan.clone)
    context.log.info(
        f"Dropped {plan.clone}" if outcome == "dropped" else f"{plan.clone}: nothing to drop"
    )
    return plan.clone


@dg.op(out=dg.Out(io_manager_key=RESULTS_IO_MANAGER))
def sweep_stale_clones(
    context: dg.OpExecutionContext,
    config: SweeperConfig,
    warehouse: dg.ResourceParam[WarehouseResource],
) -> list[str]:
    """Drop every clone of this project unused for ``retention_days``; leave everything else.

    Unused means: not created, changed or queried since. Each drop re-checks the marker and that
    the clone was not re-cloned meanwhile. A failed drop does not stop the others: the op drops
    what it can, then fails naming what it could not.
    """
    catalog = catalog_for(warehouse, sweeper=True)
    now = datetime.now(UTC)
    databases = catalog.databases()
    candidates = [d.name for d in databases if clone_pull_request_id(d.name) is not None]
    last_queries = catalog.last_queries(candidates, config.retention_days)
    if last_queries is None:
        message = (
            f"{QUERY_HISTORY} is not readable by this role ({QUERY_HISTORY_GRANT}); "
            "a clone's last activity is its creation or last change only"
        )
        if config.require_query_history:
            raise dg.Failure(description=message)
        context.log.warning(message)
    plan = plan_sweep(databases, now, config.retention_days, last_queries or {})
    for reason in plan.not_ours.values():
        context.log.warning(f"Left alone: {reason}")
    context.log.info(f"In use: {', '.join(plan.active) or 'none'}")
    if config.dry_run:
        context.log.info(f"Dry run: would drop {', '.join(plan.stale) or 'nothing'}")
        return plan.stale

    unused_since = now - timedelta(days=config.retention_days)
    dropped: list[str] = []
    failed: dict[str, str] = {}
    for name in plan.stale:
        try:
            outcome = catalog.drop(name, unused_since=unused_since)
        except Exception as error:  # one failed drop must not stop the sweep
            failed[name] = f"{type(error).__name__}: {error}"
            continue
        if outcome == "dropped":
            dropped.append(name)
        else:
            context.log.info(f"{name}: not dropped ({outcome} since it was listed)")
    context.log.info(f"Dropped {len(dropped)} stale clone(s): {', '.join(dropped) or 'none'}")
    if failed:
        raise dg.Failure(
            description=(
                f"Could not drop {len(failed)} stale clone(s): "
                + "; ".join(f"{name} ({error})" for name, error in failed.items())
                + f". Dropped: {', '.join(dropped) or 'none'}."
            ),
            metadata={"dropped": dropped, "failed": sorted(failed)},
        )
    return dropped


def clone_job_tags() -> dict[str, str]:
    """``prod_clone/pull_request=<number>`` when this deployment has a pull request."""
    pull_request = pull_request_for_this_deployment()
    return {PULL_REQUEST_TAG: pull_request} if pull_request else {}


def build_clone_prod() -> dg.JobDefinition:
    @dg.job(
        name="clone_prod",
        description="Replace this pull request's clone with a fresh clone of production.",
        tags=clone_job_tags(),
    )
    def clone_prod() -> None:
        clone_production_database()

    return clone_prod


def build_drop_prod_clone() -> dg.JobDefinition:
    @dg.job(
        name="drop_prod_clone",
        description="Drop this pull request's clone of production.",
        tags=clone_job_tags(),
    )
    def drop_prod_clone() -> None:
        drop_production_clone()

    return drop_prod_clone


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
    return dg.Definitions(
        jobs=[build_clone_prod(), build_drop_prod_clone()], resources=RESULTS_RESOURCES
    )
