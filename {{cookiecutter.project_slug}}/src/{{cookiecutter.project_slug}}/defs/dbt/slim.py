"""``dbt_slim_branch_build``: build what a pull request changed, deferring the rest to production.

CI launches it in the branch deployment once the deploy and the clone are ready
(``ci/dagster_plus.py launch dbt_slim_branch_build``; a failed run fails CI). It runs

    dbt build --select state:modified+ --defer --state <dbt project>/state

inside the pull request's clone (the ``branch_deployment`` target), where ``state/manifest.json``
is the manifest production last deployed, fetched by the branch deploy (``utils.dbt_state``).
Each model built is reported as a materialization of its asset, each test as an observation; a
mart published blue/green only once the clone's promotion published it (``publishing.py``), and
the op shares ``BLUE_GREEN_POOL`` with every other step that can build one. A published mart the
build does not rebuild is read at its published table, never ``_blue``: deferred, from
production's manifest rewritten so (``utils.dbt_state.published_state``); in the clone, from a
blue the run's on-run-start refreshed from green (macros/blue_green/). Production has no such
job; elsewhere it runs only when asked to (``allow_outside_branch_deployment``).
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from ...utils.dbt_state import (
    MissingProductionStateError,
    production_state_dir,
    published_state,
    slim_build_args,
)
from ...utils.environment import Environment, get_environment
from .common import assets_manifest, blue_green_pool, build_translator
from .jobs import failed_results
from .publishing import stream_published

JOB_NAME = "dbt_slim_branch_build"


class SlimBuildConfig(dg.Config):
    allow_outside_branch_deployment: bool = False
    """Let a developer run it outside a branch deployment (LOCAL); production always refuses."""
    state_dir: str = ""
    """Folder holding production's ``manifest.json``; empty: the dbt project's ``state/``
    (where ``dg plus integrations dbt download-manifest`` puts it on a laptop, too)."""


def state_dir_for(config: SlimBuildConfig) -> Path:
    environment = get_environment()
    if environment is Environment.PROD:
        raise dg.Failure(f"{JOB_NAME} never runs in production: it builds only a branch's changes")
    if environment is not Environment.BRANCH and not config.allow_outside_branch_deployment:
        raise dg.Failure(
            f"{JOB_NAME} runs in branch deployments; set allow_outside_branch_deployment to run "
            "it elsewhere"
        )
    return Path(config.state_dir) if config.state_dir else production_state_dir()


@dg.op(tags={"kind": "dbt"}, out=dg.Out(dg.Nothing), pool=blue_green_pool())
def dbt_slim_build(
    context: dg.OpExecutionContext, config: SlimBuildConfig, dbt: DbtCliResource
) -> Iterator[Any]:
    """``dbt build --select state:modified+ --defer --state <production state>``."""
    with tempfile.TemporaryDirectory(prefix="published-state-") as deferred:
        try:
            # Production's manifest with its blue/green marts at their published tables.
            args = slim_build_args(published_state(state_dir_for(config), Path(deferred)))
        except MissingProductionStateError as error:
            raise dg.Failure(description=str(error)) from error
        invocation = dbt.cli(
            args,
            manifest=assets_manifest(),
            dagster_dbt_translator=build_translator(),
            raise_on_error=False,
        )
        problem = ""
        try:
            yield from stream_published(invocation)
        except dg.Failure as error:
            problem = error.description or "see the dbt log"
    run_results = invocation.get_artifact("run_results.json")
    built = [r["unique_id"] for r in run_results["results"]]
    # Exposures downstream of a change are part of the selection; dbt reports them as no-ops.
    failed = [u for u in failed_results(run_results) if not u.startswith("exposure.")]
    if failed or problem:
        raise dg.Failure(
            f"slim dbt build failed: {', '.join(failed) or 'see the dbt log'}"
            + (f"\n\n{problem}" if problem else "")
        )
    context.log.info(f"Slim build: {len(built)} node(s): {', '.join(built) or 'nothing changed'}")
    yield dg.Output(None, metadata={"built": dg.MetadataValue.json(built)})


@dg.job(name=JOB_NAME, description="Build what this pull request changed; defer the rest.")
def dbt_slim_branch_build() -> None:
    dbt_slim_build()


@dg.definitions
def defs() -> dg.Definitions:
    """Branch deployments (and laptops) only."""
    if get_environment() is Environment.PROD:
        return dg.Definitions()
    return dg.Definitions(jobs=[dbt_slim_branch_build])
