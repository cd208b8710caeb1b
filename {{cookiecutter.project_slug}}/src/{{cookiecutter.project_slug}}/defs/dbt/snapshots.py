"""dbt snapshots: ``dbt snapshot``, one at a time (pool ``dbt-snapshots``, limit 1).

Two snapshot runs overlapping could both record the same change; the pool's limit is set in
dagster.yaml (locally and self-hosted) or in the deployment's Concurrency settings (Dagster+,
docs/dbt.md).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...utils.dbt_args import SNAPSHOTS_SELECT, snapshot_args
from ...utils.dbt_translator import ProjectDbtTranslator
from .common import SNAPSHOTS_POOL, assets_manifest, once_per_translator, present


@once_per_translator
def build_dbt_snapshots(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Every dbt snapshot, run by ``dbt snapshot``."""

    @dbt_assets(
        manifest=assets_manifest(),
        project=dbt_project,
        select=SNAPSHOTS_SELECT,
        dagster_dbt_translator=translator,
        name="dbt_snapshots",
        pool=SNAPSHOTS_POOL,
    )
    def dbt_snapshots(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        yield from dbt.cli(snapshot_args(), context=context).stream()

    return dbt_snapshots


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=present(build_dbt_snapshots()))
