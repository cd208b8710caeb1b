"""The platform graph: dbt nodes and BI objects in one networkx DiGraph, data flowing along edges.

Edges run from what is read to what reads it: dbt parents to children (as in the manifest), a
dbt relation to every BI object whose SQL (or physical table) reads it, and BI objects to the
objects built on them (dataset -> chart -> dashboard). A consumer is a dbt exposure, a dbt
snapshot (its history is kept on purpose, and removing what it reads would break it) or a BI
object that is not archived; a model is unused when no path leads from it to any consumer.

The graph is stored as one table, a row per node with its attributes and its ``upstream``
nodes (an adjacency list), so later assets and people rebuild it from the warehouse alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from ....utils.dbt_translator import parse_default_database, production_location
from .model import BIObject
from .sql import RelationIndex, UnparsableSQLError, parse_table_name

if TYPE_CHECKING:
    import pandas as pd

DBT_TOOL = "dbt"
RELATION_TYPES = ("model", "seed", "snapshot")
# A model with this dbt tag, or meta {platform_health: {keep: true}}, is never reported unused.
KEEP_TAG = "keep"
# Exposures this pipeline generated from BI objects carry meta {platform_health: {generated:
# true}}: the live BI objects stand for them, so they are not counted twice.
META_KEY = "platform_health"

FRAME_COLUMNS = [
    "node_id",
    "tool",
    "kind",
    "name",
    "relation",
    "url",
    "owners",
    "created_at",
    "changed_at",
    "last_run_at",
    "run_count",
    "view_count",
    "archived",
    "keep",
    "path",
    "upstream",
    "unparsed_sql",
]
TIMESTAMP_COLUMNS = ("created_at", "changed_at", "last_run_at")


@dataclass
class PlatformGraph:
    graph: nx.DiGraph[str] = field(default_factory=nx.DiGraph)
    # (BI node, query id, why it could not be parsed): recorded, never guessed at.
    unparsed: list[tuple[str, str, str]] = field(default_factory=list)

    def nodes_of(self, *kinds: str) -> list[str]:
        return sorted(n for n, data in self.graph.nodes(data=True) if data["kind"] in kinds)

    def bi_edges(self) -> list[tuple[str, str]]:
        """Edges from a dbt node into a BI object (what the SQL matching found)."""
        return sorted(
            (u, v)
            for u, v in self.graph.edges
            if self.graph.nodes[u]["tool"] == DBT_TOOL and self.graph.nodes[v]["tool"] != DBT_TOOL
        )


def _meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = props.get("meta") or (props.get("config") or {}).get("meta") or {}
    return meta if isinstance(meta, Mapping) else {}


def _keeps(props: Mapping[str, Any]) -> bool:
    settings = _meta(props).get(META_KEY) or {}
    return KEEP_TAG in (props.get("tags") or []) or bool(
        isinstance(settings, Mapping) and settings.get("keep")
    )


def is_generated_exposure(props: Mapping[str, Any]) -> bool:
    settings = _meta(props).get(META_KEY) or {}
    return isinstance(settings, Mapping) and bool(settings.get("generated"))


def dbt_locations(manifest: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """unique_id -> production (schema, name) of every relation dbt builds or declares."""
    default_database = parse_default_database(manifest)
    relations = [
        (uid, props)
        for uid, props in manifest.get("nodes", {}).items()
        if props["resource_type"] in RELATION_TYPES
    ]
    relations += list(manifest.get("sources", {}).items())
    return {uid: production_location(props, default_database)[1:] for uid, props in relations}


def manifest_databases(manifest: Mapping[str, Any]) -> set[str]:
    """Databases the manifest's relations live in (the DuckDB file's name locally)."""
    found = {
        str(props.get("database"))
        for section in ("nodes", "sources")
        for props in manifest.get(section, {}).values()
        if props.get("database")
    }
    return found


def _add_dbt_nodes(graph: nx.DiGraph[str], manifest: Mapping[str, Any]) -> None:
    locations = dbt_locations(manifest)
    for uid, (schema, name) in locations.items():
        section = "sources" if uid.startswith("source.") else "nodes"
        props = manifest[section][uid]
        graph.add_node(
            uid,
            tool=DBT_TOOL,
            kind=props["resource_type"],
            name=props["name"] if section == "nodes" else f"{props['source_name']}.{props['name']}",
            relation=f"{schema}.{name}",
            keep=props["resource_type"] == "model" and _keeps(props),
            path=props.get("original_file_path"),
        )
    for uid, props in manifest.get("exposures", {}).items():
        if is_generated_exposure(props):
            continue
        graph.add_node(
            uid,
            tool=DBT_TOOL,
            kind="exposure",
            name=props["name"],
            url=props.get("url"),
            owners=tuple(
                sorted(
                    str(v) for v in (props.get("owner") or {}).values() if isinstance(v, str) and v
                )
            ),
            path=props.get("original_file_path"),
        )
    for uid in list(graph.nodes):
        section = "exposures" if uid.startswith("exposure.") else "nodes"
        props = manifest.get(section, {}).get(uid, {})
        for parent in (props.get("depends_on") or {}).get("nodes", []):
            if parent in graph:
                graph.add_edge(parent, uid)


def _add_bi_objects(
    platform: PlatformGraph, objects: Sequence[BIObject], index: RelationIndex
) -> None:
    graph = platform.graph
    for obj in objects:
        graph.add_node(
            obj.node_id,
            tool=obj.tool,
            kind=obj.kind,
            name=obj.name,
            url=obj.url,
            owners=tuple(sorted(obj.owners)),
            created_at=obj.created_at,
            changed_at=obj.changed_at,
            last_run_at=obj.last_run_at,
            run_count=obj.run_count,
            view_count=obj.view_count,
            archived=obj.archived,
        )
    for obj in objects:
        for upstream in obj.reads_from:
            if upstream in graph:
                graph.add_edge(upstream, obj.node_id)
        for table in obj.tables:
            try:
                found = index.resolve(parse_table_name(table, index.dialect))
            except UnparsableSQLError as error:
                platform.unparsed.append((obj.node_id, table, str(error)))
                continue
            if found:
                graph.add_edge(found, obj.node_id)
        for query in obj.queries:
            try:
                read = index.nodes_read(query.sql, query.default_schema)
            except UnparsableSQLError as error:
                platform.unparsed.append((obj.node_id, query.id, str(error)))
                continue
            for found in read:
                graph.add_edge(found, obj.node_id)


def build_platform_graph(
    manifest: Mapping[str, Any],
    objects: Sequence[BIObject],
    index: RelationIndex,
) -> PlatformGraph:
    platform = PlatformGraph()
    _add_dbt_nodes(platform.graph, manifest)
    _add_bi_objects(platform, objects, index)
    return platform


# --- findings ------------------------------------------------------------------------------


CONSUMER_KINDS = ("exposure", "snapshot")


def consumers(graph: nx.DiGraph[str]) -> set[str]:
    """dbt exposures and snapshots, and every BI object that is not archived."""
    return {
        node
        for node, data in graph.nodes(data=True)
        if data["kind"] in CONSUMER_KINDS or (data["tool"] != DBT_TOOL and not data.get("archived"))
    }


def unused_models(graph: nx.DiGraph[str], ignore_consumers: Iterable[str] = ()) -> list[str]:
    """Models with no path to any consumer (``ignore_consumers`` excluded), unless kept."""
    live = consumers(graph) - set(ignore_consumers)
    used: set[str] = set()
    for consumer in live:
        used |= nx.ancestors(graph, consumer)
    return sorted(
        node
        for node, data in graph.nodes(data=True)
        if data["kind"] == "model" and not data.get("keep") and node not in used
    )


def downstream_consumers(graph: nx.DiGraph[str], node: str) -> list[str]:
    return sorted(nx.descendants(graph, node) & consumers(graph))


# --- storage as one table ------------------------------------------------------------------


def _utc_naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if value is not None and value.tzinfo else value


def to_frame(platform: PlatformGraph) -> pd.DataFrame:
    """One row per node; ``upstream`` and ``unparsed_sql`` are JSON lists (timestamps in UTC)."""
    import pandas as pd  # at run time only (utils/frames.py)

    unparsed: dict[str, list[dict[str, str]]] = {}
    for node, query, error in platform.unparsed:
        unparsed.setdefault(node, []).append({"query": query, "error": error})
    rows = []
    graph = platform.graph
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        rows.append(
            {
                "node_id": node,
                "tool": data["tool"],
                "kind": data["kind"],
                "name": data.get("name"),
                "relation": data.get("relation"),
                "url": data.get("url"),
                "owners": json.dumps(sorted(data.get("owners") or ())),
                **{column: _utc_naive(data.get(column)) for column in TIMESTAMP_COLUMNS},
                "run_count": data.get("run_count"),
                "view_count": data.get("view_count"),
                "archived": bool(data.get("archived")),
                "keep": bool(data.get("keep")),
                "path": data.get("path"),
                "upstream": json.dumps(sorted(graph.predecessors(node))),
                "unparsed_sql": json.dumps(unparsed.get(node, [])),
            }
        )
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    for column in TIMESTAMP_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_localize(None)
    for column in ("run_count", "view_count"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    for column in ("archived", "keep"):
        frame[column] = frame[column].astype(bool)
    return frame


def from_frame(frame: pd.DataFrame) -> PlatformGraph:
    """The graph :func:`to_frame` stored (timestamps come back as aware UTC datetimes)."""
    import pandas as pd  # at run time only (utils/frames.py)

    platform = PlatformGraph()
    graph = platform.graph
    for row in frame.to_dict("records"):
        attributes = {
            "tool": row["tool"],
            "kind": row["kind"],
            "name": row["name"],
            "relation": None if pd.isna(row["relation"]) else row["relation"],
            "url": None if pd.isna(row["url"]) else row["url"],
            "owners": tuple(json.loads(row["owners"] or "[]")),
            "run_count": None if pd.isna(row["run_count"]) else int(row["run_count"]),
            "view_count": None if pd.isna(row["view_count"]) else int(row["view_count"]),
            "archived": bool(row["archived"]),
            "keep": bool(row["keep"]),
            "path": None if pd.isna(row["path"]) else row["path"],
        }
        for column in TIMESTAMP_COLUMNS:
            value = row[column]
            attributes[column] = (
                None if pd.isna(value) else pd.Timestamp(value).tz_localize("UTC").to_pydatetime()
            )
        graph.add_node(row["node_id"], **attributes)
        for item in json.loads(row["unparsed_sql"] or "[]"):
            platform.unparsed.append((row["node_id"], item["query"], item["error"]))
    for row in frame.to_dict("records"):
        for upstream in json.loads(row["upstream"] or "[]"):
            graph.add_edge(upstream, row["node_id"])
    return platform
