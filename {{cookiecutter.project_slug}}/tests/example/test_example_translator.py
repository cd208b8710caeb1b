"""ProjectDbtTranslator on the example's manifest (removed with the example)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_dbt import dbt_assets

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.utils.dbt_translator import (
    ProjectDbtTranslator,
    snowflake_table_url,
)
from test_translator import specs

PROD = settings.PRODUCTION_DATABASE.lower()


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> Any:
    return json.loads(dbt_manifest.read_text())


def test_example_keys_are_production_locations(manifest: Any) -> None:
    by_id = specs(manifest, ProjectDbtTranslator())
    slug = manifest["metadata"]["project_name"]
    assert by_id[f"model.{slug}.story_rankings"].key == dg.AssetKey(
        [PROD, "analytics", "story_rankings"]
    )
    assert by_id[f"model.{slug}.stg_stories"].key == dg.AssetKey([PROD, "staging", "stg_stories"])
    assert by_id[f"model.{slug}.int_comments"].key == dg.AssetKey(
        [PROD, "intermediate", "int_comments"]
    )
    assert by_id[f"snapshot.{slug}.story_scores"].key == dg.AssetKey(
        [PROD, "snapshots", "story_scores"]
    )
    raw = settings.RAW_SCHEMA.lower()
    assert by_id[f"source.{slug}.hackernews.items"].key == dg.AssetKey([PROD, raw, "items"])


def test_example_groups_follow_folders_and_snapshots(manifest: Any) -> None:
    by_id = specs(manifest, ProjectDbtTranslator())
    slug = manifest["metadata"]["project_name"]
    assert by_id[f"model.{slug}.stg_comments"].group_name == "staging"
    assert by_id[f"model.{slug}.int_stories"].group_name == "intermediate"
    assert by_id[f"model.{slug}.author_activity"].group_name == "marts"
    assert by_id[f"snapshot.{slug}.story_scores"].group_name == "snapshots"


def test_links_point_at_the_physical_database_only_on_snowflake(manifest: Any) -> None:
    slug = manifest["metadata"]["project_name"]
    uid = f"model.{slug}.story_rankings"
    local = specs(manifest, ProjectDbtTranslator())[uid]
    branch = specs(manifest, ProjectDbtTranslator(physical_database="PRODUCTION_CLONE_7"))[uid]
    assert "dagster/uri" not in local.metadata
    expected = snowflake_table_url(
        settings.SNOWFLAKE_ACCOUNT, "PRODUCTION_CLONE_7", "analytics", "story_rankings"
    )
    assert expected is not None and "/databases/PRODUCTION_CLONE_7/schemas/ANALYTICS/" in expected
    assert branch.metadata["dagster/uri"] == expected
    assert branch.key == local.key  # keys never depend on the environment


def test_owners_come_from_dbt_meta(manifest: Any) -> None:
    slug = manifest["metadata"]["project_name"]
    spec = specs(manifest, ProjectDbtTranslator())[f"model.{slug}.story_rankings"]
    assert spec.owners == ["{{ cookiecutter.author_email }}"]


def test_dbt_tests_become_asset_checks_including_source_tests(dbt_manifest: Path) -> None:
    @dbt_assets(manifest=dbt_manifest, dagster_dbt_translator=ProjectDbtTranslator())
    def everything() -> Any:
        yield from ()

    checks = {(c.asset_key, c.name) for c in everything.check_specs}
    raw = settings.RAW_SCHEMA.lower()
    assert (
        dg.AssetKey([PROD, "analytics", "story_rankings"]),
        "non_negative_story_rankings_score",
    ) in checks
    assert any(key == dg.AssetKey([PROD, raw, "comments"]) for key, _ in checks)
