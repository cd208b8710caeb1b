"""Sources whose table the project writes (a seed loading the raw tables, as in dbt Labs' jaffle
shop) become their writer's asset, on synthetic manifests shaped as dbt writes them."""

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_dbt import dbt_assets

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.dbt_project import packages_need_install
from {{ cookiecutter.project_slug }}.utils.dbt_translator import ProjectDbtTranslator
from {{ cookiecutter.project_slug }}.utils.source_writers import (
    SourceWriterError,
    merge_written_sources,
    source_writers,
    writer_selection,
)

PROD = settings.PRODUCTION_DATABASE.lower()


def node(kind: str, name: str, parents: list[str], **config: Any) -> dict[str, Any]:
    return {
        "unique_id": f"{kind}.shop.{name}",
        "resource_type": kind,
        "name": name,
        "package_name": "shop",
        "fqn": ["shop", "jaffle-data" if kind == "seed" else "staging", name],
        "config": {"materialized": "view", "meta": {}, **config},
        "meta": {},
        "tags": [],
        "alias": name,
        "description": "",
        "original_file_path": f"{kind}s/{name}",
        "depends_on": {"nodes": parents, "macros": []},
        "database": "local",
        "schema": config.get("schema") or "analytics",
    }


def manifest(*members: dict[str, Any]) -> dict[str, Any]:
    source = {
        "unique_id": "source.shop.ecom.raw_customers",
        "resource_type": "source",
        "source_name": "ecom",
        "name": "raw_customers",
        "identifier": "raw_customers",
        "package_name": "shop",
        "database": "local",
        "schema": "raw",
        "meta": {},
        "config": {},
        "fqn": ["shop", "staging", "ecom", "raw_customers"],
        "tags": [],
        "description": "",
        "original_file_path": "models/staging/__sources.yml",
    }
    nodes = {member["unique_id"]: member for member in members}
    parent_map = {uid: list(member["depends_on"]["nodes"]) for uid, member in nodes.items()}
    parent_map[source["unique_id"]] = []
    child_map: dict[str, list[str]] = {uid: [] for uid in parent_map}
    for uid, parents in parent_map.items():
        for parent in parents:
            child_map[parent].append(uid)
    return {
        "metadata": {"project_name": "shop"},
        "nodes": nodes,
        "sources": {source["unique_id"]: source},
        "parent_map": parent_map,
        "child_map": child_map,
        **{
            name: {}
            for name in ("exposures", "metrics", "semantic_models", "saved_queries", "unit_tests")
        },
        **{name: {} for name in ("selectors", "disabled", "macros", "docs", "groups")},
    }


def definition(parsed: Any, select: str = "fqn:*") -> dg.AssetsDefinition:
    """The dbt definition dagster-dbt builds from a manifest, with this project's translator."""

    @dbt_assets(manifest=parsed, select=select, dagster_dbt_translator=ProjectDbtTranslator())
    def assets() -> Iterator[Any]:
        yield from ()

    return assets


SOURCE = "source.shop.ecom.raw_customers"
READER = node("model", "stg_customers", [SOURCE])


DBT_PROJECT = {
    "dbt_project.yml": (
        "name: shop\nprofile: shop\nconfig-version: 2\n"
        "seeds:\n  shop:\n    jaffle-data:\n      +schema: raw\n"
    ),
    "profiles.yml": "shop:\n  target: local\n  outputs:\n    local: {type: duckdb, path: shop.duckdb}\n",
    "seeds/jaffle-data/raw_customers.csv": "id,name\n1,Ada\n",
    "models/staging/__sources.yml": (
        "version: 2\nsources:\n  - name: ecom\n    schema: raw\n    tables:\n"
        "      - name: raw_customers\n        columns:\n"
        "          - name: id\n            data_tests: [unique]\n"
    ),
    "models/staging/stg_customers.sql": "select id from {{ '{{' }} source('ecom', 'raw_customers') }}\n",
}


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The manifest real dbt parses from a jaffle-shop-shaped project: a seed in a folder with
    a hyphen loads the table the project's source reads."""
    project = tmp_path_factory.mktemp("shop")
    for relative, text in DBT_PROJECT.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [dbt, "parse", "--quiet", "--project-dir", project, "--profiles-dir", project],
        check=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    manifest: dict[str, Any] = json.loads((project / "target" / "manifest.json").read_text())
    return manifest


SEED_ID = "seed.shop.raw_customers"
READER_ID = "model.shop.stg_customers"


def test_a_seed_writing_a_sources_table_is_that_sources_asset(parsed: dict[str, Any]) -> None:
    pristine = copy.deepcopy(parsed)
    assert source_writers(parsed) == {SOURCE: SEED_ID}
    merged = merge_written_sources(parsed)
    assert parsed == pristine  # the shared parse result is left as it is
    assert merged["nodes"][READER_ID]["depends_on"]["nodes"] == [SEED_ID]
    [source_test] = [uid for uid in merged["nodes"] if uid.startswith("test.")]
    assert merged["nodes"][source_test]["depends_on"]["nodes"] == [SEED_ID]
    assert SOURCE not in merged["child_map"]
    assert set(merged["child_map"][SEED_ID]) == {READER_ID, source_test}
    # What dagster-dbt builds from it: one asset for the table, the source's test its check.
    built = definition(merged)
    table = dg.AssetKey([PROD, "raw", "raw_customers"])
    reader = dg.AssetKey([PROD, "analytics", "stg_customers"])
    assert set(built.keys) == {table, reader}
    assert built.asset_deps[reader] == {table}
    assert {check.asset_key for check in built.check_specs} == {table}
    assert built.specs_by_key[table].group_name == "jaffle_data"


def test_without_the_merge_dagster_dbt_refuses_the_shared_key(parsed: dict[str, Any]) -> None:
    """Why the merge exists: the seed and the source have one key, which dagster-dbt refuses."""
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="raw_customers"):
        definition(parsed)


def test_the_writers_step_selects_the_writer_and_the_sources_tests(parsed: dict[str, Any]) -> None:
    selection = writer_selection(parsed)
    assert selection == "fqn:shop.jaffle-data.raw_customers source:ecom.raw_customers"
    # dbt's own selection of it: the seed and the source's test (which dbt attaches to the source).
    built = definition(merge_written_sources(parsed), select=selection)
    assert set(built.keys) == {dg.AssetKey([PROD, "raw", "raw_customers"])}
    assert len(built.check_specs) == 1
    assert writer_selection(manifest(READER)) == ""


def test_nothing_written_leaves_the_manifest_as_it_is() -> None:
    plain = manifest(READER)
    assert merge_written_sources(plain) is plain


@pytest.mark.parametrize("materialized", ["table", "incremental"])
def test_a_writer_sharing_a_dbt_step_with_its_reader_is_refused_in_one_line(
    materialized: str,
) -> None:
    """A model that writes a source's table runs with the models reading the source (one dbt
    run, which does not know they depend on it): refused, naming both and the fix."""
    writer = node("model", "raw_customers", [], materialized=materialized, schema="raw")
    reader = node("model", "stg_customers", [SOURCE], materialized=materialized)
    with pytest.raises(SourceWriterError) as refused:
        merge_written_sources(manifest(writer, reader))
    message = str(refused.value)
    assert "\n" not in message
    assert "'stg_customers'" in message and "'raw_customers'" in message
    assert "ref('raw_customers')" in message


def test_dbt_deps_runs_only_when_package_files_changed(tmp_path: Path) -> None:
    assert not packages_need_install(tmp_path)  # no packages declared
    (tmp_path / "packages.yml").write_text("packages: []\n")
    assert packages_need_install(tmp_path)  # declared, never installed
    installed = tmp_path / "dbt_packages"
    installed.mkdir()
    newer = (tmp_path / "packages.yml").stat().st_mtime_ns + 10**9
    os.utime(installed, ns=(newer, newer))
    assert not packages_need_install(tmp_path)
    (tmp_path / "package-lock.yml").write_text("packages: []\n")
    later = newer + 10**9
    os.utime(tmp_path / "package-lock.yml", ns=(later, later))
    assert packages_need_install(tmp_path)
