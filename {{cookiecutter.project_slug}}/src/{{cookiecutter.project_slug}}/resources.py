"""Resources for the current environment, built from ``utils.environment`` answers only.

Credentials are ``dg.EnvVar`` references resolved when a run starts, so definitions load with no
secret set (``dg check defs`` in CI, the Docker build) and no secret ever sits in a file.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import dagster as dg
from dagster._core.storage.db_io_manager import DbTypeHandler
from dagster_dbt import DbtCliInvocation, DbtCliResource
from dagster_duckdb import DuckDBIOManager, DuckDBResource
from packaging import version

from . import settings
from .utils import interrupts
from .utils.environment import (
    Environment,
    Warehouse,
    get_database_for_environment,
    get_dbt_environment_variables,
    get_dbt_target,
    get_duckdb_path,
    get_environment,
    get_schema_for_environment,
    get_snowflake_auth_variables,
    get_warehouse,
)


def dbt_executable() -> str:
    """The ``dbt`` next to this interpreter, so an unactivated venv still finds it."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


@contextlib.contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment (what a process started now inherits), and
    the previous values back afterwards."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_environment_variables() -> contextlib.AbstractContextManager[None]:
    """The variables profiles.yml reads for this environment, set while dbt starts."""
    return environment_variables(get_dbt_environment_variables())


class ProjectDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that hands dbt the database, schema and DuckDB file of this environment.

    profiles.yml reads them as ``env_var(...)``; computing them here keeps ``utils.environment``
    the only place that decides them (the dbt process inherits the variables at start).
    """

    def cli(self, args: Sequence[str], **kwargs: Any) -> Any:
        # Workaround for dagster-dbt 0.29.27: `DbtCliResource.cli()` builds its dbt adapter
        # handle (seconds of work before dbt starts) inside a bare `except:`, which also catches
        # Dagster's DagsterExecutionInterruptedError (KeyboardInterrupt outside a step): a
        # Ctrl-C/SIGTERM there was logged as a warning, dbt ran anyway and the run went on to
        # succeed. The watch notes the interrupt and raises it again once cli() returns (after
        # stopping the dbt it started). Drop it, and _InterruptibleDbtCliInvocation, once
        # dagster-dbt catches `Exception` there and in `DbtCliInvocation._stream_stdout`.
        with dbt_environment_variables(), interrupts.InterruptWatch() as watch:
            invocation = super().cli(args, **kwargs)
            try:
                watch.check()
            except BaseException:
                interrupts.stop_process(invocation.process, invocation.termination_timeout_seconds)
                raise
        invocation.__class__ = _InterruptibleDbtCliInvocation
        interrupts.track(invocation.process)
        return invocation

    @functools.cached_property
    def _cli_version(self) -> version.Version:
        """dbt-core's version from this environment's package metadata.

        dagster-dbt would run ``dbt --version`` once per run instead: a process start (~2 s) and
        a request to PyPI, where dbt looks up its latest release (``make run`` stays offline).
        Only the dbt beside this interpreter is known to be this environment's dbt-core; any
        other executable (e.g. dbt Fusion) is still asked.
        """
        if Path(self.dbt_executable) == Path(sys.executable).with_name("dbt"):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version


class _InterruptibleDbtCliInvocation(DbtCliInvocation):
    """``DbtCliInvocation`` whose dbt stops when reading its output stops early.

    dagster-dbt forwards an interrupt to dbt only when it lands while waiting for dbt's next
    line. One landing while Dagster handles a line (most of a busy step's time) fails the step
    without stopping dbt, which went on holding the DuckDB file. And dagster-dbt 0.29.27 parses
    each line inside a bare ``except:`` that swallows an interrupt landing there: each line is read
    under a watch of its own (Dagster installs a fresh handler for every resumption of the step)
    that raises it again.
    """

    def _stream_stdout(self) -> Iterator[str | dict[str, Any]]:
        lines = super()._stream_stdout()
        end = object()
        try:
            while True:
                with interrupts.InterruptWatch() as watch:
                    line = next(lines, end)
                    watch.check()
                if line is end:
                    return
                yield cast("str | dict[str, Any]", line)
        except BaseException:  # the interrupt, or GeneratorExit when the step gave up on dbt
            interrupts.stop_process(self.process, self.termination_timeout_seconds)
            raise


class DuckDBPandasIOManager(DuckDBIOManager):
    """dagster-duckdb-pandas' I/O manager, with pandas imported when a run first stores or
    loads a frame instead of when the definitions load (utils/frames.py)."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler[Any]]:
        from dagster_duckdb_pandas import DuckDBPandasTypeHandler

        return [DuckDBPandasTypeHandler()]

    @staticmethod
    def default_load_type() -> type:
        import pandas as pd

        return pd.DataFrame


def build_dbt_resource() -> ProjectDbtCliResource:
    return ProjectDbtCliResource(
        project_dir=os.fspath(settings.DBT_PROJECT_DIR),
        profiles_dir=os.fspath(settings.DBT_PROJECT_DIR),
        target=get_dbt_target(),
        dbt_executable=dbt_executable(),
    )


def snowflake_role() -> str:
    """The branch role in branch deployments (it can write only to clones), else the main role.

    The grants, not this choice, are what keep a branch deployment out of production: the
    branch deployments' Snowflake user holds only the branch role (docs/security.md).
    """
    if get_environment() is Environment.BRANCH:
        return settings.SNOWFLAKE_BRANCH_ROLE
    return settings.SNOWFLAKE_ROLE


def snowflake_connection_config() -> dict[str, Any]:
    """Connection settings shared by the SQL resource and the I/O manager."""
    credentials = {key: dg.EnvVar(name) for key, name in get_snowflake_auth_variables().items()}
    return {
        "account": settings.SNOWFLAKE_ACCOUNT,
        "warehouse": settings.SNOWFLAKE_WAREHOUSE,
        "role": snowflake_role(),
        "database": get_database_for_environment(),
        **credentials,
    }


class WarehouseResource(Protocol):
    """The ``warehouse`` resource, on either warehouse: :class:`DuckDBWarehouse` below or
    ``snowflake_warehouse.SnowflakeWarehouse``. Code that runs SQL asks its ``dialect``, never its
    class; ``database`` is what it connects to (DuckDB: the file)."""

    dialect: ClassVar[str]
    database: Any

    def get_connection(self) -> contextlib.AbstractContextManager[Any]: ...


class DuckDBWarehouse(DuckDBResource):
    """``warehouse`` on DuckDB: the environment's file (``utils.environment.get_duckdb_path``)."""

    dialect: ClassVar[str] = "duckdb"


def build_warehouse_resources() -> dict[str, Any]:
    """``io_manager`` for the Python assets and ``warehouse`` for SQL, on DuckDB or Snowflake."""
    if get_warehouse() is Warehouse.DUCKDB:
        path = os.fspath(get_duckdb_path())
        return {
            "io_manager": DuckDBPandasIOManager(database=path),
            "warehouse": DuckDBWarehouse(database=path),
        }
    # Imported only for Snowflake: the Snowflake integrations take seconds to import, which
    # every local process (make run, make test, dg dev) would otherwise pay on DuckDB.
    from dagster_snowflake_pandas import SnowflakePandasIOManager

    from .snowflake_warehouse import SnowflakeWarehouse

    config = snowflake_connection_config()
    # In a personal sandbox every table goes to the developer's schema; elsewhere the schema
    # comes from the asset key, i.e. exactly where the table lives in production.
    schema = (
        get_schema_for_environment(settings.RAW_SCHEMA)
        if get_environment() is Environment.LOCAL
        else None
    )
    return {
        "io_manager": SnowflakePandasIOManager(**config, schema=schema),
        "warehouse": SnowflakeWarehouse(**config),
    }


def build_resources() -> dict[str, Any]:
    return {**build_warehouse_resources(), "dbt": build_dbt_resource()}
