"""Pure helpers building dbt command lines and selections: no I/O, each unit-tested.

The dbt definitions are split by how they run (regular models, daily-partitioned incremental
models, snapshots); the selections below are what splits them, and the argument builders turn a
Dagster partition time window into what each kind of incremental model expects.
"""

import json
from datetime import datetime

# First day of the daily partitions, and `begin` of every microbatch model: they must match.
PARTITIONS_START_DATE = "2025-01-01"

INCREMENTAL = "config.materialized:incremental"
MICROBATCH = "config.incremental_strategy:microbatch"
SNAPSHOTS = "resource_type:snapshot"
HOURLY_TESTS_TAG = "hourly_tests"

# Everything but incremental models (microbatch ones included) and snapshots.
REGULAR_SELECT = "fqn:*"
REGULAR_EXCLUDE = f"{INCREMENTAL} {SNAPSHOTS}"
# Every incremental model: microbatch ones and the others (delete+insert, merge, append).
INCREMENTAL_SELECT = INCREMENTAL
SNAPSHOTS_SELECT = SNAPSHOTS

_DBT_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"
_SQL_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


def _check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError(
            f"partition window: end {end.isoformat()} is not after start {start.isoformat()}"
        )


def incremental_window_vars(start: datetime, end: datetime) -> dict[str, str]:
    """``start_date``/``end_date`` the incremental models filter on inside ``is_incremental()``."""
    _check_window(start, end)
    return {"start_date": start.strftime(_SQL_TIMESTAMP), "end_date": end.strftime(_SQL_TIMESTAMP)}


def partitioned_build_args(start: datetime, end: datetime) -> list[str]:
    """One ``dbt build`` for a partition window, whatever the incremental strategy: the window as
    ``--vars '{start_date: ..., end_date: ...}'`` for the models that filter on it, and as
    ``--event-time-start/--event-time-end`` for microbatch models (dbt runs one batch per day;
    other models ignore these flags). One dbt process per run instead of one per strategy."""
    _check_window(start, end)
    return [
        "build",
        "--vars",
        json.dumps(incremental_window_vars(start, end), sort_keys=True),
        "--event-time-start",
        start.strftime(_DBT_TIMESTAMP),
        "--event-time-end",
        end.strftime(_DBT_TIMESTAMP),
    ]


def regular_build_args() -> list[str]:
    return ["build"]


def snapshot_args() -> list[str]:
    return ["snapshot"]


def hourly_test_args(tag: str = HOURLY_TESTS_TAG) -> list[str]:
    """``dbt test --select tag:<tag>`` (source tests included: they are not assets)."""
    if not tag or not tag.replace("_", "").isalnum():
        raise ValueError(f"dbt test tag: {tag!r} must be letters, digits and '_'")
    return ["test", "--select", f"tag:{tag}"]
