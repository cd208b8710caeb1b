"""Every dbt definition, run for real on one DuckDB file shared by this module."""

import json
from datetime import date
from itertools import pairwise

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }} import local_pipeline, settings
from {{ cookiecutter.project_slug }}.defs.dbt import jobs, partitioned, snapshots
from {{ cookiecutter.project_slug }}.defs.dbt.common import DAILY_PARTITIONS
from {{ cookiecutter.project_slug }}.resources import build_resources
from conftest import MaterializedWarehouse


@pytest.fixture(autouse=True)
def shared(on_materialized: MaterializedWarehouse) -> MaterializedWarehouse:
    """Every test here runs on the session's materialized warehouse (conftest.py)."""
    return on_materialized


# The staging views whose days the tests look at (constants: no name is ever interpolated).
DAYS_WITH_DATA = {
    "staging.stg_comments": "select distinct cast(posted_at as date) from staging.stg_comments",
    "staging.stg_stories": "select distinct cast(posted_at as date) from staging.stg_stories",
}


def busiest_days(warehouse: MaterializedWarehouse, table: str, count: int) -> list[str]:
    """Consecutive days with data in a staging table (data is rebased to now: computed)."""
    days = [d for (d,) in sorted(warehouse.query(DAYS_WITH_DATA[table]))]
    for first, second in pairwise(days):
        if (second - first).days == 1:
            return [str(first), str(second)][:count]
    raise AssertionError(f"no two consecutive days with data in {table}")


def partitioned_model(name: str) -> dg.AssetKey:
    """The key of the partitioned dbt model ``name`` (int_comments: delete+insert; int_stories:
    microbatch)."""
    (key,) = [k for k in partitioned.build_partitioned_models().keys if k.path[-1] == name]
    return key


def test_every_dbt_definition_materializes(shared: MaterializedWarehouse) -> None:
    results = shared.results
    assert all(r.success for r in results)
    done = {e.asset_key for r in results for e in r.get_asset_materialization_events()}
    for definition in (partitioned.build_partitioned_models(), snapshots.build_dbt_snapshots()):
        assert set(definition.keys) <= done


def test_make_run_builds_the_last_days_of_the_microbatch_model(
    shared: MaterializedWarehouse,
) -> None:
    """`make run` hands the microbatch model its last LOCAL_PARTITION_DAYS days in one run."""
    days = DAILY_PARTITIONS.get_partition_keys()[-local_pipeline.LOCAL_PARTITION_DAYS :]
    first, last = days[0], days[-1]
    (expected,) = shared.query(
        "select count(*) from staging.stg_stories "
        "where cast(posted_at as date) between cast(? as date) and cast(? as date)",
        first,
        last,
    )[0]
    (built, outside) = shared.query(
        "select count(*) filter (where d between cast(? as date) and cast(? as date)), "
        "count(*) filter (where d not between cast(? as date) and cast(? as date)) "
        "from (select cast(posted_at as date) as d from intermediate.int_stories)",
        first,
        last,
        first,
        last,
    )[0]
    assert expected > 0, "the bundled sample has stories in its last days"
    assert (built, outside) == (expected, 0)


def test_incremental_partition_processes_exactly_its_window(
    shared: MaterializedWarehouse,
) -> None:
    (day,) = busiest_days(shared, "staging.stg_comments", 1)
    result = dg.materialize(
        [partitioned.build_partitioned_models()],
        selection=[partitioned_model("int_comments")],
        partition_key=day,
        resources=build_resources(),
    )
    assert result.success
    (expected,) = shared.query(
        "select count(*) from staging.stg_comments where cast(posted_at as date) = ?", day
    )[0]
    rewritten = shared.query(
        "select count(*), min(cast(posted_at as date)), max(cast(posted_at as date)) "
        "from intermediate.int_comments where loaded_window = ?",
        f"{day} 00:00:00",
    )
    assert rewritten == [(expected, date.fromisoformat(day), date.fromisoformat(day))]
    # The window came through dbt's environment, not `--vars`, which would have made dbt re-parse
    # the whole project on every partition. (Here the profile names this test's copy of the
    # warehouse, which dbt counts as a change of its own.)
    (target,) = (settings.DBT_PROJECT_DIR / "target").glob(
        f"dbt_partitioned_models-{result.run_id[:7]}-*"
    )
    log = (target / "dbt.log").read_text()
    assert "Unable to do partial parsing because config vars" not in log
    assert "--vars" not in log
    (total,) = shared.query(
        "select count(*) = count(distinct comment_id) from intermediate.int_comments"
    )[0]
    assert total


def test_microbatch_two_day_window_runs_two_batches(shared: MaterializedWarehouse) -> None:
    first, second = busiest_days(shared, "staging.stg_stories", 2)
    job = dg.Definitions(
        assets=[partitioned.build_partitioned_models()],
        jobs=[dg.define_asset_job("microbatch", [partitioned_model("int_stories")])],
        resources=build_resources(),
    ).resolve_job_def("microbatch")
    result = job.execute_in_process(tags=local_pipeline.partition_range_tags(first, second))
    assert result.success
    (target,) = (settings.DBT_PROJECT_DIR / "target").glob(
        f"dbt_partitioned_models-{result.run_id[:7]}-*"
    )
    run_results = json.loads((target / "run_results.json").read_text())
    (model,) = [r for r in run_results["results"] if r["unique_id"].startswith("model.")]
    assert len(model["batch_results"]["successful"]) == 2
    assert model["batch_results"]["failed"] == []


def test_snapshots_run_twice_keep_history(shared: MaterializedWarehouse) -> None:
    (story_id,) = shared.query("select max(story_id) from staging.stg_stories")[0]
    shared.query("update hackernews.stories set score = score + 1000 where id = ?", story_id)
    result = dg.materialize([snapshots.build_dbt_snapshots()], resources=build_resources())
    assert result.success
    versions = shared.query(
        "select dbt_valid_to is null from snapshots.story_scores "
        "where story_id = ? order by dbt_valid_from",
        story_id,
    )
    assert versions == [(False,), (True,)]


def test_hourly_tests_job_runs_only_tagged_tests() -> None:
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    tagged = {
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and "hourly_tests" in node["tags"]
    }
    result = (
        dg.Definitions(jobs=[jobs.dbt_hourly_tests_job], resources=build_resources())
        .resolve_job_def("dbt_hourly_tests_job")
        .execute_in_process()
    )
    assert result.success
    (output,) = [e for e in result.all_events if e.is_successful_output]
    ran = set(output.event_specific_data.metadata["tests"].value)  # type: ignore[union-attr]
    assert ran == tagged and any(uid.startswith("test.") and "source_" in uid for uid in ran)
