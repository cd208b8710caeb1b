"""The whole local pipeline, for real, into a DuckDB file (what `make run` does and reports).

The session's materialized warehouse (conftest.py) is what ``make run``'s runs leave; this module
checks its tables and what ``make run`` reports about them.
"""

from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.project_slug }} import local_pipeline
from conftest import MaterializedWarehouse


@pytest.fixture
def pipeline_run(
    on_materialized: MaterializedWarehouse, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, Path]:
    """``make run``'s report on the session's runs; returns (exit code, output, file)."""
    capture = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: capture.append(" ".join(map(str, a))))
    code = local_pipeline.report(on_materialized.results)
    return code, "\n".join(capture), on_materialized.path


def test_pipeline_succeeds_and_reports(pipeline_run: tuple[int, str, Path]) -> None:
    code, output, path = pipeline_run
    assert code == 0, output
    assert "Local pipeline succeeded." in output
    assert str(path) in output


@pytest.mark.parametrize(
    "table",
    [
        "hackernews.items",
        "hackernews.comments",
        "hackernews.stories",
        "analytics.story_rankings",
        "analytics.author_activity",
    ],
)
def test_tables_have_rows(pipeline_run: tuple[int, str, Path], table: str) -> None:
    _, _, path = pipeline_run
    with duckdb.connect(str(path), read_only=True) as connection:
        (rows,) = connection.execute(f"select count(*) from {table}").fetchone()  # type: ignore[misc]  # noqa: S608
    assert rows > 0


def test_items_split_into_comments_and_stories(pipeline_run: tuple[int, str, Path]) -> None:
    _, _, path = pipeline_run
    with duckdb.connect(str(path), read_only=True) as connection:
        counts = dict(
            connection.execute("select type, count(*) from hackernews.items group by 1").fetchall()
        )
        (stories,) = connection.execute("select count(*) from hackernews.stories").fetchone()  # type: ignore[misc]
    assert counts["story"] == stories


def test_dev_window_limits_local_staging(pipeline_run: tuple[int, str, Path]) -> None:
    """Locally only the last dev_window_days of stories reach staging; raw keeps everything."""
    _, _, path = pipeline_run
    with duckdb.connect(str(path), read_only=True) as connection:
        (raw,) = connection.execute("select count(*) from hackernews.stories").fetchone()  # type: ignore[misc]
        (staged,) = connection.execute("select count(*) from staging.stg_stories").fetchone()  # type: ignore[misc]
    assert 0 < staged < raw
