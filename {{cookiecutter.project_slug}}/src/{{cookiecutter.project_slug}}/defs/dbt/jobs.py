"""Jobs and schedules running dbt: hourly tests, daily partitions, daily models and snapshots."""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from ... import settings
from ...dbt_project import dbt_project
from ...utils.dbt_args import HOURLY_TESTS_TAG, hourly_test_args
from .common import RETRY_TAGS
from .models import build_dbt_models
from .partitioned import build_incremental_models, build_microbatch_models
from .snapshots import build_dbt_snapshots

INGESTION = dg.AssetSelection.key_prefixes(
    [settings.PRODUCTION_DATABASE.lower(), settings.RAW_SCHEMA.lower()]
)


def failed_results(run_results: Mapping[str, Any]) -> list[str]:
    """unique_id of every dbt result that did not pass."""
    return [
        r["unique_id"] for r in run_results["results"] if r["status"] not in ("pass", "success")
    ]


@dg.op(tags={"kind": "dbt"}, out=dg.Out(dg.Nothing))
def dbt_hourly_tests(context: dg.OpExecutionContext, dbt: DbtCliResource) -> dg.Output[None]:
    """``dbt test --select tag:hourly_tests``: source tests are no asset, so an op runs them."""
    invocation = dbt.cli(
        hourly_test_args(), manifest=dbt_project.manifest_path, raise_on_error=False
    )
    for line in invocation.stream_raw_events():
        context.log.debug(str(line))
    invocation.wait()
    run_results = invocation.get_artifact("run_results.json")
    # Hooks (on-run-start/end) are results too; only tests are reported.
    tests: Sequence[str] = [
        r["unique_id"] for r in run_results["results"] if r["unique_id"].startswith("test.")
    ]
    failed = failed_results(run_results)
    if failed or not invocation.is_successful():
        raise dg.Failure(f"dbt tests tagged {HOURLY_TESTS_TAG} failed: {', '.join(failed) or '?'}")
    # Nothing output: the summary is metadata, no I/O manager stores a value.
    return dg.Output(None, metadata={"tests": dg.MetadataValue.json(list(tests))})


@dg.job(tags={"dbt/selection": f"tag:{HOURLY_TESTS_TAG}"})
def dbt_hourly_tests_job() -> None:
    dbt_hourly_tests()


@dg.definitions
def defs() -> dg.Definitions:
    partitioned = [build_incremental_models(), build_microbatch_models()]
    daily_partitioned_job = dg.define_asset_job(
        "daily_partitioned_job",
        selection=INGESTION | dg.AssetSelection.assets(*partitioned),
        tags=RETRY_TAGS,
        description="Ingestion and the daily-partitioned dbt models, one day at a time.",
    )
    dbt_models_job = dg.define_asset_job(
        "dbt_models_job",
        selection=dg.AssetSelection.assets(build_dbt_models(), build_dbt_snapshots()),
        tags=RETRY_TAGS,
        description="Regular dbt models and snapshots.",
    )
    return dg.Definitions(
        jobs=[daily_partitioned_job, dbt_models_job, dbt_hourly_tests_job],
        schedules=[
            dg.ScheduleDefinition(
                name="dbt_hourly_tests_schedule",
                job=dbt_hourly_tests_job,
                cron_schedule="0 * * * *",
                execution_timezone="UTC",
            ),
            # Each day's partition an hour after the day closes.
            dg.build_schedule_from_partitioned_job(
                daily_partitioned_job, hour_of_day=1, name="daily_partitioned_schedule"
            ),
            dg.ScheduleDefinition(
                name="dbt_models_daily_schedule",
                job=dbt_models_job,
                cron_schedule="0 2 * * *",
                execution_timezone="UTC",
            ),
        ],
    )
