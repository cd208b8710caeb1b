"""The platform graph on the example's real manifest plus BI objects: exact edges, consumers,
unused models, staleness, importance, and storage as one table."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.graph import (
    build_platform_graph,
    consumers,
    dbt_locations,
    from_frame,
    manifest_databases,
    to_frame,
    unused_models,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.importance import importance_frame
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BIObject, BIQuery
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.sql import RelationIndex
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.staleness import (
    StalenessRules,
    staleness_reason,
)

PROJECT = "{{ cookiecutter.project_slug }}"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def model(name: str) -> str:
    return f"model.{PROJECT}.{name}"


def days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(dbt_manifest.read_text())
    return loaded


@pytest.fixture(scope="module")
def index(manifest: dict[str, Any]) -> RelationIndex:
    return RelationIndex(
        dbt_locations(manifest),
        manifest_databases(manifest) | {settings.PRODUCTION_DATABASE},
        "duckdb",
        settings.DBT_DEFAULT_SCHEMA,
    )


# A small BI tool: a physical dataset on story_rankings, a virtual one on two models, a chart on
# each, a dashboard holding both charts, a saved query on a staging model, an archived report on
# int_comments and a query that does not parse.
OBJECTS = [
    BIObject("bi:dataset:1", "bi", "dataset", "rankings", tables=("analytics.story_rankings",)),
    BIObject(
        "bi:dataset:2",
        "bi",
        "dataset",
        "authors",
        queries=(
            BIQuery(
                "bi:dataset:2",
                "with a as (select * from analytics.author_activity) "
                "select * from a join stg_stories using (author)",
                "staging",
            ),
        ),
    ),
    BIObject("bi:chart:1", "bi", "chart", "Top", reads_from=("bi:dataset:1",)),
    BIObject("bi:chart:2", "bi", "chart", "Authors", reads_from=("bi:dataset:2",)),
    BIObject(
        "bi:dashboard:1",
        "bi",
        "dashboard",
        "Front",
        reads_from=("bi:chart:1", "bi:chart:2"),
        changed_at=days_ago(300),
        last_run_at=days_ago(2),
        run_count=40,
        view_count=40,
    ),
    BIObject(
        "bi:saved_query:1",
        "bi",
        "saved_query",
        "Comments",
        queries=(BIQuery("bi:saved_query:1", "select count(*) from staging.stg_comments"),),
        changed_at=days_ago(90),
        run_count=1,
        view_count=1,
        last_run_at=days_ago(80),
    ),
    BIObject(
        "bi:report:old",
        "bi",
        "report",
        "Old",
        archived=True,
        queries=(BIQuery("bi:report:old:q", "select * from intermediate.int_comments"),),
    ),
    BIObject(
        "bi:report:broken",
        "bi",
        "report",
        "Broken",
        queries=(BIQuery("bi:report:broken:q", "selec * form analytics.story_rankings"),),
    ),
]


@pytest.fixture(scope="module")
def platform(manifest: dict[str, Any], index: RelationIndex) -> Any:
    return build_platform_graph(manifest, OBJECTS, index)


def test_edges_join_bi_objects_to_the_dbt_nodes_their_sql_reads(platform: Any) -> None:
    assert platform.bi_edges() == [
        (model("author_activity"), "bi:dataset:2"),
        (model("int_comments"), "bi:report:old"),
        (model("stg_comments"), "bi:saved_query:1"),
        (model("stg_stories"), "bi:dataset:2"),
        (model("story_rankings"), "bi:dataset:1"),
    ]
    graph = platform.graph
    assert set(graph.predecessors("bi:dashboard:1")) == {"bi:chart:1", "bi:chart:2"}
    assert list(graph.predecessors("bi:chart:1")) == ["bi:dataset:1"]
    # dbt's own lineage is there too (models, sources, snapshot, exposures; no tests).
    assert set(graph.predecessors(model("story_rankings"))) == {
        model("stg_stories"),
        model("stg_comments"),
    }
    assert f"snapshot.{PROJECT}.story_scores" in graph.successors(model("stg_stories"))
    assert not any(node.startswith("test.") for node in graph.nodes)


def test_unparsed_queries_are_recorded_not_guessed(platform: Any) -> None:
    assert [(node, query) for node, query, _ in platform.unparsed] == [
        ("bi:report:broken", "bi:report:broken:q")
    ]
    assert "not valid duckdb SQL" in platform.unparsed[0][2]
    assert list(platform.graph.predecessors("bi:report:broken")) == []


def test_consumers_are_exposures_snapshots_and_live_bi_objects(platform: Any) -> None:
    found = consumers(platform.graph)
    assert f"exposure.{PROJECT}.front_page_dashboard" in found
    assert f"snapshot.{PROJECT}.story_scores" in found
    assert "bi:dashboard:1" in found
    assert "bi:report:old" not in found  # archived


def test_unused_models_are_exact(
    manifest: dict[str, Any], index: RelationIndex, platform: Any
) -> None:
    # int_comments is read only by an archived report; int_stories is kept by its meta.
    assert unused_models(platform.graph) == [model("int_comments")]
    without_bi = build_platform_graph(manifest, [], index)
    assert unused_models(without_bi.graph) == [model("int_comments")]
    # Ignoring the exposures' consumers, the marts and what only they read become unused too.
    exposures = [n for n in without_bi.graph if n.startswith("exposure.")]
    assert unused_models(without_bi.graph, exposures) == [
        model("author_activity"),
        model("int_comments"),
        model("stg_comments"),
        model("story_rankings"),
    ]


def test_generated_exposures_are_not_counted_twice(
    manifest: dict[str, Any], index: RelationIndex
) -> None:
    generated = json.loads(json.dumps(manifest))
    exposure = generated["exposures"][f"exposure.{PROJECT}.front_page_dashboard"]
    exposure["meta"] = {"platform_health": {"generated": True}}
    graph = build_platform_graph(generated, [], index).graph
    assert f"exposure.{PROJECT}.front_page_dashboard" not in graph
    assert model("story_rankings") in unused_models(graph)


def test_the_graph_survives_its_table(platform: Any) -> None:
    frame = to_frame(platform)
    assert list(frame["node_id"]) == sorted(platform.graph.nodes)
    back = from_frame(frame)
    assert sorted(back.graph.edges) == sorted(platform.graph.edges)
    assert back.unparsed == platform.unparsed
    for node in platform.graph.nodes:
        assert back.graph.nodes[node] == {
            **{k: None for k in ("relation", "url", "path", "created_at", "changed_at")},
            **{k: None for k in ("last_run_at", "run_count", "view_count")},
            "owners": (),
            "archived": False,
            "keep": False,
            **platform.graph.nodes[node],
        }, node


# (node attributes, expected reason fragment or None) with the default rules at NOW.
STALENESS = [
    (
        {"kind": "report", "last_run_at": days_ago(101), "created_at": days_ago(400)},
        "not run in 101 days",
    ),
    (
        {
            "kind": "report",
            "last_run_at": days_ago(100),
            "created_at": days_ago(400),
            "run_count": 50,
            "view_count": 50,
        },
        None,
    ),
    (
        {"kind": "dashboard", "last_run_at": None, "changed_at": days_ago(150)},
        "never run in its 150 days",
    ),
    (
        {
            "kind": "chart",
            "last_run_at": days_ago(10),
            "changed_at": days_ago(61),
            "run_count": 4,
            "view_count": 4,
        },
        "4 runs and 4 views in 61 days",
    ),
    (
        {
            "kind": "chart",
            "last_run_at": days_ago(10),
            "changed_at": days_ago(60),
            "run_count": 4,
            "view_count": 4,
        },
        None,
    ),
    (
        {
            "kind": "chart",
            "last_run_at": days_ago(10),
            "changed_at": days_ago(90),
            "run_count": 5,
            "view_count": 1,
        },
        None,
    ),
    (
        {
            "kind": "chart",
            "last_run_at": days_ago(10),
            "changed_at": days_ago(90),
            "run_count": 1,
            "view_count": 5,
        },
        None,
    ),
    # Usage the tool does not report never makes a report stale.
    ({"kind": "report", "last_run_at": None, "created_at": None}, None),
    (
        {
            "kind": "report",
            "last_run_at": days_ago(1),
            "created_at": days_ago(90),
            "run_count": None,
            "view_count": 0,
        },
        None,
    ),
    ({"kind": "dataset", "last_run_at": days_ago(500), "changed_at": days_ago(500)}, None),
    (
        {
            "kind": "report",
            "archived": True,
            "last_run_at": days_ago(500),
            "created_at": days_ago(500),
        },
        None,
    ),
]


@pytest.mark.parametrize(("node", "expected"), STALENESS)
def test_staleness_rules(node: dict[str, Any], expected: str | None) -> None:
    reason = staleness_reason(node, NOW)
    assert reason == expected if expected is None else expected in (reason or "")


def test_staleness_thresholds_are_configurable() -> None:
    node = {
        "kind": "report",
        "last_run_at": days_ago(31),
        "created_at": days_ago(400),
        "run_count": 9,
        "view_count": 9,
    }
    assert staleness_reason(node, NOW) is None
    assert staleness_reason(node, NOW, StalenessRules(max_days_without_run=30)) is not None
    with pytest.raises(ValueError, match="min_runs"):
        StalenessRules(min_runs=-1)


def test_importance_ranks_what_everything_reads_first(platform: Any) -> None:
    frame = importance_frame(platform.graph)
    assert len(frame) == platform.graph.number_of_nodes()
    assert list(frame["pagerank_rank"]) == list(range(1, len(frame) + 1))
    assert frame["pagerank"].is_monotonic_decreasing
    models = frame[frame["kind"] == "model"].reset_index(drop=True)
    # stg_stories feeds both marts, the snapshot, a dataset and int_stories: the top model.
    assert models.loc[0, "node_id"] == model("stg_stories")
    row = frame.set_index("node_id").loc[model("stg_stories")]
    graph = platform.graph
    assert (row["in_degree"], row["out_degree"]) == (
        graph.in_degree(model("stg_stories")),
        graph.out_degree(model("stg_stories")),
    )
    assert row["degree"] == row["in_degree"] + row["out_degree"]
    assert 0 < row["betweenness"] <= 1 and 0 < row["closeness"] <= 1
    assert frame["pagerank"].sum() == pytest.approx(1, abs=1e-3)


def test_importance_of_an_empty_graph_is_an_empty_table() -> None:
    import networkx as nx

    assert importance_frame(nx.DiGraph()).empty
    assert isinstance(importance_frame(nx.DiGraph()), pd.DataFrame)
