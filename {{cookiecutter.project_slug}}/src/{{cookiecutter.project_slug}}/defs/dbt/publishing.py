"""Blue/green publishing as Dagster records it: a published model materializes only once promoted.

With blue/green publishing (dbt_project/macros/blue_green/) a published model (a mart) builds into
``<schema>_blue`` and reaches ``<schema>``, what consumers read, only when the on-run-end hook
promotes it, after every node of the run passed. dagster-dbt reports a model as materialized the
moment dbt built it, which for a mart means "built into blue": recorded as is, a failed run would
still materialize the marts' keys and fire automation downstream on tables nobody can read.

:func:`stream_published` therefore holds back each published model's events (its materialization
and its checks) until dbt exits. The hook logs ``blue/green: published <schema>.<table>`` after
each table it promoted; only a model named so is materialized (its checks after it, so they
evaluate that materialization), with ``dagster/table_name`` naming the published table. Any other
held model gets no materialization, its checks are reported with a note that they evaluated the
unpublished candidate, and the step fails saying what was not published.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from ...utils.dbt_translator import BlueGreenRelation, published_relation

# What macros/blue_green/blue_green.sql logs after promoting each table (lower case).
BLUE_GREEN_PUBLISHED = "blue/green: published "
TABLE_NAME = "dagster/table_name"

DbtEvent = (
    dg.Output[Any]
    | dg.AssetMaterialization
    | dg.AssetObservation
    | dg.AssetCheckResult
    | dg.AssetCheckEvaluation
)


def published_models(manifest: Mapping[str, Any]) -> dict[str, BlueGreenRelation]:
    """unique_id -> relation of every model published blue/green."""
    found: dict[str, BlueGreenRelation] = {}
    for unique_id, node in manifest["nodes"].items():
        relations = published_relation(node)
        if relations is not None:
            found[unique_id] = relations
    return found


def publishes_blue_green(manifest: Mapping[str, Any], incremental: bool | None = None) -> bool:
    """Whether any model is published blue/green (``incremental``: only among incremental
    models, or only among the others): a dbt run selecting one prepares and promotes."""
    for unique_id in published_models(manifest):
        materialized = manifest["nodes"][unique_id]["config"].get("materialized")
        if incremental is None or (materialized == "incremental") is incremental:
            return True
    return False


def published_table(message: str) -> str | None:
    """``<schema>.<table>`` of a ``blue/green: published`` log line, else None."""
    if not message.startswith(BLUE_GREEN_PUBLISHED):
        return None
    return message.removeprefix(BLUE_GREEN_PUBLISHED).strip()


def event_key(event: DbtEvent, keys_by_output: Mapping[str, dg.AssetKey]) -> dg.AssetKey | None:
    """The asset an event is about (an Output names its output, whose name encodes the key)."""
    if isinstance(event, dg.Output):
        return keys_by_output.get(event.output_name)
    if isinstance(event, dg.AssetObservation):
        return None  # tests dbt ran outside the selection: no materialization, no check
    return event.asset_key


def stream_published(invocation: DbtCliInvocation) -> Iterator[DbtEvent]:
    """``invocation.stream()``, except that a blue/green model is materialized only when its
    table was promoted; raises (after yielding every event) when dbt failed or something built
    was not published. Needs ``raise_on_error=False`` on the invocation: the error is raised
    here, once the held events are sorted out."""
    manifest = invocation.manifest
    translator = invocation.dagster_dbt_translator
    published = published_models(manifest)
    keys = {
        translator.get_asset_spec(manifest, unique_id, invocation.project).key: unique_id
        for unique_id in published
    }
    keys_by_output = {key.to_python_identifier(): key for key in keys}
    held: dict[dg.AssetKey, list[DbtEvent]] = {}
    promoted: set[str] = set()
    for raw in invocation.stream_raw_events():
        info = raw.raw_event["info"]
        if info["name"] == "JinjaLogInfo":
            table = published_table(str(info["msg"]))
            if table:
                promoted.add(table)
        for event in raw.to_default_asset_events(
            manifest=manifest,
            dagster_dbt_translator=translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            key = event_key(event, keys_by_output)
            if key in keys:
                held.setdefault(key, []).append(event)
            else:
                yield event

    # Relations as this run's dbt rendered them (the parse-time manifest may name another
    # target's database: definitions are parsed with the DuckDB one).
    ran = invocation.target_path / "manifest.json"
    built_here = published_models(invocation.get_artifact("manifest.json")) if ran.exists() else {}
    not_published: list[str] = []
    for key, events in held.items():
        relation = built_here.get(keys[key]) or published[keys[key]]
        if relation.promoted_as in promoted:
            for event in events:
                yield _published(event, relation) if _materializes(event) else event
            continue
        if any(_materializes(event) for event in events):
            not_published.append(key.to_user_string())
        note = (
            f"Evaluated on {relation.built}, which was not published: consumers still read "
            f"{relation.published} as the last successful run left it."
        )
        for event in events:
            if not _materializes(event):
                yield event.with_metadata({**event.metadata, "blue_green": note})

    error = invocation.get_error()
    if not_published:
        reason = (
            "dbt failed, so nothing was promoted"
            if error
            else "built but never reported promoted by the on-run-end hook"
        )
        raise dg.Failure(
            description=(
                f"blue/green: not published ({reason}): {', '.join(sorted(not_published))}. "
                "Their tables are unchanged for consumers; no materialization was recorded."
                + (f"\n\n{error}" if error else "")
            )
        )
    if error:
        raise error


def _materializes(event: DbtEvent) -> bool:
    return isinstance(event, dg.Output | dg.AssetMaterialization)


def _published(event: DbtEvent, relation: BlueGreenRelation) -> DbtEvent:
    """A held materialization, now published: its table is the published one, not blue."""
    return event.with_metadata(
        {**event.metadata, TABLE_NAME: dg.MetadataValue.text(relation.published)}
    )
