"""Production's dbt state, and slim builds that defer to it.

Production state is the ``manifest.json`` production deployed. Each production deploy publishes
it to Dagster+ and each branch deploy fetches it into ``dbt_project/state/`` before packaging,
with ``ci/dagster_plus.py dbt-state publish|fetch`` (the pinned Dagster+ CLI only). A slim build
then runs

    dbt build --select state:modified+ --defer --state dbt_project/state

so only the models (and their tests, snapshots and seeds) the change touched, and everything
downstream of them, are built; every parent left out resolves to production's relation when the
target does not have it (dbt's ``--defer``).

On Snowflake the branch deployment builds into its clone and defers to production's database.
On DuckDB (CI, laptops) there is no shared production warehouse, so :func:`duckdb_slim_build`
builds into a fresh file, attaches the "production" file under the database name production's
manifest gives its relations, and copies production's raw source tables into the fresh file
(what a clone of production gives a branch deployment): a deferred parent is then read from the
production file for real.

With blue/green publishing production's manifest names where its marts are *built*,
``<schema>_blue``, which holds a failed run's unpublished candidate or, on Snowflake after a
swap, the previous generation. :func:`published_state` is the manifest a slim build defers to
instead: the same, with every published model at its published relation (``<schema>``).
``python -m <package>.utils.dbt_state ci`` is CI's use of it: the pull
request's base commit, built in full on DuckDB, is production; docs/branch-deployments.md says
what that does and does not prove.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from .. import settings
from .dbt_translator import published_relation

STATE_DIR_NAME = "state"
SLIM_SELECTION = "state:modified+"


class MissingProductionStateError(RuntimeError):
    """No production manifest where a slim build needs one."""


def production_state_dir(project_dir: Path | None = None) -> Path:
    """Where the production manifest goes: ``<dbt project>/state`` (``DbtProject.state_path``)."""
    return (project_dir or settings.DBT_PROJECT_DIR) / STATE_DIR_NAME


def require_production_state(state_dir: Path) -> Path:
    """``state_dir/manifest.json``, or one clear error saying how it gets there."""
    manifest = state_dir / "manifest.json"
    if not manifest.is_file():
        raise MissingProductionStateError(
            f"no production dbt state: {manifest} does not exist. Branch deploys fetch it with "
            "`ci/dagster_plus.py dbt-state fetch` once a production deploy has published "
            "one (docs/branch-deployments.md); until then build in full instead"
        )
    return manifest


def slim_build_args(state_dir: Path) -> list[str]:
    """``dbt build`` of what changed against ``state_dir``, deferring the rest to it."""
    require_production_state(state_dir)
    return ["build", "--select", SLIM_SELECTION, "--defer", "--state", str(state_dir)]


def published_state(state_dir: Path, into: Path) -> Path:
    """``into``, holding ``state_dir``'s manifest with each model published blue/green moved to
    its published relation (schema and ``relation_name``): what ``--defer`` then reads.

    Only where the node lives changes, not its config: ``state:modified`` compares configured
    (unrendered) schemas, so nothing counts as modified for it."""
    manifest = read_manifest(require_production_state(state_dir))
    for node in manifest["nodes"].values():
        relation = published_relation(node)
        if relation is None:
            continue
        blue = str(node["schema"])
        node["schema"] = relation.schema
        name = node.get("relation_name")
        if name:
            # database.schema.identifier, quoted ("local"."analytics_blue"."x", DuckDB) or not
            # (PRODUCTION.analytics_blue.x, Snowflake): the schema part only.
            for quote_char in ('"', ""):
                part = f".{quote_char}{blue}{quote_char}."
                if part in name:
                    node["relation_name"] = name.replace(
                        part, f".{quote_char}{relation.schema}{quote_char}.", 1
                    )
                    break
    into.mkdir(parents=True, exist_ok=True)
    (into / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return into


def read_manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def relation_database(manifest: Mapping[str, Any]) -> str:
    """The one database production's models, seeds and snapshots live in (DuckDB: the file's
    catalog name, which deferred references use)."""
    databases = {
        str(node["database"])
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed", "snapshot") and node.get("database")
    }
    if len(databases) != 1:
        raise ValueError(f"production manifest: expected one database, found {sorted(databases)}")
    return databases.pop()


def source_tables(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(schema, table) of every source in the manifest, sorted."""
    return sorted({(str(s["schema"]), str(s["identifier"])) for s in manifest["sources"].values()})


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_sources(production: Path, branch: Path, tables: Sequence[tuple[str, str]]) -> list[str]:
    """Copy production's raw source tables into the branch file (what a clone of production
    gives a branch deployment); returns the tables copied (sources production lacks are left
    out: dbt then fails on them, as it would on Snowflake)."""
    copied: list[str] = []
    with duckdb.connect(str(branch)) as connection:
        connection.execute(f"ATTACH {quote_literal(str(production))} AS production (READ_ONLY)")
        present = set(
            connection.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = 'production'"
            ).fetchall()
        )
        for schema, table in tables:
            if (schema, table) not in present:
                continue
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            connection.execute(
                f"CREATE OR REPLACE TABLE {quote(schema)}.{quote(table)} AS "
                f"FROM production.{quote(schema)}.{quote(table)}"
            )
            copied.append(f"{schema}.{table}")
        connection.execute("DETACH production")
    return copied


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_profile(
    profile: str, branch: Path, production: Path, production_database: str, threads: int = 4
) -> dict[str, Any]:
    """A profiles.yml whose ``local`` target writes ``branch`` and reads ``production`` under
    the name production's relations carry (same target name: macros behave as locally)."""
    return {
        profile: {
            "target": "local",
            "outputs": {
                "local": {
                    "type": "duckdb",
                    "path": str(branch),
                    "schema": "analytics",
                    "threads": threads,
                    "attach": [
                        {"path": str(production), "alias": production_database, "read_only": True}
                    ],
                }
            },
        }
    }


@dataclass(frozen=True)
class SlimBuild:
    returncode: int
    results: dict[str, str]  # unique_id -> status, from run_results.json
    target_dir: Path
    sources_copied: list[str]

    @property
    def built(self) -> set[str]:
        return set(self.results)


def run_results(target_dir: Path) -> dict[str, str]:
    path = target_dir / "run_results.json"
    if not path.exists():
        return {}
    return {
        str(r["unique_id"]): str(r["status"])
        for r in json.loads(path.read_text(encoding="utf-8"))["results"]
        if not str(r["unique_id"]).startswith("operation.")
    }


def duckdb_slim_build(
    project_dir: Path,
    production: Path,
    branch: Path,
    state_dir: Path,
    dbt: str,
    target_dir: Path | None = None,
) -> SlimBuild:
    """Build ``state:modified+`` of ``project_dir`` into the fresh DuckDB file ``branch``,
    deferring every other node to the DuckDB file ``production`` built from ``state_dir``'s
    manifest."""
    state = read_manifest(require_production_state(state_dir))
    production_database = relation_database(state)
    if production_database == branch.stem:
        raise ValueError(
            f"branch: {branch.name} would be catalog {branch.stem!r}, the name production's "
            "relations use; give the branch file another name"
        )
    if not production.is_file():
        raise FileNotFoundError(f"production: no DuckDB file at {production}")
    branch.parent.mkdir(parents=True, exist_ok=True)
    branch.unlink(missing_ok=True)
    copied = copy_sources(production, branch, source_tables(state))
    profile = str(yaml.safe_load((project_dir / "dbt_project.yml").read_text())["profile"])
    target_dir = target_dir or branch.parent / f"{branch.stem}-target"
    with tempfile.TemporaryDirectory(prefix="slim-profiles-") as profiles_dir:
        Path(profiles_dir, "profiles.yml").write_text(
            yaml.safe_dump(duckdb_profile(profile, branch, production, production_database))
        )
        deferred = published_state(state_dir, Path(profiles_dir) / "state")
        completed = subprocess.run(
            [
                dbt,
                *slim_build_args(deferred),
                "--project-dir",
                str(project_dir),
                "--profiles-dir",
                profiles_dir,
                "--target-path",
                str(target_dir),
            ],
            check=False,
            env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
    return SlimBuild(completed.returncode, run_results(target_dir), target_dir, copied)


# --- CI: the base commit on DuckDB is production ----------------------------------------------


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def package_name() -> str:
    return __package__.split(".")[0] if __package__ else settings.PACKAGE_DIR.name


def build_base(base: Path, warehouse: Path) -> Path:
    """Materialize everything of the checkout ``base`` (``make run``'s pipeline, its own code
    first on the path) into ``warehouse``; returns its manifest (production state)."""
    base = base.resolve()  # PYTHONPATH must name the base's code whatever the working directory
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(base / "src"), os.environ.get("PYTHONPATH", "")]),
        "LOCAL_DUCKDB_PATH": str(warehouse),
    }
    env.pop("DAGSTER_HOME", None)  # a throwaway instance: the base's runs are no history
    for module in ("dbt_project", "local_pipeline"):
        subprocess.run(
            [sys.executable, "-m", f"{package_name()}.{module}"], cwd=base, env=env, check=True
        )
    manifest = base / "dbt_project" / "target" / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"building {base} left no manifest at {manifest}")
    return manifest


def ci(base: Path | None, workdir: Path) -> int:
    """CI's dbt build on DuckDB: slim against the base commit when there is one, else in full."""
    project_dir = settings.CHECKOUT_DBT_PROJECT_DIR
    dbt = dbt_executable()
    workdir.mkdir(parents=True, exist_ok=True)
    if base is None or not (base / "dbt_project" / "dbt_project.yml").is_file():
        print("No base commit checked out: no production state, so a full build.", flush=True)
        if settings.PROJECT_ROOT is None:
            raise FileNotFoundError("ci: not in a checkout")
        build_base(settings.PROJECT_ROOT, workdir / "full.duckdb")
        return 0
    production = workdir / "production.duckdb"
    production.unlink(missing_ok=True)
    print(f"Production state: the base commit in {base}, built in full on DuckDB.", flush=True)
    manifest = build_base(base, production)
    state_dir = workdir / "state"
    state_dir.mkdir(exist_ok=True)
    shutil.copy2(manifest, state_dir / "manifest.json")
    result = duckdb_slim_build(project_dir, production, workdir / "branch.duckdb", state_dir, dbt)
    print(f"Slim build: {len(result.built)} node(s) built or tested: {sorted(result.built)}")
    return result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Slim dbt builds deferring to production state.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_ci = commands.add_parser("ci", help="CI's DuckDB build: slim against --base, else full")
    run_ci.add_argument("--base", type=Path, help="a checkout of the base commit")
    run_ci.add_argument("--workdir", type=Path, default=Path("data/ci-slim"))
    args = parser.parse_args(argv)
    try:
        return ci(args.base.resolve() if args.base else None, args.workdir.resolve())
    except (MissingProductionStateError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(f"error: building the base commit failed ({error})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
