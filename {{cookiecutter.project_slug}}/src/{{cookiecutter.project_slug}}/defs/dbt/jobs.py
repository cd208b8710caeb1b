"""Jobs and schedules running dbt: hourly tests, daily partitions, daily models and snapshots."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from ... import settings
from ...dbt_project import dbt_project
from ...utils.dbt_args import HOURLY_TESTS_TAG, hourly_test_args
from .common import RETRY_TAGS, load_manifest, present
from .models import regular_dbt_definitions
from .partitioned import build_partitioned_models
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


def has_hourly_tests(manifest_path: Path = dbt_project.manifest_path) -> bool:
    """Whether any dbt test carries the hourly tag (else there is nothing to schedule)."""
    manifest = load_manifest(manifest_path)
    return any(
        node["resource_type"] == "test" and HOURLY_TESTS_TAG in node.get("tags", [])
        for node in manifest["nodes"].values()
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Jobs and schedules only for what the dbt project has: no incremental model, no daily
    partitioned job; no test tagged hourly, no hourly tests job."""
    jobs: list[Any] = []
    schedules: list[Any] = []
    partitioned = present(build_partitioned_models())
    if partitioned:
        daily_partitioned_job = dg.define_asset_job(
            "daily_partitioned_job",
            selection=INGESTION | dg.AssetSelection.assets(*partitioned),
            tags=RETRY_TAGS,
            description="Ingestion and the daily-partitioned dbt models, one day at a time.",
        )
        jobs.append(daily_partitioned_job)
        # Each day's partition an hour after the day closes.
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                daily_partitioned_job, hour_of_day=1, name="daily_partitioned_schedule"
            )
        )
    regular = [*regular_dbt_definitions(), *present(build_dbt_snapshots())]
    if regular:
        dbt_models_job = dg.define_asset_job(
            "dbt_models_job",
            selection=dg.AssetSelection.assets(*regular),
            tags=RETRY_TAGS,
            description="Regular dbt models and snapshots.",
        )
        jobs.append(dbt_models_job)
        schedules.append(utc_schedule("dbt_models_daily_schedule", dbt_models_job, "0 2 * * *"))
    if has_hourly_tests():
        jobs.append(dbt_hourly_tests_job)
        schedules.append(
            utc_schedule("dbt_hourly_tests_schedule", dbt_hourly_tests_job, "0 * * * *")
        )
    return dg.Definitions(jobs=jobs, schedules=schedules)


def utc_schedule(name: str, job: Any, cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(name=name, job=job, cron_schedule=cron, execution_timezone="UTC")
