"""Macro-aware code versions (utils/code_versions.py), on synthetic manifests and for real.

The real test works on any dbt project: it copies this project's dbt project, adds probe models,
macros and a tiny local dbt package (linked into ``dbt_packages/`` as ``dbt deps`` links one, so
the project's own installed packages need no network), parses it with dbt, edits one macro at a
time and compares every node's code version before and after.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
from dagster_dbt.asset_utils import default_code_version_fn
from dbt.cli.main import dbtRunner

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.dbt_project import LOCAL_ARTIFACTS
from {{ cookiecutter.project_slug }}.utils.code_versions import MacroAwareCodeVersions
from {{ cookiecutter.project_slug }}.utils.dbt_translator import ProjectDbtTranslator{% raw %}


def macro(package: str, name: str, sql: str, *calls: str) -> dict[str, Any]:
    return {
        "unique_id": f"macro.{package}.{name}",
        "name": name,
        "package_name": package,
        "macro_sql": sql,
        "depends_on": {"macros": list(calls)},
    }


def node(name: str, sql: str, *calls: str) -> dict[str, Any]:
    return {
        "unique_id": f"model.p.{name}",
        "resource_type": "model",
        "name": name,
        "raw_code": sql,
        "depends_on": {"macros": list(calls), "nodes": []},
    }


def manifest(*macros: dict[str, Any], adapter: str = "duckdb") -> dict[str, Any]:
    return {
        "metadata": {"adapter_type": adapter},
        "macros": {m["unique_id"]: m for m in macros},
        "nodes": {},
    }


BASE = (
    macro("p", "leaf", "leaf body"),
    macro("p", "mid", "mid body", "macro.p.leaf"),
    macro("p", "other", "other body"),
    macro("pkg", "helper", "helper body"),
    macro("p", "uses_pkg", "uses_pkg body", "macro.pkg.helper"),
    macro("dbt", "dateadd", "dateadd body", "macro.dbt_duckdb.x"),
    macro("dbt_duckdb", "duckdb__dateadd", "duckdb__dateadd body"),
    macro("p", "default__clone", "default__clone body"),
    macro("p", "duckdb__clone", "duckdb__clone body"),
    macro("p", "snowflake__clone", "snowflake__clone body"),
    macro("p", "clone", "clone body", "macro.p.duckdb__clone"),
    # The project overrides a dispatched dbt macro: dbt's macro leads to the project's.
    macro("dbt", "current_timestamp", "x", "macro.p.duckdb__current_timestamp"),
    macro("p", "duckdb__current_timestamp", "now()"),
)
NODES = (
    node("via_mid", "select {{ mid() }}", "macro.p.mid"),
    node("via_other", "select {{ other() }}", "macro.p.other"),
    node("via_package", "select {{ uses_pkg() }}", "macro.p.uses_pkg"),
    node("builtin_only", "select {{ dbt.dateadd() }}", "macro.dbt.dateadd"),
    node("dispatching", "select {{ clone() }}", "macro.p.clone"),
    node("overridden", "select {{ dbt.current_timestamp() }}", "macro.dbt.current_timestamp"),
    node("plain", "select 1"),
)


def versions(*macros: dict[str, Any], adapter: str = "duckdb") -> dict[str, str | None]:
    code_versions = MacroAwareCodeVersions(manifest(*macros, adapter=adapter))
    return {n["name"]: code_versions.code_version(n) for n in NODES}


def edited(unique_id: str) -> tuple[dict[str, Any], ...]:
    return tuple(
        {**m, "macro_sql": m["macro_sql"] + " "} if m["unique_id"] == unique_id else m for m in BASE
    )


def changed(before: dict[str, str | None], after: dict[str, str | None]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


@pytest.mark.parametrize(
    ("macro_id", "expected"),
    [
        ("macro.p.leaf", {"via_mid"}),  # through mid: transitive
        ("macro.p.mid", {"via_mid"}),
        ("macro.p.other", {"via_other"}),
        ("macro.pkg.helper", {"via_package"}),  # a package's macro counts
        ("macro.dbt.dateadd", set()),  # dbt's own macros do not
        ("macro.dbt_duckdb.duckdb__dateadd", set()),
        # The manifest was parsed on DuckDB; production runs the Snowflake implementation.
        ("macro.p.snowflake__clone", {"dispatching"}),
        ("macro.p.default__clone", {"dispatching"}),
        ("macro.p.duckdb__current_timestamp", {"overridden"}),
        ("macro.dbt.current_timestamp", set()),
    ],
)
def test_editing_a_macro_changes_exactly_its_dependents(macro_id: str, expected: set[str]) -> None:
    assert changed(versions(*BASE), versions(*edited(macro_id))) == expected


def test_macro_free_nodes_keep_dagster_dbt_s_version_and_versions_are_stable() -> None:
    first = versions(*BASE)
    assert first == versions(*BASE)  # a hash, the same in every process and run
    assert first["plain"] == default_code_version_fn(NODES[-1])
    assert first["builtin_only"] == default_code_version_fn(NODES[3])
    assert first["via_mid"] != default_code_version_fn(NODES[0])
    # The same code parsed for another adapter gets the same versions.
    assert versions(*BASE, adapter="snowflake") == first


def test_editing_the_node_itself_changes_its_version() -> None:
    code_versions = MacroAwareCodeVersions(manifest(*BASE))
    edited_node = {**NODES[0], "raw_code": NODES[0]["raw_code"] + " "}
    assert code_versions.code_version(edited_node) != code_versions.code_version(NODES[0])


def test_macros_calling_each_other_in_a_cycle_are_all_counted() -> None:
    ping = macro("p", "ping", "a", "macro.p.pong")
    pong = macro("p", "pong", "b", "macro.p.ping")
    uses = node("uses", "select {{ ping() }}", "macro.p.ping")
    code_versions = MacroAwareCodeVersions(manifest(ping, pong))
    assert code_versions.macros_of(uses) == {"macro.p.ping", "macro.p.pong"}
    after = MacroAwareCodeVersions(manifest(ping, {**pong, "macro_sql": "c"}))
    assert after.code_version(uses) != code_versions.code_version(uses)


# --- For real: dbt parses a copy of this project with probes added. -------------------------

PACKAGE = "code_version_probe_package"
# "{" + "%": Cookiecutter renders this file, and none of its tags may survive in the output.
TAG = "{" + "%"


def dbt_macro(name: str, body: str) -> str:
    return f"{TAG} macro {name}() %}}{body}{TAG} endmacro %}}\n"


PROBE_MACROS = {
    "probe_leaf": "1",
    "probe_mid": "{{ probe_leaf() }}",
    "probe_unrelated": "2",
    "probe_uses_package": "{{ " + PACKAGE + ".package_leaf() }}",
}
PROBE_MODELS = {
    "probe_via_mid": "select {{ probe_mid() }} as x",
    "probe_via_package": "select {{ probe_uses_package() }} as x",
    "probe_child": "select * from {{ ref('probe_via_mid') }}",
}


def parse(project: Path) -> dict[str, Any]:
    arguments = ["--project-dir", str(project), "--profiles-dir", str(project)]
    result = dbtRunner().invoke(["parse", "--quiet", *arguments, "--target", "local"])
    assert result.success, result.exception
    assert result.result is not None
    return result.result.writable_manifest().to_dict()  # type: ignore[no-any-return]


def code_versions(manifest: dict[str, Any]) -> dict[str, str | None]:
    """unique_id -> code version, as the project's translator gives it, for every node."""
    translator = ProjectDbtTranslator()
    return {
        unique_id: translator.get_asset_spec(manifest, unique_id, None).code_version
        for unique_id, props in manifest["nodes"].items()
        if props["resource_type"] in ("model", "snapshot", "seed")
    }


@pytest.fixture
def probe_project(tmp_path: Path) -> Path:
    """A copy of the dbt project (its installed packages too) with the probes and a local
    package."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        settings.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns(*LOCAL_ARTIFACTS)
    )
    package = tmp_path / PACKAGE
    (package / "macros").mkdir(parents=True)
    (package / "dbt_project.yml").write_text(
        f"name: {PACKAGE}\nversion: '1.0'\nconfig-version: 2\n"
    )
    (package / "macros" / "leaf.sql").write_text(dbt_macro("package_leaf", "3"))
    packages = project / "packages.yml"
    existing = packages.read_text() if packages.exists() else "packages:\n"
    packages.write_text(existing.rstrip("\n") + f"\n  - local: {package}\n")
    for name, body in PROBE_MACROS.items():
        (project / "macros" / f"{name}.sql").write_text(dbt_macro(name, body))
    for name, sql in PROBE_MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql + "\n")
    # Linked into dbt_packages/ as `dbt deps` links a local package; `dbt deps` itself would ask
    # the package hub again for the packages the project already has installed (copied above).
    (project / "dbt_packages").mkdir(exist_ok=True)
    (project / "dbt_packages" / PACKAGE).symlink_to(package, target_is_directory=True)
    return project


def test_editing_macros_in_a_real_dbt_project(probe_project: Path) -> None:
    project_id = parse(probe_project)["metadata"]["project_name"]

    def probe(name: str) -> str:
        return f"model.{project_id}.{name}"

    def edit(path: Path) -> None:
        path.write_text(path.read_text().replace("%}", "%} ", 1))

    before = code_versions(parse(probe_project))
    assert None not in {before[probe(name)] for name in PROBE_MODELS}

    edit(probe_project / "macros" / "probe_unrelated.sql")
    after_unrelated = code_versions(parse(probe_project))
    assert changed(before, after_unrelated) == set()

    edit(probe_project / "macros" / "probe_leaf.sql")
    after_leaf = code_versions(parse(probe_project))
    # Only the model using probe_mid (which calls probe_leaf); not its child, not the rest.
    assert changed(after_unrelated, after_leaf) == {probe("probe_via_mid")}

    # dbt deps links a local package: editing its source is what a package upgrade does.
    edit(probe_project.parent / PACKAGE / "macros" / "leaf.sql")
    after_package = code_versions(parse(probe_project))
    assert changed(after_leaf, after_package) == {probe("probe_via_package")}{% endraw %}
