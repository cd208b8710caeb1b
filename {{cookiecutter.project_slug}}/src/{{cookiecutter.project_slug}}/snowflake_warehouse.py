"""``warehouse`` on Snowflake (``resources.WarehouseResource``), imported only where the
warehouse is Snowflake: dagster_snowflake takes seconds to import, which no DuckDB process should
pay."""

from typing import ClassVar

from dagster_snowflake import SnowflakeResource


class SnowflakeWarehouse(SnowflakeResource):
    """``warehouse`` on Snowflake: the environment's database, as its role."""

    dialect: ClassVar[str] = "snowflake"
