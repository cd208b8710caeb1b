"""dbt sources whose table the project itself writes (a seed loading ``raw.customers``, a model
or snapshot a source is declared on): one asset, not two.

Keys are where tables live (``utils/dbt_translator.py``), so such a source and its writer get the
same key, which dagster-dbt refuses. ``merge_written_sources`` hands dagster-dbt a copy of the
manifest in which every reader of the source (models, snapshots, tests, exposures, semantic
models...) depends on the writer instead: the lineage runs writer -> readers, and the source's
tests become checks of the writer. dbt itself still sees the source (its own manifest is
untouched), so a writer must never share a dbt run with its readers: seeds that write a source's
table get a step of their own (``defs/dbt/models.py``), which Dagster runs before the readers'
step; snapshots and incremental models have theirs already. A writer sharing a step with a reader
anyway (a regular model read by another, an incremental model by another, a snapshot by another)
is refused: such a reader should ``ref()`` its writer.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .dbt_translator import asset_key_for, parse_default_database

WRITER_TYPES = ("seed", "model", "snapshot")
# The manifest's collections whose members name what they depend on.
_DEPENDENT_COLLECTIONS = (
    "nodes",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "unit_tests",
)


class SourceWriterError(ValueError):
    """A source's writer and one of its readers would run in the same dbt step."""


def _materialized(node: Mapping[str, Any]) -> str:
    return str((node.get("config") or {}).get("materialized") or "")


def step_of(node: Mapping[str, Any], writers: Iterable[str] = ()) -> str:
    """The dbt step (definition) a node runs in: ``snapshots``, ``incremental``,
    ``source_writers`` (a seed in ``writers``) or ``models``."""
    if node["resource_type"] == "snapshot":
        return "snapshots"
    if _materialized(node) == "incremental":
        return "incremental"
    if node["resource_type"] == "seed" and node["unique_id"] in writers:
        return "source_writers"
    return "models"


def source_writers(manifest: Mapping[str, Any]) -> dict[str, str]:
    """``{source unique_id: writer unique_id}`` for every source whose key is a seed's, model's
    or snapshot's (an ephemeral model writes no table)."""
    default_database = parse_default_database(manifest)
    writers: dict[Any, list[str]] = defaultdict(list)
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") in WRITER_TYPES and _materialized(node) != "ephemeral":
            writers[asset_key_for(node, default_database)].append(unique_id)
    found = {}
    for unique_id, source in manifest.get("sources", {}).items():
        candidates = writers.get(asset_key_for(source, default_database), [])
        # Two nodes writing one table: dagster-dbt names them both (duplicate asset key).
        if len(candidates) == 1:
            found[unique_id] = candidates[0]
    return found


def merge_written_sources(
    manifest: Mapping[str, Any], written: Mapping[str, str] | None = None
) -> Mapping[str, Any]:
    """The manifest with every written source's readers depending on its writer (the manifest
    itself when no source is written); ``written`` is ``source_writers(manifest)``, computed
    here when not given. Raises ``SourceWriterError`` naming the nodes when a writer and a
    reader would share a dbt step."""
    written = source_writers(manifest) if written is None else written
    if not written:
        return manifest
    nodes = manifest["nodes"]
    writer_ids = set(written.values())
    merged = copy.deepcopy(dict(manifest))
    for collection in _DEPENDENT_COLLECTIONS:
        for unique_id, member in (merged.get(collection) or {}).items():
            depends_on = member.get("depends_on") or {}
            parents = depends_on.get("nodes") or []
            if not any(parent in written for parent in parents):
                continue
            if member.get("resource_type") in WRITER_TYPES:
                for parent in parents:
                    writer = written.get(parent)
                    if writer and step_of(nodes[writer], writer_ids) == step_of(member, writer_ids):
                        raise SourceWriterError(_same_step(manifest, parent, writer, unique_id))
            # dict.fromkeys: the writer once, even when the node read it twice.
            depends_on["nodes"] = list(dict.fromkeys(written.get(p, p) for p in parents))
            if member.get("attached_node") in written:
                member["attached_node"] = written[member["attached_node"]]
    for name in ("parent_map", "child_map"):
        graph = merged.get(name) or {}
        for source_id, writer_id in written.items():
            moved = graph.pop(source_id, [])
            if name == "child_map":
                graph[writer_id] = list(dict.fromkeys([*graph.get(writer_id, []), *moved]))
        for unique_id, linked in graph.items():
            graph[unique_id] = list(dict.fromkeys(written.get(n, n) for n in linked))
    return merged


def _same_step(manifest: Mapping[str, Any], source_id: str, writer_id: str, reader_id: str) -> str:
    source = manifest["sources"][source_id]
    writer = manifest["nodes"][writer_id]
    reader = manifest["nodes"][reader_id]
    return (
        f"dbt: {reader['resource_type']} {reader['name']!r} reads source "
        f"'{source['source_name']}.{source['name']}', the table {writer['resource_type']} "
        f"{writer['name']!r} writes, and both run in the same dbt step "
        f"({step_of(writer, [writer_id])}); Dagster cannot order them: in {reader['name']!r} "
        f"use ref('{writer['name']}') instead of source('{source['source_name']}', '{source['name']}')"
    )


def writer_selection(manifest: Mapping[str, Any], written: Mapping[str, str] | None = None) -> str:
    """The dbt selection of the source-writers step (the models step excludes it): the seeds that
    write a source's table, and the source itself, for its tests (dbt attaches those to the
    source). Empty when there are none. ``written`` as in ``merge_written_sources``."""
    written = source_writers(manifest) if written is None else written
    selected = []
    for source_id, writer_id in sorted(written.items()):
        writer = manifest["nodes"][writer_id]
        if step_of(writer, [writer_id]) == "source_writers":
            source = manifest["sources"][source_id]
            selected.append("fqn:" + ".".join(writer["fqn"]))
            selected.append(f"source:{source['source_name']}.{source['name']}")
    return " ".join(dict.fromkeys(selected))
