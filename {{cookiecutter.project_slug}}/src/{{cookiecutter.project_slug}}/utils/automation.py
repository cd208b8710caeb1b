"""Declarative automation and freshness: which condition each asset gets, how fresh
each must be.

The rule that keeps automation and schedules from running the same thing twice (docs/automation.md):
**schedules own the clock, automation owns change.** The schedules (daily partitions with
ingestion, the daily regular models and snapshots, hourly tests) keep producing each day's data.
The automation sensor materializes an asset only when

- its code version changed (a deploy changed its SQL or a macro it uses: utils/code_versions.py),
- it is unpartitioned and became missing (a model added by a merge, a table dropped), or
- one of its upstream assets was updated by any run that is **not** a scheduled one (a rebuild by
  automation after a code change, a hand-run materialization or a backfill): the change reaches
  every downstream asset. An update made by a scheduled run is left to the schedules, which
  already cover the downstream assets on their own clock.

Partitioned assets only ever get their latest partition requested, and never because a new
partition appeared (the daily schedule owns new partitions). Nothing is requested on the
sensor's first evaluation of an asset, so turning the sensor on starts no storm of runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import dagster as dg

SCHEDULE_NAME_TAG = "dagster/schedule_name"
# Daily schedules run at 01:00 and 02:00 UTC: a mart is late when a day and two hours passed.
MARTS_GROUP = "marts"
MARTS_FRESHNESS = timedelta(hours=26)
# meta.dagster.automation_condition values a dbt node may set, besides the default.
AUTOMATION_CHOICES = ("changes", "eager", "on_missing", "none", "on_cron: <cron>")


def upstream_changed_off_schedule() -> dg.AutomationCondition[Any]:
    """An upstream asset was updated by a run no schedule launched (or is requested this tick)."""
    updated = (
        dg.AutomationCondition.newly_updated()
        & ~dg.AutomationCondition.executed_with_root_target()
        & ~dg.AutomationCondition.all_new_updates_have_run_tags(tag_keys={SCHEDULE_NAME_TAG})
    ).with_label("updated_off_schedule")
    return dg.AutomationCondition.any_deps_match(
        updated | dg.AutomationCondition.will_be_requested()
    ).with_label("upstream_changed_off_schedule")


@functools.cache
def on_change(partitioned: bool = False) -> dg.AutomationCondition[Any]:
    """The project's default condition (see the module's docstring); one immutable object per
    kind, shared by every asset (10,000 models build it twice, not 10,000 times)."""
    trigger: dg.AutomationCondition[Any] = (
        dg.AutomationCondition.code_version_changed() | upstream_changed_off_schedule()
    )
    if not partitioned:
        trigger = dg.AutomationCondition.newly_missing() | trigger
    return (
        dg.AutomationCondition.in_latest_time_window()
        & trigger.since_last_handled()
        # Only deps Dagster can materialize: a source no Dagster asset loads (external) has no
        # materialization and would otherwise hold everything downstream of it for ever.
        & ~dg.AutomationCondition.any_deps_missing().allow(dg.AssetSelection.all())
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("on_change" + ("_latest_partition" if partitioned else ""))


def automation_condition_for(
    props: Mapping[str, Any], meta: Mapping[str, Any]
) -> dg.AutomationCondition[Any] | None:
    """``meta.dagster.automation_condition`` of a dbt node if set, else :func:`on_change`
    (incremental models are the daily-partitioned ones)."""
    chosen = (meta.get("dagster") or {}).get("automation_condition")
    partitioned = (props.get("config") or {}).get("materialized") == "incremental"
    if chosen is None or chosen == "changes":
        return on_change(partitioned)
    text = str(chosen).strip()
    if text == "none":
        return None
    if text == "eager":
        return dg.AutomationCondition.eager()
    if text == "on_missing":
        return dg.AutomationCondition.on_missing()
    problem = ValueError(
        f"{props.get('unique_id')}: meta.dagster.automation_condition is {chosen!r}; "
        f"allowed: {', '.join(AUTOMATION_CHOICES)}"
    )
    name, colon, cron = text.partition(":")
    if not colon or name.strip() != "on_cron":
        raise problem
    try:
        return dg.AutomationCondition.on_cron(cron.strip())
    except Exception as error:  # Dagster's own check of the cron string
        raise problem from error


def freshness_for(group: str, meta: Mapping[str, Any], unique_id: str = "?") -> timedelta | None:
    """How long a dbt asset may go without an update: ``meta.dagster.freshness_hours`` if set
    (0: no limit), else 26 hours for the marts, else no limit."""
    hours = (meta.get("dagster") or {}).get("freshness_hours")
    if hours is None:
        return MARTS_FRESHNESS if group == MARTS_GROUP else None
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
        raise ValueError(
            f"{unique_id}: meta.dagster.freshness_hours is {hours!r}; "
            "allowed: a number of hours (0 for no limit)"
        )
    return timedelta(hours=hours) if hours else None


PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def source_freshness(props: Mapping[str, Any]) -> tuple[timedelta, dg.AssetCheckSeverity] | None:
    """A dbt source's ``freshness:`` as a window and severity: ``error_after`` (ERROR), else
    ``warn_after`` (WARN); None when the source sets neither."""
    freshness = props.get("freshness") or (props.get("config") or {}).get("freshness") or {}
    for field, severity in (
        ("error_after", dg.AssetCheckSeverity.ERROR),
        ("warn_after", dg.AssetCheckSeverity.WARN),
    ):
        after = freshness.get(field) or {}
        if after.get("count") and after.get("period"):
            period = PERIODS.get(str(after["period"]))
            if period is None:
                raise ValueError(
                    f"{props.get('unique_id')}: freshness.{field}.period is {after['period']!r}; "
                    f"allowed: {', '.join(PERIODS)}"
                )
            return int(after["count"]) * period, severity
    return None
