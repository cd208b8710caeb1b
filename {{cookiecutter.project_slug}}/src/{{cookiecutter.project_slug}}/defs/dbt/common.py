"""What every dbt definition shares: the translator for this deployment, partitions, run tags."""

import dagster as dg

from ...utils.dbt_args import PARTITIONS_START_DATE
from ...utils.dbt_translator import ProjectDbtTranslator
from ...utils.environment import Warehouse, get_database_for_environment, get_warehouse

DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, timezone="UTC")

# Retry a failed run up to 3 times from the assets that failed, not from the first step; a
# failed dbt test (an asset check) is not worth a retry.
RETRY_TAGS = {
    "dagster/max_retries": "3",
    "dagster/retry_strategy": "FROM_ASSET_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}

SNAPSHOTS_POOL = "dbt-snapshots"


def build_translator() -> ProjectDbtTranslator:
    """Links point at this deployment's physical database (none on DuckDB)."""
    if get_warehouse() is Warehouse.DUCKDB:
        return ProjectDbtTranslator()
    return ProjectDbtTranslator(physical_database=get_database_for_environment())
