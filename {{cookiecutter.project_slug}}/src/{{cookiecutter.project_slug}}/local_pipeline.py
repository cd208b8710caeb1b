"""``make run``: materialize every asset locally, then say what was built.

Runs in-process against the LOCAL warehouse (DuckDB unless ``LOCAL_WAREHOUSE=snowflake``) and
exits non-zero if any step or check fails. Refuses to run in a branch or production deployment.
Ctrl-C or SIGTERM stops it: the step running fails, its dbt is stopped, the run is marked failed
in the instance, nothing after it starts, and it exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import datetime
import signal
import sys
from collections.abc import Callable

import dagster as dg
import duckdb

from .definitions import defs
from .utils import interrupts
from .utils.environment import (
    Environment,
    Warehouse,
    get_dagster_home,
    get_duckdb_path,
    get_environment,
    get_warehouse,
)

# The daily-partitioned assets are built for this many most recent days, in one run (their
# single-run backfill policy hands dbt the whole window: one microbatch batch per day).
LOCAL_PARTITION_DAYS = 7
# Groups built last, in a run of their own: they report on what the runs before them built.
LAST_GROUPS = ("platform_health",)


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags selecting partitions ``first`` to ``last`` (inclusive) as one range."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def last_days_tags(partitions_def: dg.PartitionsDefinition, days: int) -> dict[str, str]:
    """Run tags selecting the last ``days`` partitions as one range."""
    keys = partitions_def.get_partition_keys()[-days:]
    return partition_range_tags(keys[0], keys[-1])


def materialize_everything(
    instance: dg.DagsterInstance | None = None,
    interrupted: Callable[[], object] = lambda: None,
) -> list[dg.ExecuteInProcessResult]:
    """In-process runs (DuckDB allows one writer at a time): every unpartitioned asset, then the
    partitioned ones for their last ``LOCAL_PARTITION_DAYS`` partitions in one run, then the
    ``LAST_GROUPS``. Stops at the first failed run, or once ``interrupted()`` is true; a project
    with no assets at all runs nothing."""
    if get_environment() is not Environment.LOCAL:
        raise RuntimeError("local_pipeline runs only in LOCAL; use Dagster+ to run deployments")
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    everything = set(graph.get_all_asset_keys())
    partitioned = {key for key in everything if graph.get(key).partitions_def}
    last = {key for key in everything if graph.get(key).group_name in LAST_GROUPS}
    stages: list[tuple[str, dg.AssetSelection, dg.PartitionsDefinition | None]] = []
    if everything - partitioned - last:
        unpartitioned = dg.AssetSelection.all() - dg.AssetSelection.assets(*partitioned, *last)
        stages.append(("local_unpartitioned", unpartitioned, None))
    if partitioned:
        partitions_def = graph.get(next(iter(partitioned))).partitions_def
        stages.append(("local_partitioned", dg.AssetSelection.assets(*partitioned), partitions_def))
    if last:
        stages.append(("local_last", dg.AssetSelection.assets(*last), None))
    results = []
    with (
        dg.instance_for_test()
        if instance is None
        else contextlib.nullcontext(instance) as run_instance
    ):
        for name, selection, partitions_def in stages:
            job = dg.Definitions.merge(
                definitions, dg.Definitions(jobs=[dg.define_asset_job(name, selection)])
            ).resolve_job_def(name)
            tags = last_days_tags(partitions_def, LOCAL_PARTITION_DAYS) if partitions_def else None
            results.append(
                job.execute_in_process(instance=run_instance, tags=tags, raise_on_error=False)
            )
            if not results[-1].success or interrupted():
                break
    return results


def duckdb_table_counts() -> dict[str, int]:
    """``schema.table`` -> row count for every table and view in the local DuckDB file."""
    with duckdb.connect(str(get_duckdb_path()), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": int(
                connection.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]  # noqa: S608
            )
            for schema, table in names
        }


def local_instance() -> contextlib.AbstractContextManager[dg.DagsterInstance]:
    """The instance ``make dev`` shows (``DAGSTER_HOME``), else a throwaway one."""
    if get_dagster_home() is not None:
        return dg.DagsterInstance.get()
    return dg.instance_for_test()


def explain(tables: dict[str, int], partitioned: list[str]) -> list[str]:
    """One line for each thing a first run shows that is not obvious."""
    lines = []
    blue = sorted({name.split(".")[0] for name in tables if name.split(".")[0].endswith("_blue")})
    if blue:
        green = ", ".join(schema.removesuffix("_blue") for schema in blue)
        lines.append(
            f"{', '.join(blue)}: blue/green copies built first; {green} is what consumers read, "
            "swapped in only when every dbt test passed (docs/dbt.md)."
        )
    if partitioned:
        lines.append(
            f"Daily-partitioned models ({', '.join(partitioned)}) hold their last "
            f"{LOCAL_PARTITION_DAYS} days (LOCAL_PARTITION_DAYS); backfill older days from the UI."
        )
    return lines


def main() -> int:
    started = datetime.datetime.now(datetime.UTC)
    with interrupts.interrupts_noted() as interrupted, local_instance() as instance:
        try:
            results = materialize_everything(instance, interrupted)
        except KeyboardInterrupt:  # SIGINT/SIGTERM outside a run (loading, between runs)
            results = []
        signum = interrupted()
        if signum is not None:
            return report_interrupt(signum, instance, started)
    return report(results)


def report_interrupt(
    signum: signal.Signals, instance: dg.DagsterInstance, since: datetime.datetime
) -> int:
    """Say what an interrupt stopped (each run started ``since``, as the instance has it); the
    exit status a shell gives a process killed by ``signum`` (130 for SIGINT, 143 for SIGTERM)."""
    # A dbt a step left running would hold the DuckDB file (atexit would stop it too, later).
    interrupts.stop_live_processes()
    runs = instance.get_runs(filters=dg.RunsFilter(created_after=since))
    print(f"\nLocal pipeline INTERRUPTED by {signum.name}; runs it started:", file=sys.stderr)
    for run in reversed(runs):
        print(f"  {run.job_name:<24} {run.run_id}  {run.status.value}", file=sys.stderr)
    return 128 + signum


def report(results: list[dg.ExecuteInProcessResult]) -> int:
    """Print what ``results`` built (and the local tables); 0 if every run and check passed."""
    partitioned = sorted(
        {
            key.path[-1]
            for result in results
            if result.dagster_run.tags.get("dagster/asset_partition_range_start")
            for key in (e.asset_key for e in result.get_asset_materialization_events())
            if key
        }
    )
    failed = [e.step_key for result in results for e in result.all_events if e.is_step_failure]
    failed_checks = [
        f"{check.asset_key.to_user_string()}:{check.check_name}"
        for result in results
        for check in result.get_asset_check_evaluations()
        if not check.passed
    ]
    materialized = sorted(
        {
            e.asset_key.to_user_string()
            for result in results
            for e in result.get_asset_materialization_events()
            if e.asset_key
        }
    )
    print(f"Materialized {len(materialized)} assets:")
    for key in materialized:
        print(f"  {key}")
    if get_warehouse() is Warehouse.DUCKDB:
        tables = duckdb_table_counts()
        print(f"\nTables in {get_duckdb_path()}:")
        for name, rows in tables.items():
            print(f"  {name:<40} {rows:>7} rows")
        notes = explain(tables, partitioned)
        if notes:
            print("", *notes, sep="\n")
    home = get_dagster_home()
    if home is not None:
        print(f"\nRuns recorded in {home}: `make dev` shows them.")
    if failed or failed_checks or not all(result.success for result in results):
        print(
            f"\nFAILED steps: {failed or '-'}; failed checks: {failed_checks or '-'}",
            file=sys.stderr,
        )
        return 1
    print("\nLocal pipeline succeeded.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
