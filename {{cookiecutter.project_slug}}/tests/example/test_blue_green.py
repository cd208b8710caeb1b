"""Blue/green publishing, for real on DuckDB: marts reach green only after a run that all passed,
Dagster records a mart as materialized only when its published table changed, blue/green steps
never overlap, and a mart a run does not build is read at its published table, never a stale or
unpublished ``_blue`` (deferred to production, or in the run's own warehouse).

Marts build into ``analytics_blue``; ``on-run-end`` promotes them to ``analytics`` (green) only
when every node of the run succeeded or passed (dbt_project/macros/blue_green/), and
defs/dbt/publishing.py holds their materializations back until it did.
"""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.events import DagsterEventType

# Dagster's own slot claims, as its executors make them (no public API claims a slot).
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster_dbt import get_asset_key_for_model

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.dbt.common import BLUE_GREEN_POOL
from {{ cookiecutter.project_slug }}.defs.dbt.models import build_dbt_models
from {{ cookiecutter.project_slug }}.defs.dbt.publishing import published_models
from {{ cookiecutter.project_slug }}.defs.dbt.slim import dbt_slim_build
from {{ cookiecutter.project_slug }}.resources import build_resources, dbt_executable
from {{ cookiecutter.project_slug }}.utils.dbt_state import (
    duckdb_slim_build,
    published_state,
    read_manifest,
    relation_database,
)
from conftest import MaterializedWarehouse

# Constants, never interpolated from input.
GREEN = "select story_id, score, score_rank from analytics.story_rankings order by story_id"
BLUE = "select story_id, score, score_rank from analytics_blue.story_rankings order by story_id"
SCORE = "select score from hackernews.stories where id = ?"
SET_SCORE = "update hackernews.stories set score = ? where id = ?"
MARTS = ("story_rankings", "author_activity")
NON_NEGATIVE_TEST = "non_negative_story_rankings_score"


@pytest.fixture
def story(on_materialized: MaterializedWarehouse) -> Iterator[tuple[int, int]]:
    """(id, score) of one story; its raw score is restored afterwards."""
    (story_id,) = on_materialized.query("select min(story_id) from analytics.story_rankings")[0]
    (score,) = on_materialized.query(SCORE, story_id)[0]
    yield story_id, score
    on_materialized.query(SET_SCORE, score, story_id)


def published_keys() -> set[dg.AssetKey]:
    return {get_asset_key_for_model([build_dbt_models()], mart) for mart in MARTS}


def run_models(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """``dbt build`` of the regular models (marts included), tests as checks, as a run does."""
    return dg.materialize(
        [build_dbt_models()], resources=build_resources(), instance=instance, raise_on_error=False
    )


def events(
    instance: dg.DagsterInstance, run_id: str, event_type: DagsterEventType
) -> list[dg.DagsterEvent]:
    """What the instance's event log holds for the run (not what the result object says)."""
    return [
        record.dagster_event
        for record in instance.all_logs(run_id, of_type=event_type)
        if record.dagster_event is not None
    ]


def materialized_keys(instance: dg.DagsterInstance, run_id: str) -> set[dg.AssetKey]:
    return {
        event.asset_key
        for event in events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION)
        if event.asset_key is not None
    }


def check_evaluation(instance: dg.DagsterInstance, run_id: str, name: str) -> Any:
    (evaluation,) = [
        event.event_specific_data
        for event in events(instance, run_id, DagsterEventType.ASSET_CHECK_EVALUATION)
        if event.event_specific_data.check_name == name  # type: ignore[union-attr]
    ]
    return evaluation


def test_a_failed_promotion_records_no_materialization_until_a_run_publishes(
    on_materialized: MaterializedWarehouse, story: tuple[int, int]
) -> None:
    story_id, score = story
    marts = published_keys()
    green_before = on_materialized.query(GREEN)
    on_materialized.query(SET_SCORE, -5, story_id)  # breaks the non_negative test on score

    with dg.instance_for_test() as instance:
        failed = run_models(instance)

        assert not failed.success
        # The run did build the bad table, into blue, where no consumer reads it; green is
        # exactly as before ...
        assert (story_id, -5) in [(row[0], row[1]) for row in on_materialized.query(BLUE)]
        assert on_materialized.query(GREEN) == green_before
        # ... and the instance says so: the marts were planned, not materialized, the step
        # failed naming them. What did change in place (staging views) is recorded as usual.
        planned = {
            event.asset_key
            for event in events(
                instance, failed.run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            )
        }
        assert marts <= planned
        done = materialized_keys(instance, failed.run_id)
        assert not marts & done
        assert any(key.path[-1] == "stg_stories" for key in done)
        (step_failure,) = events(instance, failed.run_id, DagsterEventType.STEP_FAILURE)
        message = step_failure.step_failure_data.error.message  # type: ignore[union-attr]
        assert "blue/green: not published" in message
        assert all(key.to_user_string() in message for key in marts)
        for key in marts:
            assert instance.get_latest_materialization_event(key) is None
        # The failing test is still reported, saying it evaluated the unpublished candidate.
        evaluation = check_evaluation(instance, failed.run_id, NON_NEGATIVE_TEST)
        assert not evaluation.passed
        assert "analytics_blue.story_rankings" in evaluation.metadata["blue_green"].value
        assert "which was not published" in evaluation.metadata["blue_green"].value

        on_materialized.query(SET_SCORE, score + 500, story_id)
        published = run_models(instance)

        assert published.success
        green: list[Any] = on_materialized.query(GREEN)
        assert green == on_materialized.query(BLUE)
        assert (story_id, score + 500) in [(row[0], row[1]) for row in green]
        assert marts <= materialized_keys(instance, published.run_id)
        for key in marts:
            latest = instance.get_latest_materialization_event(key)
            assert latest is not None and latest.run_id == published.run_id
            metadata = latest.asset_materialization.metadata  # type: ignore[union-attr]
            # The published table, in the catalog this run wrote (the warehouse file's name).
            expected = f"{on_materialized.path.stem}.analytics.{key.path[-1]}"
            assert metadata["dagster/table_name"].value == expected
        # Checks are recorded after their mart's materialization, so they evaluate it.
        evaluation = check_evaluation(instance, published.run_id, NON_NEGATIVE_TEST)
        assert evaluation.passed
        assert evaluation.target_materialization_data.run_id == published.run_id


def test_every_step_that_can_build_a_mart_shares_the_blue_green_pool() -> None:
    """dbt's on-run-start drops and refills analytics_blue: two such steps overlapping would
    rebuild blue under the other's tests and promotion."""
    manifest = read_manifest(settings.DBT_PROJECT_DIR / "target" / "manifest.json")
    assert published_models(manifest)
    marts = published_keys()
    # `dbt build`/`dbt run` steps prepare and promote; `dbt snapshot` and `dbt test` run neither.
    for definition in defs().resolve_asset_graph().assets_defs:
        if definition.is_executable and set(definition.keys) & marts:
            assert definition.op.pool == BLUE_GREEN_POOL, definition.node_def.name
    assert dbt_slim_build.pool == BLUE_GREEN_POOL


def test_the_project_instance_runs_one_blue_green_step_at_a_time() -> None:
    """dagster.yaml (what `make run`, `make dev` and self-hosted Dagster use) limits the pool to
    one: a second run's step waits for the slot the first one holds, and gets it once freed."""
    config = yaml.safe_load((settings.DBT_PROJECT_DIR.parent / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides={"concurrency": config["concurrency"]}) as instance:
        first, second = (
            InstanceConcurrencyContext(instance, dg.DagsterRun(job_name=name, run_id=run_id))
            for name, run_id in (("dbt_models_job", "a" * 32), ("dbt_slim_branch_build", "b" * 32))
        )
        with first, second:
            assert first.claim(BLUE_GREEN_POOL, "dbt_models")
            assert not second.claim(BLUE_GREEN_POOL, "dbt_slim_build")
            first.free_step("dbt_models")  # the first step ended (as its executor frees it)
        # Then a run claiming afresh gets the slot.
        again = InstanceConcurrencyContext(instance, dg.DagsterRun(job_name="b", run_id="b" * 32))
        with again:
            assert again.claim(BLUE_GREEN_POOL, "dbt_slim_build")
        (limit,) = [
            p for p in instance.event_log_storage.get_pool_limits() if p.name == BLUE_GREEN_POOL
        ]
        assert limit.limit == 1


def test_a_slim_build_defers_to_production_s_published_marts_not_its_blue(
    materialized: MaterializedWarehouse, tmp_path: Path
) -> None:
    """Production's blue holds what its last failed run left there (on Snowflake, after a swap,
    the previous generation): a slim build deferring to production must read green. The one
    change is a test's macro, so the build runs that test alone, against production's mart."""
    production = tmp_path / "production.duckdb"
    shutil.copy2(materialized.path, production)
    with duckdb.connect(str(production)) as connection:
        # What a failed production run leaves: a negative score, built and tested, never promoted.
        connection.execute("update analytics_blue.story_rankings set score = -5")
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy2(settings.DBT_PROJECT_DIR / "target" / "manifest.json", state / "manifest.json")
    project = tmp_path / "dbt_project"
    shutil.copytree(
        settings.DBT_PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns("target", "logs", "state", "*.duckdb*"),
    )
    macro = project / "macros/tests/non_negative.sql"
    macro.write_text(macro.read_text().replace("< 0", "< 0 -- changed in this pull request"))

    build = duckdb_slim_build(
        project, production, tmp_path / "branch.duckdb", state, dbt_executable()
    )

    (tested,) = build.results
    assert NON_NEGATIVE_TEST in tested and build.results[tested] == "pass", build.results
    database = relation_database(read_manifest(state / "manifest.json"))
    compiled = next((build.target_dir / "compiled").rglob(f"{NON_NEGATIVE_TEST}.sql")).read_text()
    assert f'from "{database}"."analytics"."story_rankings"' in compiled
    assert "analytics_blue" not in compiled


def test_a_run_only_testing_a_mart_tests_the_published_table_not_a_stale_blue(
    on_materialized: MaterializedWarehouse,
) -> None:
    """Blue left holding what a failed run built (a negative score): a run selecting only the
    mart's test (nothing built, nothing promoted) must test what consumers read."""
    on_materialized.query("update analytics_blue.story_rankings set score = -5")
    dbt = build_resources()["dbt"]
    invocation = dbt.cli(["build", "--select", NON_NEGATIVE_TEST], raise_on_error=False).wait()
    results = {
        r["unique_id"]: r["status"]
        for r in invocation.get_artifact("run_results.json")["results"]
        if r["unique_id"].startswith("test.")
    }
    assert list(results.values()) == ["pass"], results
    assert on_materialized.query(BLUE) == on_materialized.query(GREEN)  # refreshed from green


@pytest.mark.parametrize("raw_schema", ["analytics_blue", "ANALYTICS"])
def test_raw_tables_in_a_published_schema_are_refused_before_anything_is_dropped(
    on_materialized: MaterializedWarehouse, raw_schema: str
) -> None:
    """Sources configured into a published schema or its blue twin (the template refuses such
    answers; a team's own sources can still do it): the run stops at on-run-start, before the
    reset would drop blue with the raw tables in it."""
    blue_tables = (
        "select count(*) from information_schema.tables where table_schema = 'analytics_blue'"
    )
    before = on_materialized.query(blue_tables)
    dbt = build_resources()["dbt"]
    invocation = dbt.cli(
        ["build", "--select", "stg_stories", "--vars", json.dumps({"raw_schema": raw_schema})],
        raise_on_error=False,
    ).wait()
    assert not invocation.is_successful()
    error = str(invocation.get_error())
    assert "blue/green: refusing to reset or promote analytics, analytics_blue" in error
    assert f"source.{{ cookiecutter.project_slug }}.hackernews.stories ({raw_schema})" in error
    assert on_materialized.query(blue_tables) == before


def test_deferral_state_puts_snowflake_marts_at_their_published_tables(tmp_path: Path) -> None:
    """Snowflake: no emulator runs a deferred dbt-snowflake build, so this checks the exact
    relation production's state hands --defer, for a node as dbt-snowflake renders it
    (unquoted), next to one that is not published."""
    mart = {
        "resource_type": "model",
        "name": "story_rankings",
        "alias": "story_rankings",
        "database": "PRODUCTION",
        "schema": "analytics_blue",
        "relation_name": "PRODUCTION.analytics_blue.story_rankings",
        "config": {"materialized": "table", "schema": None},
        "unrendered_config": {"materialized": "table"},
    }
    view = {
        **mart,
        "name": "stg_stories",
        "alias": "stg_stories",
        "schema": "staging",
        "relation_name": "PRODUCTION.staging.stg_stories",
        "config": {"materialized": "view", "schema": "staging"},
    }
    state = tmp_path / "state"
    state.mkdir()
    manifest = {"nodes": {"model.p.story_rankings": mart, "model.p.stg_stories": view}}
    (state / "manifest.json").write_text(json.dumps(manifest))

    deferred = read_manifest(published_state(state, tmp_path / "deferred") / "manifest.json")

    published, untouched = deferred["nodes"].values()
    assert (published["schema"], published["relation_name"]) == (
        "analytics",
        "PRODUCTION.analytics.story_rankings",
    )
    # Only where it lives changed: state:modified compares the configured (unrendered) values.
    assert published["unrendered_config"] == mart["unrendered_config"]
    assert published["config"] == mart["config"]
    assert untouched == view
