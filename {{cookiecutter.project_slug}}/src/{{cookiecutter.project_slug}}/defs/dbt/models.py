"""Regular dbt models (views and tables): everything but incremental models and snapshots."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...utils.dbt_args import REGULAR_EXCLUDE, REGULAR_SELECT, regular_build_args
from ...utils.dbt_translator import ProjectDbtTranslator
from .common import blue_green_pool, once_per_translator, present
from .publishing import stream_published


@once_per_translator
def build_dbt_models(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Views, tables and ephemeral models (every model that is not incremental), seeds, and
    their tests as asset checks. Marts published blue/green are materialized only once
    promoted (``stream_published``); steps that can build them share ``BLUE_GREEN_POOL``."""

    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=REGULAR_SELECT,
        exclude=REGULAR_EXCLUDE,
        dagster_dbt_translator=translator,
        name="dbt_models",
        pool=blue_green_pool(incremental=False),
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        invocation = dbt.cli(regular_build_args(), context=context, raise_on_error=False)
        yield from stream_published(invocation)

    return dbt_models


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=present(build_dbt_models()))
