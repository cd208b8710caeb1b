"""What a BI tool tells platform health: objects, the SQL they run, and how much they are used.

Every adapter (Superset, Mode, or none) returns :class:`BIObject` values; nothing downstream
knows which tool they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class BIError(RuntimeError):
    """The BI tool could not be read (down, refused the credentials, answered nonsense)."""


class BINotConfiguredError(BIError):
    """A variable the BI tool needs (its URL, a credential) is not set."""


def required_variable(environ: Mapping[str, str], name: str, purpose: str) -> str:
    """``environ[name]``, stripped; :class:`BINotConfiguredError` naming it when unset."""
    value = environ.get(name, "").strip()
    if not value:
        raise BINotConfiguredError(f"{name} is not set: {purpose}")
    return value


@dataclass(frozen=True)
class BIQuery:
    """One SQL text a BI object runs; ``default_schema`` resolves unqualified table names."""

    id: str
    sql: str
    default_schema: str | None = None


@dataclass(frozen=True)
class BIObject:
    """A dashboard, chart, dataset, saved query or report, as a node of the platform graph.

    ``node_id`` is ``<tool>:<kind>:<id>`` and stable across runs (exposure names derive from it).
    ``reads_from`` names other BI objects this one is built on (a chart's dataset, a dashboard's
    charts); ``tables`` are ``schema.table`` names it reads without SQL (physical datasets).
    Usage fields are None when the tool does not know them.
    """

    node_id: str
    tool: str
    kind: str
    name: str
    url: str | None = None
    owners: tuple[str, ...] = ()
    created_at: datetime | None = None
    changed_at: datetime | None = None
    last_run_at: datetime | None = None
    run_count: int | None = None
    view_count: int | None = None
    archived: bool = False
    queries: tuple[BIQuery, ...] = ()
    tables: tuple[str, ...] = ()
    reads_from: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reference_time(self) -> datetime | None:
        """When the object came to be as it is: created, else last changed."""
        return self.created_at or self.changed_at


class BIAdapter(Protocol):
    """What platform health needs from a BI tool."""

    tool: str

    def list_objects(self) -> list[BIObject]:
        """Every object with its SQL and usage; raises :class:`BIError` on any failure."""
        ...

    def archive(self, obj: BIObject) -> str:
        """Archive (or the tool's nearest equivalent); returns what was done, in words."""
        ...


class NoBIAdapter:
    """``bi_tool=none``: dbt exposures are the only consumers; nothing to read or archive."""

    tool = "none"

    def list_objects(self) -> list[BIObject]:
        return []

    def archive(self, obj: BIObject) -> str:
        raise BIError(f"{obj.node_id}: no BI tool is configured, nothing can be archived")
