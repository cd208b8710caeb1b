"""Incremental dbt models (microbatch ones included), daily-partitioned.

One run covers one partition, or a whole range in a backfill (single-run backfill policy), in one
dbt process: incremental models read the window with ``partition_start()``/``partition_end()``
(dbt macros reading it from the process's environment, so dbt's partial parsing survives a new
window), microbatch models get ``--event-time-start/--event-time-end`` and dbt runs one batch
per day of it. Models that read ``var('start_date')`` instead get ``--vars`` too.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ...dbt_project import dbt_project
from ...resources import environment_variables
from ...utils.dbt_args import INCREMENTAL_SELECT, partition_window_env, partitioned_build_args
from ...utils.dbt_translator import ProjectDbtTranslator
from .common import (
    DAILY_PARTITIONS,
    assets_manifest,
    blue_green_pool,
    load_manifest,
    once_per_translator,
    present,
    reads_partition_vars,
)
from .publishing import stream_published


@once_per_translator
def build_partitioned_models(translator: ProjectDbtTranslator) -> dg.AssetsDefinition:
    """Every incremental model, one daily partition (or range of them) a run."""
    window_vars = dbt_project.manifest_path.exists() and reads_partition_vars(load_manifest())

    @dbt_assets(
        manifest=assets_manifest(),
        project=dbt_project,
        select=INCREMENTAL_SELECT,
        dagster_dbt_translator=translator,
        partitions_def=DAILY_PARTITIONS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="dbt_partitioned_models",
        # Only if an incremental model is published blue/green (publishing.py).
        pool=blue_green_pool(incremental=True),
    )
    def dbt_partitioned_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource
    ) -> Iterator[Any]:
        window = context.partition_time_window
        # dbt starts inside dbt.cli() and inherits the window with the rest of the environment.
        with environment_variables(partition_window_env(window.start, window.end)):
            invocation = dbt.cli(
                partitioned_build_args(window.start, window.end, window_vars),
                context=context,
                raise_on_error=False,
            )
        yield from stream_published(invocation)

    return dbt_partitioned_models


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=present(build_partitioned_models()))
