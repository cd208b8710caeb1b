"""``make run``: materialize every asset locally, then say what was built.

Runs in-process against the LOCAL warehouse (DuckDB unless ``LOCAL_WAREHOUSE=snowflake``) and
exits non-zero if any step or check fails. Refuses to run in a branch or production deployment.
"""

from __future__ import annotations

import contextlib
import sys

import dagster as dg
import duckdb

from .definitions import defs
from .utils.environment import (
    Environment,
    Warehouse,
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
) -> list[dg.ExecuteInProcessResult]:
    """In-process runs (DuckDB allows one writer at a time): every unpartitioned asset, then the
    partitioned ones for their last ``LOCAL_PARTITION_DAYS`` partitions in one run, then the
    ``LAST_GROUPS``. Stops at the first failed run."""
    if get_environment() is not Environment.LOCAL:
        raise RuntimeError("local_pipeline runs only in LOCAL; use Dagster+ to run deployments")
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    partitioned = {key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def}
    last = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name in LAST_GROUPS}
    stages: list[tuple[str, dg.AssetSelection, dg.PartitionsDefinition | None]] = [
        (
            "local_unpartitioned",
            dg.AssetSelection.all() - dg.AssetSelection.keys(*partitioned, *last),
            None,
        )
    ]
    if partitioned:
        partitions_def = graph.get(next(iter(partitioned))).partitions_def
        stages.append(("local_partitioned", dg.AssetSelection.keys(*partitioned), partitions_def))
    if last:
        stages.append(("local_last", dg.AssetSelection.keys(*last), None))
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
            if not results[-1].success:
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


def main() -> int:
    results = materialize_everything()
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
        print(f"\nTables in {get_duckdb_path()}:")
        for name, rows in duckdb_table_counts().items():
            print(f"  {name:<40} {rows:>7} rows")
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
