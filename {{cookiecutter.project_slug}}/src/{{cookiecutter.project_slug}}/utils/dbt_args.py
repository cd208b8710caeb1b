"""Pure helpers building dbt command lines and selections: no I/O, each unit-tested.

The dbt definitions are split by concern (regular models, incremental models, microbatch models,
snapshots); the selections below are what splits them, and the argument builders turn a Dagster
partition time window into what each kind of model expects.
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
# Incremental models other than microbatch ones (delete+insert, merge, append).
INCREMENTAL_SELECT = INCREMENTAL
INCREMENTAL_EXCLUDE = MICROBATCH
MICROBATCH_SELECT = MICROBATCH
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


def incremental_build_args(start: datetime, end: datetime) -> list[str]:
    """``dbt build --vars '{start_date: ..., end_date: ...}'`` for one partition window."""
    return ["build", "--vars", json.dumps(incremental_window_vars(start, end), sort_keys=True)]


def microbatch_build_args(start: datetime, end: datetime) -> list[str]:
    """``dbt build --event-time-start ... --event-time-end ...``: dbt runs one batch per day."""
    _check_window(start, end)
    return [
        "build",
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
