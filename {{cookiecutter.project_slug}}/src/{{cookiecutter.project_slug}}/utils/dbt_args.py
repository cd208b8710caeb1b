"""Pure helpers building dbt command lines and selections: no I/O, each unit-tested.

The dbt definitions are split by how they run (regular models, daily-partitioned incremental
models, snapshots); the selections below are what splits them, and the argument builders turn a
Dagster partition time window into what each kind of incremental model expects.
"""

import json
import re
from collections.abc import Iterable
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

# The partition window in dbt's environment, read by macros/partition_window.sql.
PARTITION_START_ENV = "DAGSTER_PARTITION_START"
PARTITION_END_ENV = "DAGSTER_PARTITION_END"
# dagster-dbt's documented way: `var('start_date')`/`var('end_date')` in the model. Still handed to
# models that read it, though every new window then re-parses the whole project.
_WINDOW_VAR = re.compile(r"""\bvar\(\s*["'](start_date|end_date)["']""")

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


def partition_window_env(start: datetime, end: datetime) -> dict[str, str]:
    """The window as the environment of the run's dbt process: ``partition_start()`` and
    ``partition_end()`` read it. A new window re-parses only the files that read it."""
    window = incremental_window_vars(start, end)
    return {PARTITION_START_ENV: window["start_date"], PARTITION_END_ENV: window["end_date"]}


def reads_window_vars(sql_texts: Iterable[str]) -> bool:
    """Whether any of these models reads the window as ``var('start_date')``/``var('end_date')``."""
    return any(_WINDOW_VAR.search(sql) for sql in sql_texts)


def partitioned_build_args(start: datetime, end: datetime, window_vars: bool = False) -> list[str]:
    """One ``dbt build`` for a partition window, whatever the incremental strategy: microbatch
    models get it as ``--event-time-start/--event-time-end`` (dbt runs one batch per day; other
    models ignore these flags), the others from :func:`partition_window_env`, and as ``--vars
    '{start_date: ..., end_date: ...}'`` too when ``window_vars`` (a model reads them). One dbt
    process per run instead of one per strategy."""
    _check_window(start, end)
    window = ["--vars", json.dumps(incremental_window_vars(start, end), sort_keys=True)]
    return [
        "build",
        *(window if window_vars else []),
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
