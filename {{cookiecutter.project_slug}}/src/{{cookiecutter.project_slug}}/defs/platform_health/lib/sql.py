"""Which dbt relations does a query read? Parsed with sqlglot in the warehouse's dialect.

Never by regex: sqlglot parses the SQL, scopes exclude CTE names, and identifiers are normalized
the way the warehouse resolves them (DuckDB: case-insensitive, quoted or not; Snowflake: unquoted
names upper-cased, quoted names exact). dbt creates unquoted relations, so their names are
normalized as unquoted identifiers; a query only matches a relation the warehouse would really
read. Database qualifiers must name one of the warehouse's databases (production, this
environment's, or the manifest's), else the query reads something dbt does not own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import traverse_scope

# Warehouse (utils.environment.Warehouse values) -> sqlglot dialect.
DIALECTS = {"duckdb": "duckdb", "snowflake": "snowflake"}

# BI tools template their SQL (Mode: Liquid with "form" blocks declaring parameters; Superset:
# Jinja). The markup is not SQL: forms are dropped, expressions become NULL, tags and comments
# disappear. What is left either parses (and is matched) or is recorded as unparsed. (Braces are
# written as [{] and [}] so that no template engine mistakes these patterns for its own markup.)
_MODE_FORM = re.compile(
    r"[{]%-?\s*form\s*-?%[}].*?[{]%-?\s*endform\s*-?%[}]", re.DOTALL | re.IGNORECASE
)
_TEMPLATE_COMMENT = re.compile(r"[{]#.*?#[}]", re.DOTALL)
_TEMPLATE_TAG = re.compile(r"[{]%.*?%[}]", re.DOTALL)
_TEMPLATE_EXPRESSION = re.compile(r"[{][{].*?[}][}]", re.DOTALL)


class UnparsableSQLError(ValueError):
    """SQL that sqlglot cannot parse in the warehouse's dialect (recorded, never guessed at)."""


@dataclass(frozen=True, order=True)
class Relation:
    """A table reference as the warehouse resolves it (normalized identifiers)."""

    database: str | None
    schema: str | None
    name: str

    def __str__(self) -> str:
        return ".".join(part for part in (self.database, self.schema, self.name) if part)


def dialect_for(warehouse: str) -> str:
    try:
        return DIALECTS[warehouse]
    except KeyError:
        raise ValueError(f"warehouse: {warehouse!r} is not one of: {', '.join(DIALECTS)}") from None


def strip_templating(sql: str) -> str:
    """SQL without BI templating markup (see the module's comment)."""
    text = _MODE_FORM.sub(" ", sql)
    text = _TEMPLATE_COMMENT.sub(" ", text)
    text = _TEMPLATE_TAG.sub(" ", text)
    return _TEMPLATE_EXPRESSION.sub("NULL", text)


def normalize_name(name: str, dialect: str) -> str:
    """``name`` as the warehouse resolves it when written unquoted (how dbt creates relations)."""
    identifier = normalize_identifiers(exp.Identifier(this=name, quoted=False), dialect=dialect)
    return str(identifier.name)


def _source_tables(statement: exp.Expr) -> Iterator[exp.Table]:
    """Tables a statement reads: every scope's table sources (CTEs are scopes, not tables)."""
    scopes = traverse_scope(statement)
    if scopes:
        for scope in scopes:
            for source in scope.sources.values():
                if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                    yield source
        return
    # Statements that are not queries (DESCRIBE t, ...): their table references, minus CTE names.
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier) and (table.db or table.name not in ctes):
            yield table


def tables_read(sql: str, dialect: str) -> set[Relation]:
    """Every relation ``sql`` reads, normalized; raises :class:`UnparsableSQLError`."""
    text = strip_templating(sql)
    try:
        statements = sqlglot.parse(text, read=dialect)
    except (ParseError, TokenError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnparsableSQLError(f"not valid {dialect} SQL: {message}") from None
    relations = set()
    for statement in statements:
        if statement is None:
            continue
        normalized = normalize_identifiers(statement, dialect=dialect)
        for table in _source_tables(normalized):
            relations.add(Relation(table.catalog or None, table.db or None, table.name))
    return relations


def parse_table_name(qualified: str, dialect: str) -> Relation:
    """``schema.table`` (or ``db.schema.table``) as a BI tool stores a physical dataset."""
    try:
        table = exp.to_table(qualified, dialect=dialect)
    except (ParseError, TokenError) as error:
        raise UnparsableSQLError(f"not a table name: {qualified!r} ({error})") from None
    table = normalize_identifiers(table, dialect=dialect)
    return Relation(table.catalog or None, table.db or None, table.name)


class RelationIndex:
    """dbt nodes by the relation name a query would use to read them.

    ``locations`` maps a dbt unique_id to its production ``(schema, name)``; ``databases`` are
    the database names a qualified reference may carry; unqualified names resolve in the query's
    own default schema, else ``default_schema``.
    """

    def __init__(
        self,
        locations: Mapping[str, tuple[str, str]],
        databases: Iterable[str],
        dialect: str,
        default_schema: str,
    ) -> None:
        self.dialect = dialect
        self._default_schema = normalize_name(default_schema, dialect)
        self._databases = {normalize_name(d, dialect) for d in databases if d}
        self._by_location: dict[tuple[str, str], str] = {}
        for unique_id, (schema, name) in sorted(locations.items()):
            key = (normalize_name(schema, dialect), normalize_name(name, dialect))
            self._by_location.setdefault(key, unique_id)

    def resolve(self, relation: Relation, default_schema: str | None = None) -> str | None:
        """The dbt node ``relation`` reads, or None (not dbt's, or another database)."""
        if relation.database and relation.database not in self._databases:
            return None
        schema = relation.schema or (
            normalize_name(default_schema, self.dialect) if default_schema else self._default_schema
        )
        return self._by_location.get((schema, relation.name))

    def nodes_read(self, sql: str, default_schema: str | None = None) -> set[str]:
        """dbt unique_ids ``sql`` reads; raises :class:`UnparsableSQLError`."""
        found = (self.resolve(r, default_schema) for r in tables_read(sql, self.dialect))
        return {unique_id for unique_id in found if unique_id}
