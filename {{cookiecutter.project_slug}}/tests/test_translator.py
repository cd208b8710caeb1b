"""ProjectDbtTranslator on the example manifest and on a synthetic one."""

from typing import Any

import dagster as dg

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.utils.dbt_translator import (
    ProjectDbtTranslator,
    valid_group_name,
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
        model("hyphenated", ["Core-Marts", "daily"]),
        model("grouped", ["staging"], group="Finance & Ops"),
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
    # Folder and dbt group names of any spelling, as valid Dagster group names.
    assert by_id["model.p.hyphenated"].group_name == "Core_Marts"
    assert by_id["model.p.grouped"].group_name == "Finance___Ops"


def test_group_names_of_any_spelling_become_valid_and_stable() -> None:
    cases = {
        "jaffle-data": "jaffle_data",
        "Core Marts": "Core_Marts",
        "données": "donnees",
        "2024.reports": "2024_reports",
        "--": "default",
        "marts": "marts",
    }
    for name, expected in cases.items():
        assert valid_group_name(name) == expected
        assert dg.AssetSpec("x", group_name=valid_group_name(name)).group_name == expected


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
