"""Automation and freshness on the example (removed with it)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.utils.automation import SCHEDULE_NAME_TAG
from {{ cookiecutter.project_slug }}.utils.code_versions import MacroAwareCodeVersions
from test_automation import descendants, load, materialize_everything, requested, run_until_quiet

PROD = settings.PRODUCTION_DATABASE.lower()
RAW = [PROD, settings.RAW_SCHEMA.lower()]
ITEMS = dg.AssetKey([*RAW, "items"])


def test_staging_models_are_versioned_with_the_dev_window_macro(dbt_manifest: Path) -> None:
    manifest = json.loads(dbt_manifest.read_text())
    slug = manifest["metadata"]["project_name"]
    versions = MacroAwareCodeVersions(manifest)
    uses = {
        props["name"]
        for props in manifest["nodes"].values()
        if f"macro.{slug}.dev_window" in versions.macros_of(props)
    }
    assert uses == {"stg_comments", "stg_stories"}


def test_marts_and_sources_get_freshness_checks() -> None:
    checks = {
        key.asset_key
        for definition in load().asset_checks or ()
        if isinstance(definition, dg.AssetChecksDefinition)
        for key in definition.check_keys
        if key.name == "freshness_check"
    }
    marts = {
        dg.AssetKey([PROD, "analytics", name]) for name in ("story_rankings", "author_activity")
    }
    sources = {dg.AssetKey([*RAW, name]) for name in ("items", "comments", "stories")}
    assert checks == marts | sources


def run_items(tags: dict[str, str], instance: dg.DagsterInstance) -> None:
    """The real ingestion asset, run through the real definitions' asset job."""
    job = load().resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[ITEMS], tags=tags)
    assert result.success


def test_a_scheduled_run_is_left_to_the_schedules_a_manual_one_propagates() -> None:
    graph = load().resolve_asset_graph()
    assets: list[Any] = list(graph.assets_defs)
    with dg.instance_for_test() as instance:
        materialize_everything(instance, graph)
        cursor = dg.evaluate_automation_conditions(defs=assets, instance=instance).cursor
        # The daily schedule ingested: its own run covers (or the next schedule does) the rest.
        run_items({SCHEDULE_NAME_TAG: "daily_partitioned_schedule"}, instance)
        after_schedule = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, cursor=cursor
        )
        assert requested(after_schedule, graph) == {}
        # Someone re-ingests by hand: everything downstream follows, tick after tick.
        run_items({}, instance)
        ticks = run_until_quiet(assets, instance, graph, after_schedule.cursor)
        assert set().union(*ticks) == descendants(graph, ITEMS)
        names = {key.path[-1] for key in set().union(*ticks)}
        assert {"comments", "stories", "stg_stories", "story_rankings"} <= names
