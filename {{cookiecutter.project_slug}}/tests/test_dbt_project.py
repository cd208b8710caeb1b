"""Whatever dbt project sits in dbt_project/ becomes exactly the assets, checks, jobs and schedules
it should. Everything here is derived from the manifest, so it holds for the example and for a
team's own project alike (docs/your-dbt-project.md)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.dbt.common import reads_partition_vars
from {{ cookiecutter.project_slug }}.utils.dbt_args import HOURLY_TESTS_TAG
from {{ cookiecutter.project_slug }}.utils.dbt_translator import asset_key_for, parse_default_database
from conftest import MaterializedWarehouse

MATERIALIZED_TYPES = ("model", "seed", "snapshot")


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> Any:
    return json.loads(dbt_manifest.read_text())


def nodes(manifest: Any) -> dict[str, Any]:
    """Every node dbt builds into a relation: models (not ephemeral), seeds, snapshots."""
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in MATERIALIZED_TYPES
        and node["config"].get("materialized") != "ephemeral"
    }


def key_of(manifest: Any, node: Any) -> dg.AssetKey:
    return asset_key_for(node, parse_default_database(manifest))


def dbt_asset_keys(definitions: dg.Definitions) -> set[dg.AssetKey]:
    """Assets made from dbt nodes (dagster-dbt records its manifest on each of them)."""
    graph = definitions.resolve_asset_graph()
    return {
        key
        for key in graph.get_all_asset_keys()
        if "dagster_dbt/manifest" in graph.get(key).metadata
    }


def test_every_dbt_node_is_one_asset(manifest: Any) -> None:
    expected = [key_of(manifest, node) for node in nodes(manifest).values()]
    assert len(set(expected)) == len(expected), "two dbt nodes share an asset key"
    assert dbt_asset_keys(defs()) == set(expected)


def test_every_test_on_a_node_is_a_check_of_it(manifest: Any) -> None:
    built = nodes(manifest)
    expected = {
        (key_of(manifest, built[node["attached_node"]]), node["name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("attached_node") in built
    }
    checks = {(key.asset_key, key.name) for key in defs().resolve_asset_graph().asset_check_keys}
    assert expected <= checks


def test_jobs_and_schedules_exist_only_for_what_the_project_has(manifest: Any) -> None:
    built = nodes(manifest).values()
    incremental = any(node["config"].get("materialized") == "incremental" for node in built)
    regular = any(node["config"].get("materialized") != "incremental" for node in built)
    hourly = any(
        node["resource_type"] == "test" and HOURLY_TESTS_TAG in node["tags"]
        for node in manifest["nodes"].values()
    )
    definitions = defs()
    jobs = {job.name for job in definitions.resolve_all_job_defs()}
    schedules = {schedule.name for schedule in definitions.get_repository_def().schedule_defs}
    assert ("daily_partitioned_job" in jobs) is incremental
    assert ("daily_partitioned_schedule" in schedules) is incremental
    assert ("dbt_models_job" in jobs) is regular
    assert ("dbt_hourly_tests_job" in jobs) is hourly
    assert ("dbt_hourly_tests_schedule" in schedules) is hourly


def test_a_run_records_only_assets_the_definitions_define(
    on_materialized: MaterializedWarehouse,
) -> None:
    """Every event of a full local run (test results recorded as observations included) lands on
    an asset the translator defined: the UI shows no stray keys."""
    assert all(result.success for result in on_materialized.results)
    assert on_materialized.instance is not None
    defined = set(defs().resolve_asset_graph().get_all_asset_keys())
    assert set(on_materialized.instance.get_asset_keys()) <= defined


def test_runs_hand_the_window_as_vars_only_to_projects_that_read_them(manifest: Any) -> None:
    """Models reading ``var('start_date')`` (dagster-dbt's documented way) still get it; models
    reading ``partition_start()`` keep dbt's partial parsing (no ``--vars``)."""
    project = manifest["metadata"]["project_name"]
    plain = {**manifest, "nodes": {}, "macros": {}}
    assert not reads_partition_vars(plain)
    incremental = {
        "resource_type": "model",
        "config": {"materialized": "incremental"},
        # dbt's Jinja without its braces (this file is a Cookiecutter template): the same to find.
        "raw_code": "select * from t where d >= 'var(\"start_date\")'",
    }
    assert reads_partition_vars({**plain, "nodes": {"model.x.m": incremental}})
    table = {**incremental, "config": {"materialized": "table"}}
    assert not reads_partition_vars({**plain, "nodes": {"model.x.m": table}})
    macro = {"package_name": project, "macro_sql": "if var('end_date', none)"}
    assert reads_partition_vars({**plain, "macros": {"macro.m": macro}})
    assert not reads_partition_vars(
        {**plain, "macros": {"macro.m": {**macro, "package_name": "dbt_utils"}}}
    )
