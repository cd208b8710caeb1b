"""The pure helpers building dbt command lines."""

import json
from datetime import UTC, datetime

import pytest

from {{ cookiecutter.project_slug }}.utils import dbt_args

START = datetime(2025, 3, 4, tzinfo=UTC)
END = datetime(2025, 3, 5, tzinfo=UTC)


def test_partitioned_build_args_hand_the_window_to_both_kinds_of_incremental_model() -> None:
    args = dbt_args.partitioned_build_args(START, END)
    assert args[:2] == ["build", "--vars"]
    assert json.loads(args[2]) == {
        "start_date": "2025-03-04 00:00:00",
        "end_date": "2025-03-05 00:00:00",
    }
    assert args[3:] == [
        "--event-time-start",
        "2025-03-04T00:00:00",
        "--event-time-end",
        "2025-03-05T00:00:00",
    ]


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
