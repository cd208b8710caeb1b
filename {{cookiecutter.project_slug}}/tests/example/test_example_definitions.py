"""The example's definitions: Hacker News ingestion joined to its dbt models (removed with it)."""

import dagster as dg
import pytest
from dagster_dbt import build_dbt_asset_selection

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.defs.dbt.models import build_dbt_models
from test_definitions import asset_keys, load

PREFIX = [settings.PRODUCTION_DATABASE.lower(), settings.RAW_SCHEMA.lower()]


@pytest.fixture
def local_keys() -> set[dg.AssetKey]:
    return asset_keys(load())


def test_local_definitions_include_ingestion_and_dbt(local_keys: set[dg.AssetKey]) -> None:
    expected = {dg.AssetKey([*PREFIX, name]) for name in ("items", "comments", "stories")}
    assert expected <= local_keys
    assert dg.AssetKey([PREFIX[0], "analytics", "story_rankings"]) in local_keys
    assert all(key.path[0] == PREFIX[0] for key in local_keys)
    assert all(part == part.lower() for key in local_keys for part in key.path)


def test_dbt_sources_resolve_to_the_ingestion_assets() -> None:
    graph = load().resolve_asset_graph()
    staging = dg.AssetKey([PREFIX[0], "staging", "stg_stories"])
    assert dg.AssetKey([*PREFIX, "stories"]) in graph.get(staging).parent_keys
    # No dangling source key: every parent of every asset is itself defined.
    defined = set(graph.get_all_asset_keys())
    dangling = {p for key in defined for p in graph.get(key).parent_keys} - defined
    assert not dangling


def model_key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([PREFIX[0], schema, name])


@pytest.mark.parametrize(
    ("dbt_select", "expected"),
    [
        ("story_rankings", {model_key("analytics", "story_rankings")}),
        (
            "tag:published",
            {model_key("analytics", "story_rankings"), model_key("analytics", "author_activity")},
        ),
        (
            "+story_rankings",
            {
                model_key("analytics", "story_rankings"),
                model_key("staging", "stg_stories"),
                model_key("staging", "stg_comments"),
            },
        ),
    ],
)
def test_dbt_selection_syntax_picks_assets(dbt_select: str, expected: set[dg.AssetKey]) -> None:
    """What a user types to select dbt models (names, tag:, +model) resolves to those assets."""
    selection = build_dbt_asset_selection([build_dbt_models()], dbt_select=dbt_select)
    assert selection.resolve(load().resolve_asset_graph()) == expected
