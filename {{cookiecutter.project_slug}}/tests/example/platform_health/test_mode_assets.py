"""The platform-health assets against a Mode stand-in (modelled on Mode's API docs, as in
test_mode.py) on a copy of the session's warehouse: exact edges, stale and unused sets, archiving
only when enabled, clear failures. Removed with Mode (bi_tool other than mode).
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from stand_ins import Reply, StandIn, closed_port_url, serve
from test_assets import PREFIX, model, run_platform_health, warehouse_copy

from conftest import MaterializedWarehouse

__all__ = ["warehouse_copy"]  # the fixture, shared with test_assets.py


API = "/api/acme"
NOW = datetime.now(UTC)


def mode_report(token: str, last_run_days: int | None, runs: int, views: int) -> dict[str, Any]:
    last_run = (
        (NOW - timedelta(days=last_run_days)).isoformat() if last_run_days is not None else None
    )
    return {
        "token": token,
        "name": f"Report {token}",
        "created_at": (NOW - timedelta(days=400)).isoformat(),
        "updated_at": (NOW - timedelta(days=300)).isoformat(),
        "last_run_at": last_run,
        "runs_count": runs,
        "view_count": views,
        "archived": False,
        "_links": {},
    }


SQL = {
    "fresh": "select title, score from analytics.story_rankings order by score desc limit 10",
    "stale": "select * from intermediate.int_comments c join staging.stg_comments s using (comment_id)",
    "broken": "select * form where",
}


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    reports = [
        mode_report("fresh", 2, 40, 80),
        mode_report("stale", 200, 30, 30),
        mode_report("broken", 1, 10, 10),
    ]
    routes: dict[tuple[str, str], Any] = {
        ("GET", f"{API}/spaces"): lambda _r: Reply(
            body={"_embedded": {"spaces": [{"token": "s"}]}}
        ),
        ("GET", f"{API}/spaces/s/reports"): lambda _r: Reply(
            body={"_embedded": {"reports": reports}}
        ),
        ("PATCH", f"{API}/reports/stale/archive"): lambda _r: Reply(
            body={**reports[1], "archived": True}
        ),
    }
    for token, sql in SQL.items():
        routes[("GET", f"{API}/reports/{token}/queries")] = lambda _r, s=sql, t=token: Reply(
            body={"_embedded": {"queries": [{"token": f"{t}-q", "raw_query": s}]}}
        )
    with serve(routes) as stand_in:
        monkeypatch.setenv("MODE_WORKSPACE", "acme")
        monkeypatch.setenv("MODE_API_TOKEN", "token")
        monkeypatch.setenv("MODE_API_SECRET", "secret")
        monkeypatch.setenv("MODE_URL", stand_in.url)
        yield stand_in


def archive_calls(stand_in: StandIn) -> list[str]:
    return [r.path for r in stand_in.requests if r.method == "PATCH"]


def test_mode_reports_join_the_graph_and_stale_ones_are_only_listed(
    warehouse_copy: MaterializedWarehouse, mode: StandIn
) -> None:
    result = run_platform_health("mode")
    assert result.success
    query = warehouse_copy.query
    edges = query(
        "select node_id, upstream from platform_health.platform_graph where tool = 'mode' order by 1"
    )
    assert [(node, json.loads(upstream)) for node, upstream in edges] == [
        ("mode:report:broken", []),
        ("mode:report:fresh", [model("story_rankings")]),
        ("mode:report:stale", [model("int_comments"), model("stg_comments")]),
    ]
    (unparsed,) = query(
        "select unparsed_sql from platform_health.platform_graph where node_id = 'mode:report:broken'"
    )[0]
    assert [u["query"] for u in json.loads(unparsed)] == ["mode:report:broken:query:broken-q"]
    assert query("select node_id, action from platform_health.stale_reports") == [
        ("mode:report:stale", "dry run: would archive (enable config archive)")
    ]
    (reason,) = query("select reason from platform_health.stale_reports")[0]
    assert reason.startswith("not run in 200 days")
    # int_comments has a (stale) consumer now: not unused, but flagged.
    assert query("select unique_id, status from platform_health.unused_models") == [
        (model("int_comments"), "only stale consumers")
    ]
    assert archive_calls(mode) == []


def test_archiving_happens_only_when_enabled_and_within_the_limit(
    warehouse_copy: MaterializedWarehouse, mode: StandIn
) -> None:
    stale_config = f"{'__'.join(PREFIX)}__stale_reports"
    refused = run_platform_health(
        "mode", {"ops": {stale_config: {"config": {"archive": True, "max_archived": 0}}}}
    )
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "exceed max_archived=0; nothing was archived" in str(failure.event_specific_data)
    assert archive_calls(mode) == []

    archived = run_platform_health("mode", {"ops": {stale_config: {"config": {"archive": True}}}})
    assert archived.success
    assert archive_calls(mode) == [f"{API}/reports/stale/archive"]
    assert warehouse_copy.query("select node_id, action from platform_health.stale_reports") == [
        ("mode:report:stale", "archived")
    ]


def test_bi_tool_down_fails_clearly_and_changes_nothing(
    warehouse_copy: MaterializedWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = warehouse_copy.query("select count(*) from platform_health.platform_graph")
    url = closed_port_url()
    for name, value in {
        "MODE_WORKSPACE": "acme",
        "MODE_API_TOKEN": "t",
        "MODE_API_SECRET": "s",
        "MODE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    result = run_platform_health("mode")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key.endswith("platform_graph")
    assert f"platform_graph: mode at {url}/ is unreachable" in str(failure.event_specific_data)
    assert not any(
        e.is_step_success for e in result.all_events if e.step_key and "stale" in e.step_key
    )
    assert warehouse_copy.query("select count(*) from platform_health.platform_graph") == before


def test_duckdb_file_is_left_closed(warehouse_copy: MaterializedWarehouse, mode: StandIn) -> None:
    assert run_platform_health("mode").success
    with duckdb.connect(str(warehouse_copy.path), read_only=True) as connection:
        assert connection.execute(
            "select count(*) from platform_health.model_count_history"
        ).fetchone()
