"""``make remove-example``, before it deletes the files: the example's tables and assets go too.

The example's dbt files (``python -m <package>.utils.remove_example <path> ...``, the Makefile's
EXAMPLE list) define its models, its snapshot and the sources its ingestion writes. Their tables
and views (a blue/green mart in both schemas) are dropped from the local DuckDB warehouse, then
their schemas if nothing else is left in them, and their assets are wiped from the local
instance (``DAGSTER_HOME``): neither ``make run`` nor the UI lists them afterwards. A team's own
tables, and every other DuckDB file, stay as they are. This module is deleted with the example.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import dagster as dg
import duckdb

from .. import settings
from ..dbt_project import dbt_project
from .dbt_translator import ProjectDbtTranslator, parse_default_database, published_relation
from .environment import get_dagster_home, get_duckdb_path
from .identifiers import quote_identifier

RELATIONS = ("model", "seed", "snapshot", "source")


def defined_in(manifest: Mapping[str, Any], paths: Iterable[str]) -> list[Mapping[str, Any]]:
    """The manifest's models, seeds, snapshots and sources defined in a file or folder of
    ``paths`` (relative to the project root; only those under the dbt project count)."""
    project = PurePosixPath(settings.CHECKOUT_DBT_PROJECT_DIR.name)
    folders = [
        PurePosixPath(path).relative_to(project)
        for path in paths
        if PurePosixPath(path).is_relative_to(project)
    ]
    return [
        resource
        for resource in (*manifest["nodes"].values(), *manifest["sources"].values())
        if resource["resource_type"] in RELATIONS
        and any(PurePosixPath(resource["original_file_path"]).is_relative_to(f) for f in folders)
    ]


def relations(resource: Mapping[str, Any], database: str | None) -> set[tuple[str, str]]:
    """``(schema, table)`` in lower case where ``resource`` lives, if in ``database`` (the
    DuckDB file's: the manifest's default; a source declared in another one is not in it)."""
    materialized = (resource.get("config") or {}).get("materialized")
    if materialized == "ephemeral" or str(resource["database"]).lower() != database:
        return set()
    name = resource.get("identifier") or resource.get("alias") or resource["name"]
    found = {(str(resource["schema"]), str(name))}
    published = published_relation(resource)
    if published is not None:  # built in <schema>_blue, promoted to <schema>
        found.add((published.schema, published.table))
    return {(schema.lower(), table.lower()) for schema, table in found}


def drop_relations(warehouse: Path, doomed: set[tuple[str, str]]) -> list[str]:
    """Drop ``doomed`` from the DuckDB file ``warehouse`` (views first), then each of their
    schemas left empty; returns ``schema.table`` of what was dropped."""
    with duckdb.connect(str(warehouse)) as connection:
        present = connection.execute(
            "select table_schema, table_name, table_type "
            "from information_schema.tables where table_catalog = current_database() "
            "order by table_type = 'VIEW' desc, 1, 2"
        ).fetchall()
        dropped = []
        for schema, table, kind in present:
            if (schema.lower(), table.lower()) in doomed:
                kind_word = "view" if kind == "VIEW" else "table"
                connection.execute(
                    f"drop {kind_word} {quote_identifier(schema)}.{quote_identifier(table)}"
                )
                dropped.append(f"{schema}.{table}")
        for schema in sorted({schema for schema, _ in doomed}):
            left = connection.execute(
                "select count(*) from information_schema.tables "
                "where table_catalog = current_database() and lower(table_schema) = ?",
                [schema],
            ).fetchone()
            if schema != "main" and left is not None and left[0] == 0:
                connection.execute(f"drop schema if exists {quote_identifier(schema)}")
    return dropped


def wipe_assets(keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
    """Wipe ``keys`` from the local instance, if it has them; returns the keys wiped."""
    home = get_dagster_home()
    if home is None or not home.is_dir():
        return []
    with dg.DagsterInstance.get() as instance:
        wiped = sorted(set(instance.get_asset_keys()) & keys, key=str)
        if wiped:
            instance.wipe_assets(wiped)
    return wiped


def main(paths: list[str]) -> int:
    """Forget what the dbt files in ``paths`` built locally (the manifest must be current:
    ``make remove-example`` runs ``make manifest`` first)."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    resources = defined_in(manifest, paths)
    translator = ProjectDbtTranslator()
    keys = {translator.get_asset_spec(manifest, r["unique_id"], None).key for r in resources}
    warehouse = get_duckdb_path()
    if warehouse.is_file():
        database = parse_default_database(manifest)
        doomed = {pair for resource in resources for pair in relations(resource, database)}
        dropped = drop_relations(warehouse, doomed)
        print(f"Dropped {len(dropped)} tables and views of the example from {warehouse}")
    wiped = wipe_assets(keys)
    if wiped:
        print(f"Wiped {len(wiped)} of its assets from the local instance ({get_dagster_home()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
