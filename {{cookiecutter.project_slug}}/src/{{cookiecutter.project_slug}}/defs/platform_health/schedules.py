"""Platform health runs weekly (Monday 06:00 UTC), after the week's dbt runs."""

import dagster as dg

from .assets import GROUP, PLATFORM_HEALTH_ASSETS
from .io_managers import IO_MANAGER_KEY, build_io_manager
from .resources import PlatformHealthResource

platform_health_job = dg.define_asset_job(
    "platform_health_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="The platform graph, stale reports, unused models, importance and proposals.",
)

platform_health_weekly_schedule = dg.ScheduleDefinition(
    name="platform_health_weekly_schedule",
    job=platform_health_job,
    cron_schedule="0 6 * * 1",
    execution_timezone="UTC",
)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=PLATFORM_HEALTH_ASSETS,
        jobs=[platform_health_job],
        schedules=[platform_health_weekly_schedule],
        resources={
            "platform_health": PlatformHealthResource(),
            IO_MANAGER_KEY: build_io_manager(),
        },
    )
