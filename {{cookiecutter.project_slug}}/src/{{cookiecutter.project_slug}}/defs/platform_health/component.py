"""The platform-health component: what ``defs.yaml`` beside it declares, built into assets, a job,
a schedule and their resources.

Everything platform health is lives in this folder (``lib/`` is its pure logic, with no
Dagster); nothing outside imports it, so the folder comes and goes whole
(docs/upgrading.md: "Adding or removing a feature").
"""

from typing import Literal

import dagster as dg

from .assets import GROUP, PLATFORM_HEALTH_ASSETS
from .io_managers import IO_MANAGER_KEY, build_io_manager
from .resources import PlatformHealthResource

JOB_NAME = "platform_health_job"
SCHEDULE_NAME = "platform_health_weekly_schedule"


class PlatformHealth(dg.Component, dg.Model, dg.Resolvable):
    """The weekly metapipeline: the platform graph, stale reports, unused models, importance, and
    the pull or merge requests keeping dbt exposures current."""

    bi_tool: Literal["none", "superset", "mode"] = "none"
    """Where BI reports come from ("none": dbt exposures are the only consumers)."""
    code_host: Literal["github", "gitlab"]
    """Where proposals go: GitHub pull requests or GitLab merge requests."""
    cron_schedule: str = "0 6 * * 1"
    """When it runs: after the week's dbt runs (Monday 06:00 by default)."""
    execution_timezone: str = "UTC"

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        job = dg.define_asset_job(
            JOB_NAME,
            selection=dg.AssetSelection.groups(GROUP),
            description="The platform graph, stale reports, unused models, importance and proposals.",
        )
        schedule = dg.ScheduleDefinition(
            name=SCHEDULE_NAME,
            job=job,
            cron_schedule=self.cron_schedule,
            execution_timezone=self.execution_timezone,
        )
        return dg.Definitions(
            assets=PLATFORM_HEALTH_ASSETS,
            jobs=[job],
            schedules=[schedule],
            resources={
                "platform_health": PlatformHealthResource(
                    bi_tool=self.bi_tool, ci_provider=self.code_host
                ),
                IO_MANAGER_KEY: build_io_manager(),
            },
        )
