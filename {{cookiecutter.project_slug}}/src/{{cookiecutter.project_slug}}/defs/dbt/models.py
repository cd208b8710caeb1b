"""Regular dbt models (views and tables): everything but incremental models and snapshots."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...utils.dbt_args import REGULAR_EXCLUDE, REGULAR_SELECT, regular_build_args
from ...utils.dbt_translator import ProjectDbtTranslator
from .common import (
    assets_manifest,
    blue_green_pool,
    once_per_translator,
    present,
    source_writers_selection,
)
from .publishing import stream_published


@once_per_translator
def build_dbt_models(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Views, tables and ephemeral models (every model that is not incremental), seeds (but the
    source writers), and their tests as asset checks. Marts published blue/green are
    materialized only once promoted (``stream_published``); steps that can build them share
    ``BLUE_GREEN_POOL``."""
    writers = source_writers_selection()

    @dbt_assets(
        manifest=assets_manifest(),
        project=dbt_project,
        select=REGULAR_SELECT,
        exclude=f"{REGULAR_EXCLUDE} {writers}" if writers else REGULAR_EXCLUDE,
        dagster_dbt_translator=translator,
        name="dbt_models",
        pool=blue_green_pool(incremental=False),
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        invocation = dbt.cli(regular_build_args(), context=context, raise_on_error=False)
        yield from stream_published(invocation)

    return dbt_models


@once_per_translator
def build_dbt_source_writers(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """The seeds writing a table a dbt source reads, with the source's tests as their checks
    (``utils/source_writers.py``): a step of their own, so Dagster runs it before the models
    reading the source, which dbt does not know depend on the seeds. No asset when there is
    none."""
    writers = source_writers_selection()

    @dbt_assets(
        manifest=assets_manifest(),
        project=dbt_project,
        # Nothing to select: a selection no node matches, so the definition holds no asset.
        select=writers or "fqn:*",
        exclude=None if writers else "fqn:*",
        dagster_dbt_translator=translator,
        name="dbt_source_writers",
    )
    def dbt_source_writers(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        # dbt attaches the source's tests to the source, not the seed: in one `dbt build` they
        # could run before the seed is loaded. Seed, then test.
        yield from dbt.cli(["seed"], context=context).stream()
        yield from dbt.cli(["test"], context=context).stream()

    return dbt_source_writers


def regular_dbt_definitions() -> list[dg.AssetsDefinition]:
    """The regular models' definitions this project has: the source writers (when there are
    any) and the rest."""
    writers = [build_dbt_source_writers()] if source_writers_selection() else []
    return present(*writers, build_dbt_models())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=regular_dbt_definitions())
