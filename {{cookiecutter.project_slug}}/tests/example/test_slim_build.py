"""Slim builds on DuckDB for real: production state from the example, then one model and one
macro changed, and ``state:modified+`` with ``--defer`` builds exactly what changed and its
children, reading every other parent from production's relations."""

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.resources import dbt_executable
from {{ cookiecutter.project_slug }}.utils.dbt_state import (
    MissingProductionStateError,
    duckdb_slim_build,
    read_manifest,
    relation_database,
    slim_build_args,
)
from conftest import MaterializedWarehouse

MODEL = "model.{{ cookiecutter.project_slug }}.stg_comments"
NON_NEGATIVE_TEST = "non_negative_story_rankings_score"


def descendants(manifest: dict, node: str) -> set[str]:
    """``node`` and everything downstream of it (models, snapshots, tests), from the child map."""
    found, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(manifest["child_map"].get(current, []))
    return found


def unique_id(manifest: dict, name: str) -> str:
    (found,) = (key for key, node in manifest["nodes"].items() if node["name"] == name)
    return str(found)


def tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
    return {name for (name,) in rows}


COUNTS = {
    "analytics.story_rankings": "select count(*) from analytics.story_rankings",
    "analytics.author_activity": "select count(*) from analytics.author_activity",
}


def count(path: Path, table: str) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(COUNTS[table]).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def production(materialized: MaterializedWarehouse, tmp_path: Path) -> tuple[Path, Path]:
    """Production: the example materialized from this commit (a copy of the session's file),
    and the manifest it was built from as production state."""
    warehouse = tmp_path / "production" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    shutil.copy2(materialized.path, warehouse)
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy2(settings.DBT_PROJECT_DIR / "target" / "manifest.json", state / "manifest.json")
    return warehouse, state


@pytest.fixture
def branch_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        settings.DBT_PROJECT_DIR,
        project,
        ignore=shutil.ignore_patterns("target", "logs", "state", "*.duckdb*"),
    )
    return project


def test_slim_build_builds_the_changes_and_their_children_and_defers_the_rest(
    production: tuple[Path, Path], branch_project: Path, tmp_path: Path
) -> None:
    warehouse, state = production
    prod_database = relation_database(read_manifest(state / "manifest.json"))
    dbt = dbt_executable()

    # A macro only: its test runs, against production's mart (deferred); no model is built.
    macro = branch_project / "macros/tests/non_negative.sql"
    macro.write_text(macro.read_text().replace("< 0", "< 0 -- changed in this pull request"))
    first = duckdb_slim_build(branch_project, warehouse, tmp_path / "b1.duckdb", state, dbt)
    assert first.returncode == 0, first.results
    changed_test = unique_id(
        json.loads((first.target_dir / "manifest.json").read_text()), NON_NEGATIVE_TEST
    )
    assert first.results == {changed_test: "pass"}
    compiled = next((first.target_dir / "compiled").rglob("non_negative_story_rankings_score.sql"))
    # Production's published mart: with blue/green publishing too, never its _blue schema
    # (test_blue_green.py shows a poisoned production blue is not read).
    assert f'from "{prod_database}"."analytics"."story_rankings"' in compiled.read_text()
    assert not {t for t in tables(tmp_path / "b1.duckdb") if not t.startswith("hackernews.")}

    # Then a model as well: it and everything downstream of it are built, nothing else.
    model = branch_project / "models/staging/stg_comments.sql"
    model.write_text(model.read_text() + "\n-- changed in this pull request\n")
    branch = tmp_path / "branch.duckdb"
    second = duckdb_slim_build(branch_project, warehouse, branch, state, dbt)
    assert second.returncode == 0, second.results
    head = json.loads((second.target_dir / "manifest.json").read_text())
    expected = descendants(head, MODEL) | {changed_test}
    # dbt build also runs the tests of a built model that read an unbuilt parent (eager).
    expected |= {
        test
        for test, node in head["nodes"].items()
        if node["resource_type"] == "test" and set(node["depends_on"]["nodes"]) & expected
    }
    assert second.built == expected
    # Exposures downstream are part of the selection; dbt reports them as no-ops.
    statuses = {n: s for n, s in second.results.items() if not n.startswith("exposure.")}
    assert set(statuses.values()) == {"pass", "success"}
    built_models = {n.split(".")[-1] for n in second.built if n.startswith("model.")}
    assert built_models == {"stg_comments", "int_comments", "story_rankings", "author_activity"}
    # The unchanged parents (stg_stories, int_stories, the snapshot) were not built here ...
    in_branch = tables(branch)
    assert not {"staging.stg_stories", "intermediate.int_stories"} & in_branch
    assert {"staging.stg_comments", "intermediate.int_comments"} <= in_branch
    # ... the children read them from production: same rows as production's marts.
    rankings = next((second.target_dir / "compiled").rglob("story_rankings.sql")).read_text()
    assert f'"{prod_database}"."staging"."stg_stories"' in rankings
    assert '"branch"."staging"."stg_comments"' in rankings
    for mart in ("analytics.story_rankings", "analytics.author_activity"):
        assert count(branch, mart) == count(warehouse, mart) > 0


def test_slim_build_refuses_without_production_state(tmp_path: Path) -> None:
    with pytest.raises(MissingProductionStateError, match=r"no production dbt state: .*manifest"):
        slim_build_args(tmp_path / "state")
