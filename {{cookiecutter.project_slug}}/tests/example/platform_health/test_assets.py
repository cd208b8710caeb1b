"""The platform-health assets for real, in `make run` on DuckDB with no BI tool configured: exact
findings, charts, dry-run proposals. The helpers at the end run them alone on a copy of that
warehouse, for the BI tools' own tests (test_mode_assets.py against a Mode stand-in).
"""

import base64
import functools
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.platform_health.assets import PLATFORM_HEALTH_ASSETS
from {{ cookiecutter.project_slug }}.defs.platform_health.io_managers import (
    IO_MANAGER_KEY,
    build_io_manager,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.charts import PNG_SIGNATURE
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BIError
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


@functools.cache
def configured_resource() -> PlatformHealthResource:
    """The resource as the component (defs.yaml) configures it: the definitions built once."""
    configured = defs().resources["platform_health"]
    assert isinstance(configured, PlatformHealthResource)
    return configured


def with_bi_tool(bi_tool: str) -> PlatformHealthResource:
    """The configured resource, reading another BI tool."""
    return PlatformHealthResource(bi_tool=bi_tool, ci_provider=configured_resource().ci_provider)


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


# --- runs of the platform-health assets alone, on a copy of that warehouse ----------------------


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


def test_a_bi_tool_not_in_the_project_says_how_to_add_it() -> None:
    absent = "{{ 'mode' if cookiecutter.bi_tool != 'mode' else 'superset' }}"
    with pytest.raises(BIError, match=rf"^bi_tool: '{absent}' is not in this project; add it with"):
        with_bi_tool(absent).bi_adapter()
{%- if cookiecutter.bi_tool != "none" %}


# --- this project's BI tool, unconfigured ----------------------------------------------------------

BI_TOOL = "{{ cookiecutter.bi_tool }}"
FIRST_VARIABLE = "{{ {'superset': 'SUPERSET_URL', 'mode': 'MODE_WORKSPACE'}[cookiecutter.bi_tool] }}"


def test_unconfigured_bi_tool_locally_means_exposures_only(
    warehouse_copy: MaterializedWarehouse,
) -> None:
    """`make run` needs no BI credentials, whatever the project's BI tool."""
    result = run_platform_health(BI_TOOL)
    assert result.success
    (graph,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == key("platform_graph")
    ]
    assert graph.metadata["bi_tool"].value.startswith(f"none ({FIRST_VARIABLE} is not set")
    assert warehouse_copy.query(
        "select count(*) from platform_health.platform_graph where tool != 'dbt'"
    ) == [(0,)]


def test_unconfigured_bi_tool_in_production_names_the_variable(prod_environment: str) -> None:
    from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BINotConfiguredError

    with pytest.raises(
        BINotConfiguredError, match=rf"^{FIRST_VARIABLE} is not set: platform health"
    ):
        with_bi_tool(BI_TOOL).bi_adapter()
{%- endif %}
