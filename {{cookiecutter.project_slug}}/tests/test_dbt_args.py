"""The pure helpers building dbt command lines."""

import json
from datetime import UTC, datetime

import pytest

from {{ cookiecutter.project_slug }}.utils import dbt_args

START = datetime(2025, 3, 4, tzinfo=UTC)
END = datetime(2025, 3, 5, tzinfo=UTC)


EVENT_TIME = [
    "--event-time-start",
    "2025-03-04T00:00:00",
    "--event-time-end",
    "2025-03-05T00:00:00",
]


def test_the_window_reaches_incremental_models_through_the_environment() -> None:
    assert dbt_args.partitioned_build_args(START, END) == ["build", *EVENT_TIME]
    assert dbt_args.partition_window_env(START, END) == {
        "DAGSTER_PARTITION_START": "2025-03-04 00:00:00",
        "DAGSTER_PARTITION_END": "2025-03-05 00:00:00",
    }


def test_models_reading_the_window_vars_get_them_as_vars_too() -> None:
    args = dbt_args.partitioned_build_args(START, END, window_vars=True)
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {
        "start_date": "2025-03-04 00:00:00",
        "end_date": "2025-03-05 00:00:00",
    }
    assert args[3:] == EVENT_TIME


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        # The Jinja of a dbt model, without its braces (this file is a Cookiecutter template).
        ("where d >= 'var(\"start_date\")'", True),
        ("if var( 'end_date' , none)", True),
        ("where d >= 'partition_start()'", False),
        ("var('start_date_override') my_var('start_date')", False),
    ],
)
def test_reads_window_vars(sql: str, reads: bool) -> None:
    assert dbt_args.reads_window_vars(["select 1", sql]) is reads


@pytest.mark.parametrize("start, end", [(END, START), (START, START)])
def test_empty_or_reversed_windows_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="partition window: end"):
        dbt_args.partitioned_build_args(start, end)


def test_regular_snapshot_and_hourly_test_args() -> None:
    assert dbt_args.regular_build_args() == ["build"]
    assert dbt_args.snapshot_args() == ["snapshot"]
    assert dbt_args.hourly_test_args() == ["test", "--select", "tag:hourly_tests"]


def test_hourly_test_args_refuse_a_selector_injection() -> None:
    with pytest.raises(ValueError, match="dbt test tag"):
        dbt_args.hourly_test_args("x --full-refresh")


def test_selections_split_models_by_concern() -> None:
    assert dbt_args.REGULAR_EXCLUDE == "config.materialized:incremental resource_type:snapshot"
    assert dbt_args.INCREMENTAL_SELECT == "config.materialized:incremental"
