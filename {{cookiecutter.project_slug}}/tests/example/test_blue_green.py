"""Blue/green publishing, for real on DuckDB: marts reach green only after a run that all passed.

Marts build into ``analytics_blue``; ``on-run-end`` promotes them to ``analytics`` (green) only
when every node of the run succeeded or passed (dbt_project/macros/blue_green/).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }}.defs.dbt.models import build_dbt_models
from {{ cookiecutter.project_slug }}.resources import build_resources
from conftest import MaterializedWarehouse

# Constants, never interpolated from input.
GREEN = "select story_id, score, score_rank from analytics.story_rankings order by story_id"
BLUE = "select story_id, score, score_rank from analytics_blue.story_rankings order by story_id"
SCORE = "select score from hackernews.stories where id = ?"
SET_SCORE = "update hackernews.stories set score = ? where id = ?"


@pytest.fixture
def story(on_materialized: MaterializedWarehouse) -> Iterator[tuple[int, int]]:
    """(id, score) of one story; its raw score is restored afterwards."""
    (story_id,) = on_materialized.query("select min(story_id) from analytics.story_rankings")[0]
    (score,) = on_materialized.query(SCORE, story_id)[0]
    yield story_id, score
    on_materialized.query(SET_SCORE, score, story_id)


def build_models() -> dg.ExecuteInProcessResult:
    """``dbt build`` of the regular models (marts included), tests as checks, as a run does."""
    return dg.materialize([build_dbt_models()], resources=build_resources(), raise_on_error=False)


def failed_checks(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        evaluation.check_name
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
    }


def test_a_failing_test_leaves_green_exactly_as_before(
    on_materialized: MaterializedWarehouse, story: tuple[int, int]
) -> None:
    story_id, _ = story
    green_before = on_materialized.query(GREEN)
    on_materialized.query(SET_SCORE, -5, story_id)  # breaks the non_negative test on score

    result = build_models()

    assert not result.success
    assert "non_negative_story_rankings_score" in failed_checks(result)
    assert on_materialized.query(GREEN) == green_before
    # The run did build the bad table, into blue, where no consumer reads it.
    assert (story_id, -5) in [(row[0], row[1]) for row in on_materialized.query(BLUE)]


def test_a_clean_run_promotes_blue_to_green(
    on_materialized: MaterializedWarehouse, story: tuple[int, int]
) -> None:
    story_id, score = story
    on_materialized.query(SET_SCORE, score + 500, story_id)

    result = build_models()

    assert result.success, failed_checks(result)
    green: list[Any] = on_materialized.query(GREEN)
    assert green == on_materialized.query(BLUE)
    assert (story_id, score + 500) in [(row[0], row[1]) for row in green]
