"""dbt models, snapshots and tests as Dagster assets and checks."""


from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...utils.dbt_translator import ProjectDbtTranslator
from ...utils.environment import Warehouse, get_database_for_environment, get_warehouse


def build_translator() -> ProjectDbtTranslator:
    """Links point at this deployment's physical database (none on DuckDB)."""
    if get_warehouse() is Warehouse.DUCKDB:
        return ProjectDbtTranslator()
    return ProjectDbtTranslator(physical_database=get_database_for_environment())


def build_dbt_assets() -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=build_translator(),
        name="dbt_models",
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        yield from dbt.cli(["build"], context=context).stream()

    return dbt_models


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_dbt_assets()])
