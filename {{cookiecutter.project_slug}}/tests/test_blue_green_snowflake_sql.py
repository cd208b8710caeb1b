"""The exact SQL blue/green publishing sends to Snowflake.

No faithful fake exists for this DDL: fakesnow rejects ``CREATE SCHEMA ... CLONE`` and
``ALTER TABLE ... SWAP WITH`` with a parser error. So the project's own macros are rendered
here the way dbt renders them (each macro called through a wrapper that catches ``return()``,
``adapter.dispatch`` picking ``snowflake__`` first) against a recording adapter, and the
statements they would send are compared with the exact expected SQL. The DuckDB branch of the
same macros runs for real in test_blue_green.py.
"""

import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

MACROS = (
    Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "blue_green" / "blue_green.sql"
)
DATABASE = "PRODUCTION_CLONE_1523"


class MacroReturn(Exception):  # dbt's own name for this control flow
    def __init__(self, value: Any) -> None:
        self.value = value


class CompilationError(Exception):
    """What dbt's ``exceptions.raise_compiler_error`` raises."""


def raise_compiler_error(message: str) -> None:
    raise CompilationError(message)


def dbt_return(value: Any) -> None:
    raise MacroReturn(value)


class Recorder:
    """What the macros send: SQL through run_query, schema changes and cache updates."""

    def __init__(self, tables: dict[str, list[str]]) -> None:
        self.tables = tables  # schema -> base tables information_schema reports
        self.sent: list[str] = []  # SQL, adapter calls and blue/green's own log lines, in order

    def log(self, message: str, info: bool = False) -> str:
        if message.startswith("blue/green: published "):  # what Dagster reads (publishing.py)
            self.sent.append(f"<log {message}>")
        return ""

    def run_query(self, sql: str) -> Any:
        sql = " ".join(sql.split())
        if sql.startswith("select table_name"):
            (schema,) = re.findall(r"lower\(table_schema\) = lower\('(\w+)'\)", sql)
            assert f"from {DATABASE}.information_schema.tables" in sql
            rows = self.tables.get(schema, [])
            return SimpleNamespace(columns=[SimpleNamespace(values=lambda: rows)])
        self.sent.append(sql)
        return None


def render_macros(recorder: Recorder, **context: Any) -> dict[str, Callable[..., Any]]:
    """Every macro of blue_green.sql as a callable, sharing one dbt-like context."""
    environment = jinja2.Environment(extensions=["jinja2.ext.do"], undefined=jinja2.StrictUndefined)
    source = MACROS.read_text()
    macros: dict[str, Callable[..., Any]] = {}

    def call(name: str) -> Callable[..., Any]:
        def invoke(*args: Any) -> Any:
            module = environment.from_string(blocks[name], globals=namespace).module
            try:
                return getattr(module, name)(*args)
            except MacroReturn as returned:
                return returned.value

        return invoke

    def dispatch(name: str) -> Callable[..., Any]:
        return macros.get(f"snowflake__{name}") or macros[f"default__{name}"]

    def relation(**parts: str) -> str:
        return ".".join(parts[p] for p in ("database", "schema", "identifier") if p in parts)

    blocks = {
        match.group(1): match.group(0)
        for match in re.finditer(r"{%-? macro (\w+)\(.*?{%-? endmacro -?%}", source, re.DOTALL)
    }
    namespace: dict[str, Any] = {
        "return": dbt_return,
        "exceptions": SimpleNamespace(raise_compiler_error=raise_compiler_error),
        "log": recorder.log,
        "run_query": recorder.run_query,
        "target": SimpleNamespace(database=DATABASE, name="branch_deployment"),
        "api": SimpleNamespace(Relation=SimpleNamespace(create=relation)),
        "adapter": SimpleNamespace(
            dispatch=dispatch,
            drop_schema=lambda r: recorder.sent.append(f"<drop schema {r} via adapter>"),
            create_schema=lambda r: recorder.sent.append(f"<create schema {r} via adapter>"),
            cache_added=lambda r: recorder.sent.append(f"<cache {r}>"),
        ),
        **context,
    }
    macros.update({name: call(name) for name in blocks})
    namespace.update(macros)
    return macros


def test_prepare_clones_green_into_blue() -> None:
    recorder = Recorder({"analytics_blue": ["story_rankings"]})
    render_macros(recorder)["snowflake__blue_green_clone_schema"]("analytics", "analytics_blue")
    assert recorder.sent == [
        f"<drop schema {DATABASE}.analytics_blue via adapter>",
        f"<create schema {DATABASE}.analytics_blue via adapter>",
        f"create schema if not exists {DATABASE}.analytics",
        f"create or replace schema {DATABASE}.analytics_blue clone {DATABASE}.analytics",
        f"<cache {DATABASE}.analytics_blue.story_rankings>",
    ]


def test_promote_swaps_every_blue_table_into_green() -> None:
    recorder = Recorder({"analytics_blue": ["author_activity", "story_rankings"]})
    render_macros(recorder)["snowflake__blue_green_promote_schema"]("analytics", "analytics_blue")
    # Each table is logged as published only after its swap was sent (and did not raise).
    assert recorder.sent == [
        sql
        for table in ("author_activity", "story_rankings")
        for sql in (
            f"create table if not exists {DATABASE}.analytics.{table} "
            f"clone {DATABASE}.analytics_blue.{table}",
            f"alter table {DATABASE}.analytics.{table} swap with {DATABASE}.analytics_blue.{table}",
            f"<log blue/green: published analytics.{table}>",
        )
    ]


def run_end_context(statuses: list[str], raw_schema: str = "hackernews") -> dict[str, Any]:
    """on-run-end of a `dbt build` whose nodes ended with ``statuses`` (one mart among them),
    its source's raw tables in ``raw_schema``."""
    nodes = [
        {
            "unique_id": "model.p.story_rankings",
            "resource_type": "model",
            "schema": "analytics_blue",
        },
        {"unique_id": "model.p.stg_stories", "resource_type": "model", "schema": "staging"},
        {
            "unique_id": "test.p.non_negative_score",
            "resource_type": "test",
            "schema": "analytics_blue",
        },
    ]
    source = {
        "unique_id": "source.p.hackernews.stories",
        "resource_type": "source",
        "schema": raw_schema,
    }
    for node in [*nodes, source]:
        node["database"] = DATABASE
    return {
        "execute": True,
        "flags": SimpleNamespace(WHICH="build"),
        "graph": {
            "nodes": {node["unique_id"]: node for node in nodes},
            "sources": {source["unique_id"]: source},
        },
        "results": [
            {"node": node, "status": status} for node, status in zip(nodes, statuses, strict=True)
        ],
    }


@pytest.mark.parametrize(
    ("statuses", "promoted"),
    [
        (["success", "success", "pass"], True),
        (["success", "success", "fail"], False),
        (["error", "skipped", "skipped"], False),
    ],
)
def test_run_end_promotes_only_when_every_node_passed(statuses: list[str], promoted: bool) -> None:
    recorder = Recorder({"analytics_blue": ["story_rankings"]})
    context = run_end_context(statuses)
    render_macros(recorder, **context)["blue_green_promote"](context["results"])
    swaps = [sql for sql in recorder.sent if " swap with " in sql]
    expected = f"alter table {DATABASE}.analytics.story_rankings swap with {DATABASE}.analytics_blue.story_rankings"
    assert swaps == ([expected] if promoted else [])


@pytest.mark.parametrize(
    ("selected", "refreshed"),
    [
        # A run building the mart refreshes its blue before building into it.
        (["model.p.story_rankings"], True),
        # A run testing the mart alone (a slim build after a change to the test's macro) reads
        # blue: refreshed from green first, so it tests what consumers read, not what a failed
        # run or (after a swap) the previous generation left in blue.
        (["test.p.non_negative_score"], True),
        # A run neither building nor reading a published model leaves blue alone.
        (["model.p.stg_stories"], False),
    ],
)
def test_prepare_refreshes_blue_for_the_marts_a_run_builds_or_reads(
    selected: list[str], refreshed: bool
) -> None:
    context = run_end_context(["success", "success", "pass"])
    for node in context["graph"]["nodes"].values():
        parents = ["model.p.story_rankings"] if node["resource_type"] == "test" else []
        node["depends_on"] = {"nodes": parents}
    recorder = Recorder({"analytics_blue": ["story_rankings"]})
    render_macros(recorder, selected_resources=selected, **context)["blue_green_prepare"]()
    clone = f"create or replace schema {DATABASE}.analytics_blue clone {DATABASE}.analytics"
    assert (clone in recorder.sent) is refreshed


@pytest.mark.parametrize("raw_schema", ["analytics_blue", "ANALYTICS"])
def test_prepare_refuses_published_schemas_holding_raw_tables(raw_schema: str) -> None:
    """Raw tables in a published schema or its blue twin: the reset would drop them, the swap
    would trade them. Refused before any statement is sent (on DuckDB: test_blue_green.py)."""
    context = run_end_context(["success", "success", "pass"], raw_schema=raw_schema)
    for node in context["graph"]["nodes"].values():
        node["depends_on"] = {"nodes": []}
    recorder = Recorder({"analytics_blue": ["story_rankings"]})
    macros = render_macros(recorder, selected_resources=["model.p.story_rankings"], **context)
    with pytest.raises(
        CompilationError, match="refusing to reset or promote analytics, analytics_blue"
    ):
        macros["blue_green_prepare"]()
    assert recorder.sent == []
