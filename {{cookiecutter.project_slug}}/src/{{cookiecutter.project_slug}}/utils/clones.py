"""Pull-request clones of production: names, proof of origin, SQL and sweeping rules.

A branch deployment works in ``<PRODUCTION>_CLONE_<pull request>``, a zero-copy Snowflake clone
of production (a file copy of the local DuckDB warehouse). A name alone proves nothing: a
hand-made backup, the sandbox or the local warehouse can be *called* that. So ``clone_prod``
marks what it creates (a Snowflake database COMMENT written by the very statement that clones,
a marker table inside the DuckDB copy), and nothing is replaced or dropped unless it is named
exactly as this project names its clones (no case folding, canonical pull request numbers) AND
carries the marker made for that exact name.

On Snowflake a clone takes several statements (clone, hand-over, visibility for the sweeper). The
clone is first marked *incomplete*; only the last statement writes the complete marker. A clone
whose later steps failed is still clone_prod's (it may be replaced or dropped) but is never
trusted as ready: the next ``clone_prod``, ``keep_existing`` or not, clones it again. Production and the sandbox are refused by name
before anything is even looked up. Everything here is free of Dagster and of I/O; the catalogs
that read and write the warehouses are in ``clone_catalogs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import settings
from .environment import (
    Environment,
    UnsafeEnvironmentError,
    clone_database_name,
    clone_name_prefix,
    clone_pull_request_id,
    get_environment,
    get_pull_request_id,
)
from .identifiers import quote_identifier, validate_identifier

# The project the clones belong to (the package name): part of every marker, so a project never
# adopts a clone that another project sharing the production database made.
PROJECT = __name__.split(".")[0]
MARKER_PREFIX = "dagster clone_prod v1"
# Appended to the marker until every step of clone_prod has finished (see the module docstring).
INCOMPLETE_SUFFIX = "; state=incomplete"
# The owner's-rights procedures, installed once by an administrator (docs/security.md): one hands
# a fresh clone's schemas, tables and views over to the branch role; the other lets production's
# sweeper drop a clone without holding the branch role (and so its CREATE DATABASE).
HAND_OVER_SCHEMA = "CLONE_ADMIN"
HAND_OVER_PROCEDURE = "HAND_OVER_CLONE"
DROP_PROCEDURE = "DROP_CLONE"
# Where Snowflake records every query with the database it ran in (needs a grant, see docs).
QUERY_HISTORY = "SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY"


class NotAProductionCloneError(UnsafeEnvironmentError):
    """Refused: the database is not a pull-request clone that ``clone_prod`` made."""


@dataclass(frozen=True)
class ClonePlan:
    """Which database a clone job copies from and writes to (both validated)."""

    production: str
    clone: str
    pull_request: str


@dataclass(frozen=True)
class DatabaseInfo:
    """One database as the warehouse lists it: exact name, comment (marker) and times (UTC)."""

    name: str
    comment: str | None
    created: datetime | None
    last_altered: datetime | None = None


def clone_marker(
    clone: str, production: str = settings.PRODUCTION_DATABASE, complete: bool = True
) -> str:
    """The proof of origin ``clone_prod`` writes on ``clone``: project, source and pull request.

    Derived from the exact clone name, so a marked database copied or renamed under another
    clone's name no longer matches. ``complete=False``: the marker a clone carries until every
    step of ``clone_prod`` has finished.
    """
    pull_request = clone_pull_request_id(clone, production)
    if pull_request is None:
        raise NotAProductionCloneError(
            f"clone database: {clone!r} is not named like this project's pull-request clones "
            f"({clone_name_prefix(production)}<pull request number>)"
        )
    source = validate_identifier(production, "production database")
    marker = f"{MARKER_PREFIX}; project={PROJECT}; source={source}; pull_request={pull_request}"
    return marker if complete else marker + INCOMPLETE_SUFFIX


def require_clone_name(database: str, production: str = settings.PRODUCTION_DATABASE) -> str:
    """``database`` if it is exactly one of this project's clone names; never production or the
    sandbox, whatever the settings or environment say."""
    if not isinstance(database, str):
        raise NotAProductionCloneError(f"clone database: {database!r} is not a database name")
    protected = {
        validate_identifier(production, "production database"),
        validate_identifier(settings.PRODUCTION_DATABASE, "production database"),
        validate_identifier(settings.SANDBOX_DATABASE, "sandbox database"),
    }
    if database.upper() in protected:
        raise NotAProductionCloneError(
            f"clone database: {database!r} is the production or sandbox database; "
            "refusing to create, replace or drop it"
        )
    clone_marker(database, production)  # raises unless the name is exactly a clone name
    return validate_identifier(database, "clone database")


def verify_origin(info: DatabaseInfo, production: str = settings.PRODUCTION_DATABASE) -> None:
    """Refuse unless ``info`` is exactly a clone name and carries the marker made for it
    (complete or not: an incomplete clone is clone_prod's to replace or drop)."""
    expected = clone_marker(require_clone_name(info.name, production), production)
    if info.comment not in (expected, clone_marker(info.name, production, complete=False)):
        raise NotAProductionCloneError(
            f"clone database: {info.name} was not created by this project's clone_prod "
            f"(its marker is {info.comment!r}, expected {expected!r}); refusing to replace or "
            "drop it"
        )


def is_complete(info: DatabaseInfo, production: str = settings.PRODUCTION_DATABASE) -> bool:
    """True when ``info`` is clone_prod's and every step of clone_prod finished on it."""
    verify_origin(info, production)
    return info.comment == clone_marker(info.name, production)


def find_exact(databases: Iterable[DatabaseInfo], name: str) -> DatabaseInfo | None:
    """The database named exactly ``name`` (case-sensitive, as Snowflake stores names)."""
    return next((info for info in databases if info.name == name), None)


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
    pull_request = get_pull_request_id()
    clone = require_clone_name(clone_database_name(pull_request, production), production)
    return ClonePlan(production=production, clone=clone, pull_request=pull_request)


def pull_request_for_this_deployment() -> str | None:
    """The pull request id if this deployment has a valid one (for run tags), else None."""
    try:
        return get_pull_request_id()
    except UnsafeEnvironmentError:
        return None


# --- Snowflake SQL ----------------------------------------------------------------------------


def _string_literal(value: str) -> str:
    """A SQL string literal for text built here from validated names (never user input)."""
    if "'" in value or "\\" in value:
        raise ValueError(f"refusing to quote {value!r}: it holds a quote or a backslash")
    return f"'{value}'"


def snowflake_clone_sql(plan: ClonePlan) -> str:
    """One statement: replace the pull request's clone with a fresh zero-copy clone of
    production, marked (incomplete) by its COMMENT. There is never a moment without a clone, and
    never an unmarked clone."""
    clone = quote_identifier(require_clone_name(plan.clone, plan.production))
    marker = _string_literal(clone_marker(plan.clone, plan.production, complete=False))
    return (
        f"CREATE OR REPLACE DATABASE {clone} CLONE {quote_identifier(plan.production)} "
        f"COMMENT = {marker}"
    )


def snowflake_share_with_production_sql(plan: ClonePlan) -> str:
    """Let production's role see the clone (``USAGE``), so its sweeper can list it: production
    does not hold the branch role (docs/security.md)."""
    clone = quote_identifier(require_clone_name(plan.clone, plan.production))
    role = quote_identifier(settings.SNOWFLAKE_ROLE, "production role")
    return f"GRANT USAGE ON DATABASE {clone} TO ROLE {role}"


def snowflake_mark_complete_sql(plan: ClonePlan) -> str:
    """The last statement of clone_prod: the complete marker, once every other step passed."""
    clone = quote_identifier(require_clone_name(plan.clone, plan.production))
    marker = _string_literal(clone_marker(plan.clone, plan.production))
    return f"ALTER DATABASE {clone} SET COMMENT = {marker}"


def snowflake_clone_statements(plan: ClonePlan) -> list[str]:
    """Every statement of clone_prod on Snowflake, in order; only the last marks it complete."""
    return [
        snowflake_clone_sql(plan),
        snowflake_hand_over_sql(plan),
        snowflake_share_with_production_sql(plan),
        snowflake_mark_complete_sql(plan),
    ]


def snowflake_hand_over_sql(plan: ClonePlan) -> str:
    """Ask the administrator's procedure to give the branch role the clone's schemas and tables.

    A database clone keeps the owners of everything inside it (production's role); the branch
    role owns only the new database. The procedure runs with its owner's rights, and only for a
    database named like a clone that the branch role owns (docs/security.md).
    """
    return _call_admin_procedure(HAND_OVER_PROCEDURE, plan.clone, plan.production)


def _call_admin_procedure(procedure: str, clone: str, production: str) -> str:
    name = ".".join(quote_identifier(part) for part in (production, HAND_OVER_SCHEMA, procedure))
    return f"CALL {name}({_string_literal(require_clone_name(clone, production))})"


def snowflake_drop_sql(clone: str, production: str = settings.PRODUCTION_DATABASE) -> str:
    """Drop a clone by its exact name, as its owner (the branch role); callers verify its
    marker first (``verify_origin``)."""
    return f"DROP DATABASE IF EXISTS {quote_identifier(require_clone_name(clone, production))}"


def snowflake_sweeper_drop_sql(clone: str, production: str = settings.PRODUCTION_DATABASE) -> str:
    """Drop a clone from production (the sweeper): through the administrator's procedure, which
    drops only a branch-owned database named and marked like a clone (docs/security.md)."""
    return _call_admin_procedure(DROP_PROCEDURE, clone, production)


SNOWFLAKE_SHOW_DATABASES_SQL = "SHOW DATABASES"


def snowflake_databases_sql(production: str = settings.PRODUCTION_DATABASE) -> str:
    """Every database the role sees, with its comment, creation and last change."""
    information_schema = f"{quote_identifier(production)}.INFORMATION_SCHEMA.DATABASES"
    # The only interpolated part is a validated, quoted identifier.
    return (
        "SELECT DATABASE_NAME, COMMENT, CREATED, LAST_ALTERED "  # noqa: S608
        f"FROM {information_schema}"
    )


def snowflake_last_queries_sql(
    clones: Iterable[str],
    retention_days: int,
    production: str = settings.PRODUCTION_DATABASE,
) -> str:
    """The last query run in each clone within the retention window (the session's database).

    Reads ACCOUNT_USAGE, which needs ``GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER`` and lags
    by up to 45 minutes; anything newer than that is covered by CREATED and LAST_ALTERED.
    """
    names = sorted(require_clone_name(name, production) for name in clones)
    if not names:
        raise ValueError("snowflake_last_queries_sql: no clone to look up")
    listed = ", ".join(_string_literal(name) for name in names)
    # Interpolated: validated clone names as literals and an integer.
    return (
        "SELECT DATABASE_NAME, MAX(END_TIME) AS LAST_QUERY "  # noqa: S608
        f"FROM {QUERY_HISTORY} "
        f"WHERE START_TIME >= DATEADD('day', -{int(retention_days) + 1}, CURRENT_TIMESTAMP()) "
        f"AND DATABASE_NAME IN ({listed}) "
        "GROUP BY DATABASE_NAME"
    )


# --- Sweeping ---------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken as UTC (never compare naive with aware)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def last_activity(info: DatabaseInfo, last_query: datetime | None = None) -> datetime | None:
    """The latest of creation, last change and last query: when the clone was last used."""
    moments = [as_utc(m) for m in (info.created, info.last_altered, last_query) if m is not None]
    return max(moments, default=None)


@dataclass(frozen=True)
class SweepPlan:
    """What the sweeper found: clones to drop, clones in use, and databases it leaves alone."""

    stale: list[str] = field(default_factory=list)
    active: list[str] = field(default_factory=list)
    not_ours: dict[str, str] = field(default_factory=dict)


def plan_sweep(
    databases: Iterable[DatabaseInfo],
    now: datetime,
    retention_days: int = settings.CLONE_RETENTION_DAYS,
    last_queries: Mapping[str, datetime] | None = None,
    production: str = settings.PRODUCTION_DATABASE,
) -> SweepPlan:
    """Split this project's clones into stale and active; report look-alikes and leave them.

    Only databases named exactly like a clone are considered; of those, one without the marker
    for its name is listed in ``not_ours`` and never dropped. A clone is stale when its last
    activity (creation, last change, last query) is older than ``retention_days``.
    """
    if retention_days < 1:
        raise ValueError(f"CLONE_RETENTION_DAYS: {retention_days} is not a positive number of days")
    cutoff = as_utc(now) - timedelta(days=retention_days)
    plan = SweepPlan()
    for info in sorted(databases, key=lambda d: d.name):
        if clone_pull_request_id(info.name, production) is None:
            continue
        try:
            verify_origin(info, production)
        except NotAProductionCloneError as refused:
            plan.not_ours[info.name] = str(refused)
            continue
        last = last_activity(info, (last_queries or {}).get(info.name))
        (plan.active if last is not None and last >= cutoff else plan.stale).append(info.name)
    return plan


__all__ = [
    "DROP_PROCEDURE",
    "HAND_OVER_PROCEDURE",
    "HAND_OVER_SCHEMA",
    "INCOMPLETE_SUFFIX",
    "MARKER_PREFIX",
    "PROJECT",
    "QUERY_HISTORY",
    "SNOWFLAKE_SHOW_DATABASES_SQL",
    "ClonePlan",
    "DatabaseInfo",
    "NotAProductionCloneError",
    "SweepPlan",
    "as_utc",
    "clone_marker",
    "find_exact",
    "is_complete",
    "last_activity",
    "plan_for_this_deployment",
    "plan_sweep",
    "pull_request_for_this_deployment",
    "require_clone_name",
    "snowflake_clone_sql",
    "snowflake_clone_statements",
    "snowflake_databases_sql",
    "snowflake_drop_sql",
    "snowflake_hand_over_sql",
    "snowflake_last_queries_sql",
    "snowflake_mark_complete_sql",
    "snowflake_share_with_production_sql",
    "snowflake_sweeper_drop_sql",
    "verify_origin",
]
