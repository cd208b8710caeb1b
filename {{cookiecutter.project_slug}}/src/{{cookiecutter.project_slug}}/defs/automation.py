"""The automation sensor and freshness checks (rules in utils/automation.py, docs/automation.md).

- ``automation_sensor`` evaluates every asset's automation condition. It runs by default in
  production only; in branch deployments and locally it is defined but stopped (a branch
  deployment would otherwise rebuild its whole clone as soon as it loads, as every asset's code
  version is new to it; turn it on there by hand to try automation out).
- Freshness: every dbt asset with a freshness window (the marts: utils/automation.py) and every
  dbt source with a ``freshness:`` config (``_sources.yml``) gets a last-update freshness check;
  ``freshness_checks_sensor`` runs them (on in production, stopped elsewhere).
"""

import contextlib
import warnings
from collections import defaultdict
from collections.abc import Iterator, Mapping, Set
from datetime import timedelta
from typing import Any

import dagster as dg

from ..utils.automation import freshness_for, source_freshness
from ..utils.dbt_translator import asset_key_for, group_for, node_meta, parse_default_database
from ..utils.environment import Environment, get_environment
from .dbt.common import load_manifest, present
from .dbt.models import regular_dbt_definitions
from .dbt.partitioned import build_partitioned_models
from .dbt.snapshots import build_dbt_snapshots

AUTOMATION_SENSOR = "automation_sensor"
FRESHNESS_SENSOR = "freshness_checks_sensor"


@contextlib.contextmanager
def not_superseded() -> Iterator[None]:
    """Dagster 1.13 calls freshness checks "superseded" by FreshnessPolicy, which costs far more
    at load (docs/automation.md); the checks fail visibly in every deployment."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        yield


def dbt_freshness_windows(
    manifest: Mapping[str, Any], keys: Set[dg.AssetKey]
) -> dict[dg.AssetKey, timedelta]:
    """The freshness window of every dbt asset among ``keys`` that has one: the marts, and any
    model setting ``meta.dagster.freshness_hours`` (utils/automation.py)."""
    default_database = parse_default_database(manifest)
    windows: dict[dg.AssetKey, timedelta] = {}
    for unique_id, props in manifest.get("nodes", {}).items():
        if props.get("resource_type") not in ("model", "snapshot", "seed"):
            continue
        meta = node_meta(props)
        window = freshness_for(group_for(props, meta), meta, unique_id)
        key = asset_key_for(props, default_database)
        if window is not None and key in keys:
            windows[key] = window
    return windows


def window_freshness_checks(
    windows: Mapping[dg.AssetKey, timedelta],
) -> list[dg.AssetChecksDefinition]:
    """A last-update check per asset, failing once the asset has not been updated for longer
    than its window (one check definition per distinct window)."""
    by_window: dict[timedelta, list[dg.AssetKey]] = defaultdict(list)
    for key, window in windows.items():
        by_window[window].append(key)
    with not_superseded():
        return [
            check
            for window, keys in sorted(by_window.items())
            for check in dg.build_last_update_freshness_checks(
                assets=sorted(keys, key=str),
                lower_bound_delta=window,
                severity=dg.AssetCheckSeverity.ERROR,
            )
        ]


def source_freshness_checks(manifest: Mapping[str, Any]) -> list[dg.AssetChecksDefinition]:
    """A last-update check per dbt source with a ``freshness:`` config, on the source's asset
    (the ingestion asset writing that table): ``error_after`` fails it, ``warn_after`` warns."""
    default_database = parse_default_database(manifest)
    grouped: dict[tuple[timedelta, dg.AssetCheckSeverity], set[dg.AssetKey]] = defaultdict(set)
    for props in manifest.get("sources", {}).values():
        freshness = source_freshness(props)
        if freshness is not None:
            grouped[freshness].add(asset_key_for(props, default_database))
    with not_superseded():
        return [
            check
            for (window, severity), keys in sorted(grouped.items(), key=str)
            for check in dg.build_last_update_freshness_checks(
                assets=sorted(keys, key=str), lower_bound_delta=window, severity=severity
            )
        ]


def dbt_definitions() -> list[dg.AssetsDefinition]:
    """Every dbt definition this project has (built once, shared with defs/dbt)."""
    return [
        *regular_dbt_definitions(),
        *present(build_partitioned_models(), build_dbt_snapshots()),
    ]


@dg.definitions
def defs() -> dg.Definitions:
    production = get_environment() is Environment.PROD
    status = dg.DefaultSensorStatus.RUNNING if production else dg.DefaultSensorStatus.STOPPED
    manifest = load_manifest()
    dbt_keys = {key for definition in dbt_definitions() for key in definition.keys}
    checks = [
        *window_freshness_checks(dbt_freshness_windows(manifest, dbt_keys)),
        *source_freshness_checks(manifest),
    ]
    with not_superseded():
        freshness_sensor = (
            dg.build_sensor_for_freshness_checks(
                freshness_checks=checks, name=FRESHNESS_SENSOR, default_status=status
            )
            if checks
            else None
        )
    sensors: list[dg.SensorDefinition] = [
        dg.AutomationConditionSensorDefinition(
            AUTOMATION_SENSOR,
            target=dg.AssetSelection.all(),
            default_status=status,
            description="Materializes what a deploy or an off-schedule run changed (docs/automation.md).",
        )
    ]
    if freshness_sensor is not None:
        sensors.append(freshness_sensor)
    return dg.Definitions(asset_checks=checks, sensors=sensors)
