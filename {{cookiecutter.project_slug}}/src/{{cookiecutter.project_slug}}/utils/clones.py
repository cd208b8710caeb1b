"""Pull-request clones of the production database: names, guards and the SQL, free of Dagster.

A branch deployment works in ``<PRODUCTION>_CLONE_<pull request id>``, a zero-copy Snowflake clone
of production (a file copy on the local DuckDB warehouse). Everything destructive here goes
through :func:`require_clone`, which accepts exactly ``<PRODUCTION>_CLONE_<digits>``: whatever the
environment variables say, production (or anything else) can never be dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from .. import settings
from .environment import (
    Environment,
    UnsafeEnvironmentError,
    clone_database_name,
    get_environment,
    get_pull_request_id,
    is_production_clone,
)
from .identifiers import quote_identifier, validate_identifier


class NotAProductionCloneError(UnsafeEnvironmentError):
    """Refused: the database is not a pull-request clone of production."""


@dataclass(frozen=True)
class ClonePlan:
    """Which database a clone job copies from and writes to (both validated)."""

    production: str
    clone: str


def require_clone(database: str, production: str = settings.PRODUCTION_DATABASE) -> str:
    """``database`` upper-cased if it is exactly ``<production>_CLONE_<digits>``, else refuse."""
    if not isinstance(database, str) or not is_production_clone(database, production):
        raise NotAProductionCloneError(
            f"clone database: {database!r} is not {production}_CLONE_<pull request number>; "
            "refusing to drop or replace it"
        )
    return validate_identifier(database, "clone database")


def plan_for_this_deployment(allow_outside_branch_deployment: bool = False) -> ClonePlan:
    """The pull request's clone plan, only in a branch deployment unless explicitly allowed."""
    environment = get_environment()
    if environment is Environment.PROD:
        raise UnsafeEnvironmentError(
            "clone jobs: refusing to run in the production deployment "
            "(they only run in branch deployments)"
        )
    if environment is not Environment.BRANCH and not allow_outside_branch_deployment:
        raise UnsafeEnvironmentError(
            "clone jobs: not in a Dagster+ branch deployment; to try them locally set "
            "DAGSTER_CLOUD_PULL_REQUEST_ID=<number> and run config "
            "allow_outside_branch_deployment: true"
        )
    production = validate_identifier(settings.PRODUCTION_DATABASE, "production database")
    clone = require_clone(clone_database_name(get_pull_request_id(), production), production)
    return ClonePlan(production=production, clone=clone)


# --- Snowflake -------------------------------------------------------------------------------


def snowflake_drop_sql(clone: str) -> str:
    return f"DROP DATABASE IF EXISTS {quote_identifier(require_clone(clone))}"


def snowflake_clone_sql(plan: ClonePlan) -> list[str]:
    """Drop the pull request's old clone, then clone production afresh (zero-copy)."""
    return [
        snowflake_drop_sql(plan.clone),
        f"CREATE DATABASE {quote_identifier(require_clone(plan.clone))} "
        f"CLONE {quote_identifier(plan.production)}",
    ]


def snowflake_list_databases_sql(production: str = settings.PRODUCTION_DATABASE) -> str:
    """Every database the role sees with its last change; filtered in Python by the guard."""
    information_schema = f"{quote_identifier(production)}.INFORMATION_SCHEMA.DATABASES"
    # The only interpolated part is a validated, quoted identifier.
    return f"SELECT DATABASE_NAME, LAST_ALTERED FROM {information_schema}"  # noqa: S608


# --- Sweeper ---------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken as UTC (never compare naive with aware)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def stale_clones(
    databases: Iterable[tuple[str, datetime]],
    now: datetime,
    retention_days: int = settings.CLONE_RETENTION_DAYS,
    production: str = settings.PRODUCTION_DATABASE,
) -> list[str]:
    """Names of pull-request clones last changed more than ``retention_days`` before ``now``."""
    if retention_days < 1:
        raise ValueError(f"CLONE_RETENTION_DAYS: {retention_days} is not a positive number of days")
    cutoff = as_utc(now) - timedelta(days=retention_days)
    return sorted(
        name.upper()
        for name, last_altered in databases
        if is_production_clone(name, production) and as_utc(last_altered) < cutoff
    )


# --- DuckDB (local warehouse) ----------------------------------------------------------------


def duckdb_clone_path(warehouse: Path, clone: str) -> Path:
    """The clone's file, next to the local warehouse file: ``<dir>/<CLONE>.duckdb``."""
    return warehouse.parent / f"{require_clone(clone)}.duckdb"


def duckdb_clone(warehouse: Path, clone_path: Path) -> None:
    """Replace ``clone_path`` with a full copy of the ``warehouse`` database file."""
    require_clone(clone_path.stem)
    if not warehouse.exists():
        raise FileNotFoundError(
            f"local warehouse: {warehouse} does not exist; run `make run` first"
        )
    duckdb_drop(clone_path)
    with duckdb.connect() as connection:
        connection.execute("ATTACH ? AS source (READ_ONLY)", [str(warehouse)])
        connection.execute("ATTACH ? AS clone", [str(clone_path)])
        connection.execute("COPY FROM DATABASE source TO clone")


def duckdb_drop(clone_path: Path) -> bool:
    """Delete a clone's file (and its write-ahead log); True if there was one."""
    require_clone(clone_path.stem)
    existed = clone_path.exists()
    clone_path.unlink(missing_ok=True)
    clone_path.with_name(f"{clone_path.name}.wal").unlink(missing_ok=True)
    return existed


def duckdb_clones(warehouse: Path) -> list[tuple[str, datetime]]:
    """Clone files next to the warehouse with their last modification time (aware, UTC)."""
    return [
        (path.stem, datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
        for path in sorted(warehouse.parent.glob("*.duckdb"))
        if is_production_clone(path.stem)
    ]


__all__ = [
    "ClonePlan",
    "NotAProductionCloneError",
    "as_utc",
    "duckdb_clone",
    "duckdb_clone_path",
    "duckdb_clones",
    "duckdb_drop",
    "plan_for_this_deployment",
    "require_clone",
    "snowflake_clone_sql",
    "snowflake_drop_sql",
    "snowflake_list_databases_sql",
    "stale_clones",
]
