"""What every dbt definition shares: the translator for this deployment, partitions, run tags."""

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from ...dbt_project import dbt_project
from ...utils.dbt_args import PARTITIONS_START_DATE, reads_window_vars
from ...utils.dbt_translator import ProjectDbtTranslator
from ...utils.environment import Warehouse, get_database_for_environment, get_warehouse
from ...utils.source_writers import merge_written_sources, source_writers, writer_selection
from .publishing import publishes_blue_green

DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, timezone="UTC")

# Retry a failed run up to 3 times from the assets that failed, not from the first step; a
# failed dbt test (an asset check) is not worth a retry.
RETRY_TAGS = {
    "dagster/max_retries": "3",
    "dagster/retry_strategy": "FROM_ASSET_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}

SNAPSHOTS_POOL = "dbt-snapshots"
# Every dbt step that may select a blue/green model: its on-run-start drops and refills
# <schema>_blue, so a second one overlapping would rebuild blue under the first one's tests and
# promotion. dagster.yaml (default_limit: 1), or Dagster+'s Concurrency settings, make it one.
BLUE_GREEN_POOL = "dbt-blue-green"


@functools.cache
def _translator(physical_database: str | None) -> ProjectDbtTranslator:
    return ProjectDbtTranslator(physical_database=physical_database)


def build_translator() -> ProjectDbtTranslator:
    """Links point at this deployment's physical database (none on DuckDB).

    One translator per physical database, so each dbt definition below is built once per
    environment however many modules ask for it (the environment is still read at call time).
    """
    if get_warehouse() is Warehouse.DUCKDB:
        return _translator(None)
    return _translator(get_database_for_environment())


@functools.lru_cache(maxsize=1)  # the latest parse only: dg dev re-parses in one process
def _manifest(path: str, version: int) -> Mapping[str, Any]:
    manifest: Mapping[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return manifest


def load_manifest(path: Path = dbt_project.manifest_path) -> Mapping[str, Any]:
    """The parsed manifest, read once per version of the file for every module that loads the
    definitions from it (read-only: it is shared)."""
    return _manifest(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _written(path: str, version: int) -> Mapping[str, str]:
    """``source_writers`` of the manifest, once per version for both uses below."""
    return source_writers(_manifest(path, version))


@functools.lru_cache(maxsize=1)
def _merged(path: str, version: int) -> Mapping[str, Any]:
    return merge_written_sources(_manifest(path, version), _written(path, version))


def reads_partition_vars(manifest: Mapping[str, Any]) -> bool:
    """Whether an incremental model, or a macro of the project, reads the partition window as
    ``var('start_date')``/``var('end_date')``: then runs hand it as ``--vars`` too."""
    project = manifest.get("metadata", {}).get("project_name")
    models = [
        node.get("raw_code", "")
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
        and node.get("config", {}).get("materialized") == "incremental"
    ]
    macros = [
        macro.get("macro_sql", "")
        for macro in manifest.get("macros", {}).values()
        if macro.get("package_name") == project
    ]
    return reads_window_vars([*models, *macros])


def assets_manifest() -> Mapping[str, Any] | Path:
    """What every ``@dbt_assets`` reads: the manifest with each source the project writes merged
    into its writer (``utils/source_writers.py``); the path while there is none, so dagster-dbt
    says how to make one."""
    path = dbt_project.manifest_path
    if not path.exists():
        return path
    return _merged(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _writers(path: str, version: int) -> str:
    return writer_selection(_manifest(path, version), _written(path, version))


def source_writers_selection() -> str:
    """dbt selection of the source-writers step (``writer_selection``); empty without one."""
    path = dbt_project.manifest_path
    if not path.exists():
        return ""
    return _writers(str(path), path.stat().st_mtime_ns)


def blue_green_pool(incremental: bool | None = None) -> str | None:
    """``BLUE_GREEN_POOL`` for a dbt step that can select a model published blue/green (among
    incremental models only, the others only, or any: ``incremental``), else None (no pool).
    No manifest yet: None, and dagster-dbt then says how to make one."""
    if not dbt_project.manifest_path.exists():
        return None
    return BLUE_GREEN_POOL if publishes_blue_green(load_manifest(), incremental) else None


def once_per_translator(
    build: Callable[[ProjectDbtTranslator], dg.AssetsDefinition],
) -> Callable[[], dg.AssetsDefinition]:
    """``build(translator)`` for this environment's translator, built once and then reused
    while the manifest file is unchanged (a re-parse in the same process builds afresh)."""

    @functools.cache
    def cached(translator: ProjectDbtTranslator, manifest_version: int) -> dg.AssetsDefinition:
        return build(translator)

    def for_this_environment() -> dg.AssetsDefinition:
        manifest = dbt_project.manifest_path
        # No manifest yet: build anyway, so dagster-dbt says how to make one.
        version = manifest.stat().st_mtime_ns if manifest.exists() else 0
        return cached(build_translator(), version)

    for_this_environment.__doc__ = build.__doc__
    return for_this_environment


def present(*definitions: dg.AssetsDefinition) -> list[dg.AssetsDefinition]:
    """The definitions that hold at least one asset: a dbt project without, say, snapshots or
    incremental models gets no empty definition (nor the jobs and schedules that would run it)."""
    return [definition for definition in definitions if definition.keys]
