"""ProjectDbtTranslator on the example manifest and on a synthetic one."""

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

PROD = settings.PRODUCTION_DATABASE.lower()


def specs(manifest: Any, translator: ProjectDbtTranslator) -> dict[str, dg.AssetSpec]:
    """unique_id -> spec, for every model, seed, snapshot and source of the manifest."""
    nodes = {**manifest["nodes"], **manifest["sources"]}
    return {
        uid: translator.get_asset_spec(manifest, uid, None)
        for uid, node in nodes.items()
        if node["resource_type"] in ("model", "snapshot", "seed", "source")
    }


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


def synthetic_manifest() -> dict[str, Any]:
    def model(name: str, fqn: list[str], **extra: Any) -> dict[str, Any]:
        node = {
            "unique_id": f"model.p.{name}",
            "resource_type": "model",
            "name": name,
            "fqn": ["p", *fqn, name],
            "config": {"schema": extra.pop("schema", None), "meta": {}},
            "meta": extra.pop("meta", {}),
            "tags": extra.pop("tags", []),
            "alias": name,
            "description": "",
            "original_file_path": f"models/{name}.sql",
            "depends_on": {"nodes": []},
            "database": "x",
            "schema": "x",
            "package_name": "p",
        }
        node["config"].update(extra)
        return node

    nodes = [
        model("Orders", ["marts", "finance"], schema="Finance"),
        model("elsewhere", ["marts"], schema="Reporting", database="ANALYTICS_DB"),
        model("tagged", ["marts"], tags=["marketing"]),
        model("overridden", ["staging"], meta={"dagster_group": "custom", "owner": ["team:core"]}),
        model("aliased", [], alias="Real_Name"),
        model("keyed", ["staging"], meta={"dagster": {"asset_key": ["elsewhere", "keyed"]}}),
    ]

    def source(source_name: str, name: str, database: str, schema: str) -> dict[str, Any]:
        return {
            "unique_id": f"source.p.{source_name}.{name}",
            "resource_type": "source",
            "source_name": source_name,
            "name": name,
            "identifier": name,
            "database": database,
            "schema": schema,
            "meta": {},
            "config": {},
            "fqn": ["p", source_name, name],
            "tags": [],
            "description": "",
            "original_file_path": "models/_sources.yml",
        }

    # "x" is the database dbt gave every node naming none (the parse target's).
    sources = [
        source("crm", "Account", "RAW", "salesforce"),
        source("crm_again", "Account", "RAW", "salesforce"),
        source("events", "clicks", "x", "Web"),
    ]
    return {
        "nodes": {n["unique_id"]: n for n in nodes},
        "sources": {s["unique_id"]: s for s in sources},
        "child_map": {},
        "parent_map": {},
        "metadata": {"project_name": "p"},
        "exposures": {},
        "metrics": {},
        "semantic_models": {},
        "saved_queries": {},
        "selectors": {},
        "disabled": {},
        "macros": {},
        "docs": {},
        "group_map": {},
        "groups": {},
        "unit_tests": {},
    }


def test_synthetic_manifest_rules() -> None:
    by_id = specs(synthetic_manifest(), ProjectDbtTranslator())
    assert by_id["model.p.Orders"].key == dg.AssetKey([PROD, "finance", "orders"])
    assert by_id["model.p.Orders"].group_name == "marts"
    assert by_id["model.p.tagged"].group_name == "marketing"
    assert by_id["model.p.overridden"].group_name == "custom"
    assert by_id["model.p.overridden"].owners == ["team:core"]
    assert by_id["model.p.aliased"].key == dg.AssetKey([PROD, "analytics", "real_name"])
    assert by_id["model.p.aliased"].group_name == "default"
    assert by_id["model.p.keyed"].key == dg.AssetKey(["elsewhere", "keyed"])


def test_keys_follow_the_database_a_node_lives_in() -> None:
    """A source declared in another database, and a model with a database of its own, are keyed
    there; two sources naming one table are one key; the rest is production's."""
    translator = ProjectDbtTranslator(physical_database="PRODUCTION_CLONE_7")
    by_id = specs(synthetic_manifest(), translator)
    account = dg.AssetKey(["raw", "salesforce", "account"])
    assert by_id["source.p.crm.Account"].key == account
    assert by_id["source.p.crm_again.Account"].key == account
    assert by_id["source.p.events.clicks"].key == dg.AssetKey([PROD, "web", "clicks"])
    elsewhere = by_id["model.p.elsewhere"]
    assert elsewhere.key == dg.AssetKey(["analytics_db", "reporting", "elsewhere"])
    # Linked where it lives, not into the pull request's clone of production.
    assert "/databases/ANALYTICS_DB/schemas/REPORTING/" in str(elsewhere.metadata["dagster/uri"])
    orders = by_id["model.p.Orders"]
    assert "/databases/PRODUCTION_CLONE_7/schemas/FINANCE/" in str(orders.metadata["dagster/uri"])


def test_get_asset_key_agrees_with_the_specs() -> None:
    """dagster-dbt also asks ``get_asset_key`` alone (for test results it records as
    observations): it must name the same assets, never dagster-dbt's default keys."""
    manifest = synthetic_manifest()
    translator = ProjectDbtTranslator()
    by_id = specs(manifest, translator)
    for uid, spec in by_id.items():
        props = {**manifest["nodes"], **manifest["sources"]}[uid]
        assert translator.get_asset_key(props) == spec.key, uid
