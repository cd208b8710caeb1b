"""Read, clone and drop pull-request clones in Snowflake and in the local DuckDB warehouse.

Both catalogs have the same four operations, each guarded the same way (``utils.clones``):

- ``describe(name)``: the database named exactly ``name`` with its marker, or None;
- ``databases()``: every database the sweeper may consider;
- ``clone(plan)``: replace the pull request's clone, refusing a database of that name that
  ``clone_prod`` did not make; the clone is marked complete only once every step passed;
- ``drop(name)``: drop a clone only when its name and marker prove ``clone_prod`` made it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb

from .clones import (
    SNOWFLAKE_SHOW_DATABASES_SQL,
    ClonePlan,
    DatabaseInfo,
    NotAProductionCloneError,
    as_utc,
    clone_marker,
    find_exact,
    require_clone_name,
    snowflake_clone_statements,
    snowflake_databases_sql,
    snowflake_drop_sql,
    snowflake_last_queries_sql,
    snowflake_sweeper_drop_sql,
    verify_origin,
)

DropOutcome = Literal["dropped", "missing", "in use"]


class IncompleteCloneError(RuntimeError):
    """clone_prod created the clone but a later step failed; the clone stays marked incomplete."""


class CloneCatalog(Protocol):
    def describe(self, name: str) -> DatabaseInfo | None: ...

    def databases(self) -> list[DatabaseInfo]: ...

    def last_queries(
        self, clones: Sequence[str], retention_days: int
    ) -> dict[str, datetime] | None:
        """The last query in each clone, or None when the warehouse will not tell."""
        ...

    def clone(self, plan: ClonePlan) -> None: ...

    def drop(self, name: str, unused_since: datetime | None = None) -> DropOutcome: ...


def _check_before_drop(
    info: DatabaseInfo | None, production: str, unused_since: datetime | None
) -> DropOutcome | None:
    """None when ``info`` may be dropped now; else why not (an unmarked database raises)."""
    if info is None:
        return "missing"
    verify_origin(info, production)
    # Re-cloned since the sweeper listed it (CREATE OR REPLACE resets the creation time).
    if (
        unused_since is not None
        and info.created is not None
        and as_utc(info.created) >= unused_since
    ):
        return "in use"
    return None


# --- Snowflake --------------------------------------------------------------------------------


def _rows_by_column(cursor: Any) -> list[dict[str, Any]]:
    """Rows as dicts keyed by lower-case column name (SHOW output gains columns over time)."""
    columns = [str(column[0]).lower() for column in cursor.description or []]
    return [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]


@dataclass
class SnowflakeCatalog:
    """Clones in Snowflake, through a connection factory such as ``SnowflakeResource.get_connection``."""

    connect: Callable[[], AbstractContextManager[Any]]
    production: str
    # Production's sweeper does not own the clones (the branch role does): it drops them through
    # the administrator's procedure instead of DROP DATABASE (docs/security.md).
    drop_through_procedure: bool = False

    def _run(self, statements: Iterable[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        with self.connect() as connection:
            cursor = connection.cursor()
            for statement in statements:
                cursor.execute(statement)
                rows = _rows_by_column(cursor)
        return rows

    def describe(self, name: str) -> DatabaseInfo | None:
        # SHOW DATABASES needs no current database; the exact name is picked here, because
        # SHOW ... LIKE matches case-insensitively and treats "_" as a wildcard.
        rows = self._run([SNOWFLAKE_SHOW_DATABASES_SQL])
        listed = (
            DatabaseInfo(
                name=str(row["name"]),
                comment=row.get("comment") or None,
                created=row.get("created_on"),
            )
            for row in rows
        )
        return find_exact(listed, name)

    def databases(self) -> list[DatabaseInfo]:
        rows = self._run([snowflake_databases_sql(self.production)])
        return [
            DatabaseInfo(
                name=str(row["database_name"]),
                comment=row.get("comment") or None,
                created=row.get("created"),
                last_altered=row.get("last_altered"),
            )
            for row in rows
        ]

    def last_queries(
        self, clones: Sequence[str], retention_days: int
    ) -> dict[str, datetime] | None:
        if not clones:
            return {}
        # Imported here: the Snowflake connector is only ever needed on Snowflake.
        from snowflake.connector.errors import ProgrammingError

        try:
            rows = self._run([snowflake_last_queries_sql(clones, retention_days, self.production)])
        except ProgrammingError:
            # "Object 'SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY' does not exist or not authorized":
            # the role lacks SNOWFLAKE.GOVERNANCE_VIEWER. The caller decides what to do.
            return None
        return {
            str(row["database_name"]): as_utc(row["last_query"])
            for row in rows
            if row.get("last_query") is not None
        }

    def clone(self, plan: ClonePlan) -> None:
        existing = self.describe(plan.clone)
        if existing is not None:
            verify_origin(existing, plan.production)
        create, *later = snowflake_clone_statements(plan)
        with self.connect() as connection:
            cursor = connection.cursor()
            cursor.execute(create)
            for statement in later:
                try:
                    cursor.execute(statement)
                except Exception as error:
                    raise IncompleteCloneError(
                        f"clone_prod: {plan.clone} was cloned but a later step failed "
                        f"({statement}: {error}); it stays marked incomplete, so "
                        "no push trusts it, and the next clone_prod clones it again"
                    ) from error

    def drop(self, name: str, unused_since: datetime | None = None) -> DropOutcome:
        require_clone_name(name, self.production)
        refused = _check_before_drop(self.describe(name), self.production, unused_since)
        if refused:
            return refused
        drop = snowflake_sweeper_drop_sql if self.drop_through_procedure else snowflake_drop_sql
        self._run([drop(name, self.production)])
        return "dropped"


# --- DuckDB (the local warehouse) ---------------------------------------------------------------

MARKER_SCHEMA = "_dagster_clone"
MARKER_TABLE = "origin"


@dataclass
class DuckDBCatalog:
    """Clones as DuckDB files next to the local warehouse: ``<dir>/<CLONE>.duckdb``.

    The marker is a one-row table ``_dagster_clone.origin`` inside the copy. The warehouse file
    itself is never replaced or deleted, whatever it is called.
    """

    warehouse: Path
    production: str

    @property
    def directory(self) -> Path:
        return self.warehouse.parent

    def path_of(self, name: str) -> Path:
        return self.directory / f"{require_clone_name(name, self.production)}.duckdb"

    def is_warehouse(self, path: Path) -> bool:
        if path.resolve() == self.warehouse.resolve():
            return True
        return path.exists() and self.warehouse.exists() and os.path.samefile(path, self.warehouse)

    def _refuse_warehouse(self, path: Path) -> None:
        if self.is_warehouse(path):
            raise NotAProductionCloneError(
                f"clone database: {path} is the local warehouse (LOCAL_DUCKDB_PATH); "
                "refusing to replace or drop it"
            )

    @staticmethod
    def read_marker(path: Path) -> tuple[str, datetime] | None:
        """The marker row of a clone file, or None (not a DuckDB file, no marker, locked)."""
        try:
            with duckdb.connect(str(path), read_only=True) as connection:
                row = connection.execute(
                    f'SELECT marker, created_at FROM "{MARKER_SCHEMA}"."{MARKER_TABLE}"'  # noqa: S608
                ).fetchone()
        except duckdb.Error:
            return None
        if row is None:
            return None
        return str(row[0]), as_utc(row[1])

    def _info(self, path: Path) -> DatabaseInfo:
        marker = self.read_marker(path)
        return DatabaseInfo(
            name=path.stem,
            comment=marker[0] if marker else None,
            created=marker[1] if marker else None,
            last_altered=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC),
        )

    def _files(self) -> list[Path]:
        return [
            path
            for path in sorted(self.directory.glob("*.duckdb"))
            if path.is_file() and not self.is_warehouse(path)
        ]

    def describe(self, name: str) -> DatabaseInfo | None:
        # Listed names, not path.exists(): on a case-insensitive file system "production_clone_9"
        # would find PRODUCTION_CLONE_9.duckdb.
        found = next((path for path in self._files() if path.stem == name), None)
        return None if found is None else self._info(found)

    def databases(self) -> list[DatabaseInfo]:
        return [self._info(path) for path in self._files()]

    def last_queries(
        self, clones: Sequence[str], retention_days: int
    ) -> dict[str, datetime] | None:
        return {}  # a DuckDB file keeps no query history; its modification time is its last change

    def clone(self, plan: ClonePlan) -> None:
        target = self.path_of(plan.clone)
        self._refuse_warehouse(target)
        if not self.warehouse.exists():
            raise FileNotFoundError(
                f"local warehouse: {self.warehouse} does not exist; run `make run` first"
            )
        existing = self.describe(plan.clone)
        if existing is not None:
            verify_origin(existing, plan.production)
        elif target.exists():
            raise NotAProductionCloneError(
                f"clone database: {target} exists under another spelling; refusing to replace it"
            )
        # Copy and mark beside the target, then swap it in with one rename: there is never a
        # moment without a clone, and never an unmarked clone under the clone's name.
        partial = self.directory / f".{target.name}.partial"
        for leftover in (partial, partial.with_name(f"{partial.name}.wal")):
            leftover.unlink(missing_ok=True)
        marker = clone_marker(plan.clone, plan.production)
        with duckdb.connect() as connection:
            connection.execute("ATTACH ? AS source (READ_ONLY)", [str(self.warehouse)])
            connection.execute("ATTACH ? AS clone", [str(partial)])
            connection.execute("COPY FROM DATABASE source TO clone")
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS clone."{MARKER_SCHEMA}"')
            connection.execute(
                f'CREATE OR REPLACE TABLE clone."{MARKER_SCHEMA}"."{MARKER_TABLE}" AS '
                "SELECT ?::VARCHAR AS marker, now() AS created_at",
                [marker],
            )
            connection.execute("DETACH clone")
        target.with_name(f"{target.name}.wal").unlink(missing_ok=True)
        os.replace(partial, target)

    def drop(self, name: str, unused_since: datetime | None = None) -> DropOutcome:
        target = self.path_of(name)
        self._refuse_warehouse(target)
        refused = _check_before_drop(self.describe(name), self.production, unused_since)
        if refused:
            return refused
        target.unlink()
        target.with_name(f"{target.name}.wal").unlink(missing_ok=True)
        return "dropped"


__all__ = [
    "CloneCatalog",
    "DropOutcome",
    "DuckDBCatalog",
    "IncompleteCloneError",
    "SnowflakeCatalog",
]
