"""The platform-health assets for real: in `make run` on DuckDB with no BI tool, then against a
Mode stand-in (modelled on Mode's API docs, as in test_mode.py) on a copy of that warehouse:
exact edges, stale and unused sets, archiving only when enabled, and clear failures."""

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from stand_ins import Reply, StandIn, closed_port_url, serve

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.platform_health.assets import PLATFORM_HEALTH_ASSETS
from {{ cookiecutter.project_slug }}.defs.platform_health.io_managers import (
    IO_MANAGER_KEY,
    build_io_manager,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.charts import PNG_SIGNATURE
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BINotConfiguredError
from {{ cookiecutter.project_slug }}.defs.platform_health.resources import PlatformHealthResource
from {{ cookiecutter.project_slug }}.resources import build_resources
from conftest import MaterializedWarehouse

PROJECT = "{{ cookiecutter.project_slug }}"
PREFIX = [settings.PRODUCTION_DATABASE.lower(), "platform_health"]


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey([*PREFIX, name])


def model(name: str) -> str:
    return f"model.{PROJECT}.{name}"


def materialization(results: list[dg.ExecuteInProcessResult], name: str) -> Any:
    (found,) = [
        e.materialization
        for result in results
        for e in result.get_asset_materialization_events()
        if e.asset_key == key(name)
    ]
    return found


def with_bi_tool(bi_tool: str) -> PlatformHealthResource:
    """The resource as the component (defs.yaml) configures it, reading another BI tool."""
    configured = defs().resources["platform_health"]
    assert isinstance(configured, PlatformHealthResource)
    return PlatformHealthResource(bi_tool=bi_tool, ci_provider=configured.ci_provider)


def png_in(markdown: str) -> bytes:
    prefix = "data:image/png;base64,"
    return base64.b64decode(markdown.split(prefix, 1)[1].rstrip(")"))


# --- make run, no BI tool ------------------------------------------------------------------------


def test_make_run_builds_every_platform_health_asset(
    on_materialized: MaterializedWarehouse,
) -> None:
    done = {
        e.asset_key for r in on_materialized.results for e in r.get_asset_materialization_events()
    }
    assert {key(a.key.path[-1]) for a in PLATFORM_HEALTH_ASSETS} <= done
    # They run last, in a run of their own, after everything they report on.
    assert on_materialized.results[-1].dagster_run.job_name == "local_last"


def test_findings_on_the_example_project(on_materialized: MaterializedWarehouse) -> None:
    query = on_materialized.query
    nodes = query("select kind, count(*) from platform_health.platform_graph group by 1 order by 1")
    assert nodes == [("exposure", 2), ("model", 6), ("snapshot", 1), ("source", 3)]
    assert query("select unique_id, status from platform_health.unused_models") == [
        (model("int_comments"), "unused")
    ]
    ((seconds, rows),) = query("select build_seconds, rows from platform_health.unused_models")
    (built,) = query("select count(*) from intermediate.int_comments")[0]
    assert seconds > 0 and rows == built
    assert query("select count(*) from platform_health.stale_reports") == [(0,)]
    assert query("select count(*) from platform_health.model_importance") == [(12,)]
    history = query(
        "select models, exposures, bi_objects, unused_models from platform_health.model_count_history"
    )
    assert history[-1] == (6, 2, 0, 1)


def test_charts_are_pngs_in_the_metadata(on_materialized: MaterializedWarehouse) -> None:
    for name in ("model_importance", "model_count_history"):
        chart = materialization(on_materialized.results, name).metadata["chart"].value
        assert chart.startswith("![")
        assert png_in(chart).startswith(PNG_SIGNATURE), name


def test_proposals_without_a_token_are_dry_runs(on_materialized: MaterializedWarehouse) -> None:
    exposures = materialization(on_materialized.results, "exposures_change_request").metadata
    assert exposures["action"].value == "nothing to propose"  # no BI tool: nothing generated
    removal = materialization(on_materialized.results, "unused_models_change_request").metadata
    assert removal["action"].value == "dry run: no code host token set"
    assert removal["files"].value == {
        "models/intermediate/_intermediate.yml": "write",
        "models/intermediate/int_comments.sql": "delete",
    }


def test_definitions_load_with_no_credentials_and_schedule_weekly() -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assert {a.key for a in PLATFORM_HEALTH_ASSETS} <= set(graph.get_all_asset_keys())
    schedule = definitions.resolve_schedule_def("platform_health_weekly_schedule")
    assert schedule.cron_schedule == "0 6 * * 1"
    assert schedule.job.name == "platform_health_job"


# --- against a Mode stand-in ---------------------------------------------------------------------

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


@pytest.fixture
def warehouse_copy(
    materialized: MaterializedWarehouse, local_environment: Path
) -> MaterializedWarehouse:
    """A copy of the session's warehouse (LOCAL_DUCKDB_PATH points at it): these runs change it."""
    shutil.copy(materialized.path, local_environment)
    return MaterializedWarehouse(local_environment, [])


def run_platform_health(
    bi_tool: str, run_config: dict[str, Any] | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        PLATFORM_HEALTH_ASSETS,
        resources={
            **build_resources(),
            "platform_health": with_bi_tool(bi_tool),
            IO_MANAGER_KEY: build_io_manager(),
        },
        run_config=run_config,
        raise_on_error=False,
    )


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


def test_unconfigured_bi_tool_locally_means_exposures_only(
    warehouse_copy: MaterializedWarehouse,
) -> None:
    """`make run` needs no BI credentials, whatever the project's BI tool."""
    result = run_platform_health("superset")
    assert result.success
    (graph,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == key("platform_graph")
    ]
    assert graph.metadata["bi_tool"].value.startswith("none (SUPERSET_URL is not set")
    assert warehouse_copy.query(
        "select count(*) from platform_health.platform_graph where tool != 'dbt'"
    ) == [(0,)]


def test_unconfigured_bi_tool_in_production_names_the_variable(prod_environment: str) -> None:
    with pytest.raises(BINotConfiguredError, match=r"^SUPERSET_URL is not set: platform health"):
        with_bi_tool("superset").bi_adapter()


def test_duckdb_file_is_left_closed(warehouse_copy: MaterializedWarehouse, mode: StandIn) -> None:
    assert run_platform_health("mode").success
    with duckdb.connect(str(warehouse_copy.path), read_only=True) as connection:
        assert connection.execute(
            "select count(*) from platform_health.model_count_history"
        ).fetchone()
