"""Declarative automation and freshness on the real definitions, for any dbt project.

Dagster's own evaluation helper (``dg.evaluate_automation_conditions``) runs the conditions the
way the automation sensor does, tick after tick, against a real (in-memory) instance.
"""

import datetime
import json
from typing import Any

import dagster as dg
import pytest

# Dagster's own test helper: moves Dagster's clock (and nothing else) for the freshness checks.
from dagster._core.test_utils import freeze_time

from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs import automation
from {{ cookiecutter.project_slug }}.defs.dbt.common import DAILY_PARTITIONS
from {{ cookiecutter.project_slug }}.utils.automation import (
    MARTS_FRESHNESS,
    MARTS_GROUP,
    automation_condition_for,
    freshness_for,
    on_change,
    source_freshness,
)


def load() -> dg.Definitions:
    definitions = defs()
    assert isinstance(definitions, dg.Definitions)
    return definitions


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (None, dg.DefaultSensorStatus.STOPPED),
        ("branch_environment", dg.DefaultSensorStatus.STOPPED),
        ("prod_environment", dg.DefaultSensorStatus.RUNNING),
    ],
)
def test_sensors_run_by_default_in_production_only(
    request: pytest.FixtureRequest, environment: str | None, expected: dg.DefaultSensorStatus
) -> None:
    if environment:
        request.getfixturevalue(environment)
    definitions = load()
    names = {automation.AUTOMATION_SENSOR}
    if list(definitions.asset_checks or ()):
        names.add(automation.FRESHNESS_SENSOR)
    for name in names:
        assert definitions.resolve_sensor_def(name).default_status is expected, name


def keys_of(graph: Any) -> list[dg.AssetKey]:
    """Every asset Dagster materializes, in a stable order."""
    return sorted(graph.materializable_asset_keys, key=lambda key: key.to_user_string())


def automated(graph: Any, key: dg.AssetKey) -> bool:
    """Whether automation governs ``key`` (platform health, say, runs on its weekly schedule)."""
    node = graph.get(key)
    return bool(node.is_materializable and node.automation_condition is not None)


def descendants(graph: Any, key: dg.AssetKey) -> set[dg.AssetKey]:
    """The assets automation governs downstream of ``key``, through any asset."""
    found: set[dg.AssetKey] = set()
    seen: set[dg.AssetKey] = set()
    stack = [key]
    while stack:
        for child in graph.get(stack.pop()).child_keys:
            if child not in seen:
                seen.add(child)
                stack.append(child)
                if automated(graph, child):
                    found.add(child)
    return found


def latest(graph: Any, key: dg.AssetKey) -> str | None:
    return DAILY_PARTITIONS.get_last_partition_key() if graph.get(key).partitions_def else None


def materialize_everything(instance: dg.DagsterInstance, graph: Any) -> None:
    """Every asset (the latest partition of a partitioned one) materialized, outside any run:
    production in a steady state. External sources are observed, as their loaders would."""
    for key in graph.get_all_asset_keys():
        if graph.get(key).is_materializable:
            event: Any = dg.AssetMaterialization(key, partition=latest(graph, key))
        else:
            event = dg.AssetObservation(key)
        instance.report_runless_asset_event(event)


def requested(result: Any, graph: Any) -> dict[dg.AssetKey, set[str | None]]:
    found = {key: set(result.get_requested_partitions(key)) for key in keys_of(graph)}
    return {key: partitions for key, partitions in found.items() if partitions}


def with_code_version(graph: Any, key: dg.AssetKey, version: str) -> list[dg.AssetsDefinition]:
    """The same assets, ``key``'s code version changed: what a deploy of an edited model gives."""
    return [
        assets.map_asset_specs(
            lambda spec: spec.replace_attributes(code_version=version) if spec.key == key else spec
        )
        if key in assets.keys
        else assets
        for assets in graph.assets_defs
    ]


def test_every_dbt_asset_has_a_condition() -> None:
    graph = load().resolve_asset_graph()
    dbt_keys = {key for assets in automation.dbt_definitions() for key in assets.keys}
    for key in dbt_keys:
        assert graph.get(key).automation_condition is not None, key


def run_until_quiet(
    assets: list[dg.AssetsDefinition], instance: dg.DagsterInstance, graph: Any, cursor: Any
) -> list[dict[dg.AssetKey, set[str | None]]]:
    """Evaluate tick after tick, "running" what each tick requests (a materialization per
    requested partition), until a tick requests nothing; returns each tick's requests."""
    ticks = []
    for _ in range(20):
        result = dg.evaluate_automation_conditions(defs=assets, instance=instance, cursor=cursor)
        cursor = result.cursor
        wanted = requested(result, graph)
        if not wanted:
            return ticks
        ticks.append(wanted)
        for key, partitions in wanted.items():
            for partition in partitions:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(key, partition=partition)
                )
    raise AssertionError(f"automation never settles: {ticks}")


def each_once(
    ticks: list[dict[dg.AssetKey, set[str | None]]],
) -> dict[dg.AssetKey, set[str | None]]:
    """Every tick's requests together; an asset requested on two ticks fails the test."""
    merged: dict[dg.AssetKey, set[str | None]] = {}
    for tick in ticks:
        assert not set(tick) & set(merged), f"requested twice: {set(tick) & set(merged)}"
        merged.update(tick)
    return merged


def most_downstream(graph: Any) -> dg.AssetKey:
    """The automated asset with the most automated descendants (any one when none has one)."""
    keys = [key for key in keys_of(graph) if automated(graph, key)]
    assert keys
    return max(keys, key=lambda key: len(descendants(graph, key)))


def test_a_code_version_change_rebuilds_it_and_everything_downstream_once() -> None:
    graph = load().resolve_asset_graph()
    assets = list(graph.assets_defs)
    changed = most_downstream(graph)
    with dg.instance_for_test() as instance:
        materialize_everything(instance, graph)
        # Turning the sensor on requests nothing, nor does a quiet tick after it.
        first = dg.evaluate_automation_conditions(defs=assets, instance=instance)
        assert requested(first, graph) == {}
        assert run_until_quiet(assets, instance, graph, first.cursor) == []
        quiet = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, cursor=first.cursor
        )
        # The deploy: same graph, one code version changed.
        ticks = run_until_quiet(
            with_code_version(graph, changed, "edited"), instance, graph, quiet.cursor
        )
        assert changed in ticks[0]
        # Exactly the changed asset and its descendants, each once; partitioned ones, their
        # latest partition only.
        assert each_once(ticks) == {
            key: {latest(graph, key)} for key in {changed, *descendants(graph, changed)}
        }


def test_an_off_schedule_update_reaches_every_downstream_asset_once() -> None:
    graph = load().resolve_asset_graph()
    assets = list(graph.assets_defs)
    parent = most_downstream(graph)
    with dg.instance_for_test() as instance:
        materialize_everything(instance, graph)
        first = dg.evaluate_automation_conditions(defs=assets, instance=instance)
        # Materialized by hand (or by automation, or a backfill): no schedule ran it.
        instance.report_runless_asset_event(
            dg.AssetMaterialization(parent, partition=latest(graph, parent))
        )
        ticks = run_until_quiet(assets, instance, graph, first.cursor)
        assert each_once(ticks) == {key: {latest(graph, key)} for key in descendants(graph, parent)}


def test_freshness_checks_fail_when_an_asset_is_older_than_its_window(dbt_manifest: Any) -> None:
    manifest = json.loads(dbt_manifest.read_text())
    dbt_keys = {key for definition in automation.dbt_definitions() for key in definition.keys}
    windows = dict(automation.dbt_freshness_windows(manifest, dbt_keys))
    assert set(windows) <= dbt_keys
    # A probe with the marts' window, so that a project without marts proves the checks too.
    windows[dg.AssetKey("freshness_probe")] = MARTS_FRESHNESS
    checks = automation.window_freshness_checks(windows)
    assert {key.asset_key for check in checks for key in check.check_keys} == set(windows)
    now = datetime.datetime.now(datetime.UTC)
    for age, passes in ((datetime.timedelta(minutes=5), True), (MARTS_FRESHNESS * 2, False)):
        with dg.instance_for_test() as instance:
            with freeze_time(now - age):
                for key in windows:
                    instance.report_runless_asset_event(dg.AssetMaterialization(key))
            job = dg.Definitions(asset_checks=checks).resolve_implicit_global_asset_job_def()
            evaluations = job.execute_in_process(instance=instance).get_asset_check_evaluations()
            assert {e.asset_key: e.passed for e in evaluations} == dict.fromkeys(windows, passes)
            assert {e.severity for e in evaluations} == {dg.AssetCheckSeverity.ERROR}


def test_marts_and_meta_choose_freshness() -> None:
    assert freshness_for("staging", {}) is None
    assert freshness_for(MARTS_GROUP, {}) == MARTS_FRESHNESS
    hours = {"dagster": {"freshness_hours": 2}}
    assert freshness_for("staging", hours) == datetime.timedelta(hours=2)
    assert freshness_for(MARTS_GROUP, {"dagster": {"freshness_hours": 0}}) is None
    with pytest.raises(ValueError, match=r"^model\.p\.m: meta\.dagster\.freshness_hours is 'soon'"):
        freshness_for("x", {"dagster": {"freshness_hours": "soon"}}, "model.p.m")


def test_meta_chooses_the_automation_condition() -> None:
    model = {"unique_id": "model.p.m", "config": {"materialized": "table"}}
    incremental = {"unique_id": "model.p.i", "config": {"materialized": "incremental"}}

    def chosen(value: object, props: dict[str, Any] = model) -> Any:
        return automation_condition_for(props, {"dagster": {"automation_condition": value}})

    assert automation_condition_for(model, {}) == on_change()
    assert automation_condition_for(incremental, {}) == on_change(partitioned=True)
    assert chosen("none") is None
    assert chosen("eager") == dg.AutomationCondition.eager()
    assert chosen("on_cron: 0 6 * * *") == dg.AutomationCondition.on_cron("0 6 * * *")
    for bad in ("sometimes", "on_cron: every day"):
        with pytest.raises(ValueError, match=r"^model\.p\.m: meta\.dagster\.automation_condition"):
            chosen(bad)


def test_source_freshness_comes_from_dbt_s_config() -> None:
    def source(freshness: dict[str, Any]) -> dict[str, Any]:
        return {"unique_id": "source.p.s.t", "freshness": freshness}

    hours = {"count": 6, "period": "hour"}
    assert source_freshness(source({})) is None
    assert source_freshness(
        source({"warn_after": hours, "error_after": {"count": 1, "period": "day"}})
    ) == (
        datetime.timedelta(days=1),
        dg.AssetCheckSeverity.ERROR,
    )
    assert source_freshness(source({"warn_after": hours})) == (
        datetime.timedelta(hours=6),
        dg.AssetCheckSeverity.WARN,
    )
    with pytest.raises(ValueError, match=r"freshness\.error_after\.period is 'fortnight'"):
        source_freshness(source({"error_after": {"count": 1, "period": "fortnight"}}))
