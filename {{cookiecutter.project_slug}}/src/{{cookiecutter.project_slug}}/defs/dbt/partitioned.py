"""Incremental and microbatch dbt models, daily-partitioned.

One run covers one partition, or a whole range in a backfill (single-run backfill policy):
incremental models receive the window as ``--vars``, microbatch models as
``--event-time-start/--event-time-end`` and dbt runs one batch per day of it.
"""

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...utils.dbt_args import (
    INCREMENTAL_EXCLUDE,
    INCREMENTAL_SELECT,
    MICROBATCH_SELECT,
    incremental_build_args,
    microbatch_build_args,
)
from ...utils.dbt_translator import ProjectDbtTranslator
from .common import DAILY_PARTITIONS, once_per_translator, present


def _partitioned_dbt_assets(
    name: str,
    select: str,
    exclude: str | None,
    build_args: Callable[[datetime, datetime], list[str]],
    translator: ProjectDbtTranslator,
) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        select=select,
        exclude=exclude,
        dagster_dbt_translator=translator,
        partitions_def=DAILY_PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        name=name,
    )
    def _assets(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        window = context.partition_time_window
        yield from dbt.cli(build_args(window.start, window.end), context=context).stream()

    return _assets


@once_per_translator
def build_incremental_models(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Incremental models other than microbatch ones, one daily partition (or range) a run."""
    return _partitioned_dbt_assets(
        "dbt_incremental_models",
        INCREMENTAL_SELECT,
        INCREMENTAL_EXCLUDE,
        incremental_build_args,
        translator,
    )


@once_per_translator
def build_microbatch_models(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Microbatch models: dbt runs one batch per day of the partition window."""
    return _partitioned_dbt_assets(
        "dbt_microbatch_models", MICROBATCH_SELECT, None, microbatch_build_args, translator
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=present(build_incremental_models(), build_microbatch_models()))
