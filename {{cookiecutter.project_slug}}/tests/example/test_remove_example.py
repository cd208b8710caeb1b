"""``make remove-example`` leaves nothing of the example in the local warehouse or instance.

Its first step (utils/remove_example.py, given the Makefile's EXAMPLE list) runs here on a copy
of what ``make run`` builds, where a team has added a table of its own to a schema the example
uses: afterwards only that table and the platform-health tables are left, and the instance
keeps no asset of the example (the UI's catalog would list them, definitions or not).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from {{ cookiecutter.project_slug }}.utils import remove_example
from conftest import MaterializedWarehouse
from process_groups import PROJECT

KEPT_SCHEMA = "platform_health"


def example_paths() -> list[str]:
    """The Makefile's EXAMPLE list, as make expands it."""
    text = (PROJECT / "Makefile").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("EXAMPLE :=")]
    package = remove_example.__name__.split(".")[0]
    return line.split(":=", 1)[1].replace("$(PACKAGE)", package).split()


def tables(warehouse: Path) -> set[str]:
    """``schema.table`` of every table and view, and ``schema.`` of every schema."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = current_database() union "
            "select schema_name || '.' from information_schema.schemata "
            "where catalog_name = current_database() and schema_name <> 'main'"
        ).fetchall()
    return {name for (name,) in rows}


def test_remove_example_forgets_its_tables_and_assets(
    materialized: MaterializedWarehouse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(materialized.path, warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create table analytics.team_orders as select 1 as order_id")
    before = tables(warehouse)
    assert {"analytics.story_rankings", "analytics.team_orders"} <= before
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert materialized.instance is not None
    built = materialized.instance.get_asset_keys()
    with dg.DagsterInstance.get() as instance:
        for key in built:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))

    assert remove_example.main(example_paths()) == 0

    kept = {name for name in before if name.split(".")[0] == KEPT_SCHEMA}
    assert tables(warehouse) == {"analytics.", "analytics.team_orders", *kept}
    with dg.DagsterInstance.get() as instance:
        left = set(instance.get_asset_keys())
    assert left == {key for key in built if key.path[-2] == KEPT_SCHEMA}
