"""Platform-health assets: the platform graph and what it finds, tables in the warehouse.

``platform_graph`` reads the dbt manifest and the BI tool; everything else derives from it:
stale reports (dry run unless archiving is enabled), unused models (with the cost they would
save where known), model importance (with a chart), the history of counts (with a chart), and
the pull or merge requests proposing exposures and removals (when a token is set).
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ... import settings
from ...dbt_project import dbt_project
from ...resources import WarehouseResource
from ...utils.environment import (
    Warehouse,
    get_database_for_environment,
    get_duckdb_path,
    get_schema_for_environment,
    get_warehouse,
)
from ...utils.frames import DataFrame
from .io_managers import IO_MANAGER_KEY
from .lib import charts, history
from .lib.change_requests import (
    EXPOSURES_BRANCH,
    REMOVAL_BRANCH,
    ChangeRequestError,
    Changes,
    Proposal,
    propose,
)
from .lib.exposures import exposure_changes, removal_changes
from .lib.graph import (
    PlatformGraph,
    build_platform_graph,
    dbt_locations,
    downstream_consumers,
    from_frame,
    manifest_databases,
    to_frame,
)
from .lib.graph import unused_models as find_unused_models
from .lib.importance import importance_frame
from .lib.model import BIError, BIObject
from .lib.sql import RelationIndex, dialect_for
from .lib.staleness import StalenessRules, staleness_reason
from .resources import PlatformHealthResource

GROUP = "platform_health"
SCHEMA = "platform_health"
KEY_PREFIX = [settings.PRODUCTION_DATABASE.lower(), SCHEMA]
TOP_MODELS_CHARTED = 15


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(dbt_project.manifest_path.read_text())
    return manifest


def relation_index(manifest: dict[str, Any]) -> RelationIndex:
    """dbt relations as queries in this warehouse name them (any of its databases)."""
    warehouse = get_warehouse()
    databases = manifest_databases(manifest) | {settings.PRODUCTION_DATABASE}
    if warehouse is Warehouse.SNOWFLAKE:
        databases.add(get_database_for_environment())
    else:
        databases.add(get_duckdb_path().stem)
    return RelationIndex(
        dbt_locations(manifest),
        databases,
        dialect_for(warehouse.value),
        settings.DBT_DEFAULT_SCHEMA,
    )


def markdown_table(frame: DataFrame, limit: int = 50) -> dg.MetadataValue:
    """A Markdown table of ``frame``'s first ``limit`` rows, for asset metadata."""
    if frame.empty:
        return dg.MetadataValue.md("_none_")
    shown = frame.head(limit).astype(str)
    lines = [
        "| " + " | ".join(shown.columns) + " |",
        "| " + " | ".join("---" for _ in shown.columns) + " |",
        *("| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)),
    ]
    more = f"\n\n… and {len(frame) - limit} more" if len(frame) > limit else ""
    return dg.MetadataValue.md("\n".join(lines) + more)


@dg.asset(
    key_prefix=KEY_PREFIX,
    group_name=GROUP,
    io_manager_key=IO_MANAGER_KEY,
    kinds={"python", "networkx"},
)
def platform_graph(
    context: dg.AssetExecutionContext, platform_health: PlatformHealthResource
) -> DataFrame:
    """dbt nodes and BI objects in one graph: an edge wherever a query's SQL reads a dbt
    relation (parsed with sqlglot in the warehouse's dialect). One row per node, with its
    upstream nodes; queries that do not parse are recorded in ``unparsed_sql``."""
    import pandas as pd  # at run time only (utils/frames.py)

    manifest = load_manifest()
    try:
        adapter, fallback = platform_health.bi_adapter()
        objects = adapter.list_objects()
    except BIError as error:
        raise dg.Failure(description=f"platform_graph: {error}") from None
    if fallback:
        context.log.warning(f"platform_graph: {fallback}")
    platform = build_platform_graph(manifest, objects, relation_index(manifest))
    frame = to_frame(platform)
    kinds = frame["kind"].value_counts().sort_index()
    edges = pd.DataFrame(platform.bi_edges(), columns=["dbt_node", "bi_object"])
    unparsed = [
        {"object": node, "query": query, "error": error} for node, query, error in platform.unparsed
    ]
    context.add_output_metadata(
        {
            "dagster/row_count": len(frame),
            "bi_tool": adapter.tool if fallback is None else f"none ({fallback})",
            "nodes_by_kind": dg.MetadataValue.json({str(k): int(v) for k, v in kinds.items()}),
            "edges": platform.graph.number_of_edges(),
            "bi_edges": markdown_table(edges),
            "unparsed_queries": dg.MetadataValue.json(unparsed),
        }
    )
    if unparsed:
        context.log.warning(f"{len(unparsed)} BI queries did not parse; see unparsed_queries")
    return frame


class StaleReportsConfig(dg.Config):
    max_days_without_run: int = StalenessRules.max_days_without_run
    """Stale when not run for more than this many days."""
    min_runs: int = StalenessRules.min_runs
    min_views: int = StalenessRules.min_views
    min_age_days: int = StalenessRules.min_age_days
    """... or fewer than min_runs runs and min_views views after this many days."""
    archive: bool = False
    """Archive stale reports (Mode) or unpublish stale dashboards (Superset). Off: dry run."""
    max_archived: int = 25
    """Refuse to archive anything when more than this many reports are stale (a safety net)."""


def _archive_all(
    stale: DataFrame, archive: Callable[[BIObject], str]
) -> tuple[list[str], list[str]]:
    """Archive each stale object in turn; returns (actions, failures)."""
    actions, failures = [], []
    for row in stale.to_dict("records"):
        obj = BIObject(
            node_id=str(row["node_id"]),
            tool=str(row["tool"]),
            kind=str(row["kind"]),
            name=str(row["name"]),
        )
        try:
            actions.append(archive(obj))
        except BIError as error:
            actions.append(f"failed: {error}")
            failures.append(f"{obj.node_id}: {error}")
    return actions, failures


@dg.asset(key_prefix=KEY_PREFIX, group_name=GROUP, io_manager_key=IO_MANAGER_KEY, kinds={"python"})
def stale_reports(
    context: dg.AssetExecutionContext,
    config: StaleReportsConfig,
    platform_health: PlatformHealthResource,
    platform_graph: DataFrame,
) -> DataFrame:
    """BI reports not run in ``max_days_without_run`` days, or barely used after
    ``min_age_days``; every action taken (or that a dry run would take) is recorded."""
    import pandas as pd  # at run time only (utils/frames.py)

    rules = StalenessRules(
        config.max_days_without_run, config.min_runs, config.min_views, config.min_age_days
    )
    graph = from_frame(platform_graph).graph
    now = datetime.now(UTC)
    rows = []
    for node in sorted(graph.nodes):
        data = graph.nodes[node]
        reason = staleness_reason(data, now, rules)
        if reason:
            rows.append(
                {
                    "node_id": node,
                    "tool": data["tool"],
                    "kind": data["kind"],
                    "name": data["name"],
                    "url": data.get("url"),
                    "last_run_at": data.get("last_run_at"),
                    "run_count": data.get("run_count"),
                    "view_count": data.get("view_count"),
                    "reason": reason,
                }
            )
    stale = pd.DataFrame(
        rows,
        columns=[
            "node_id",
            "tool",
            "kind",
            "name",
            "url",
            "last_run_at",
            "run_count",
            "view_count",
            "reason",
        ],
    )
    stale["last_run_at"] = pd.to_datetime(stale["last_run_at"], utc=True).dt.tz_localize(None)
    for column in ("run_count", "view_count"):
        stale[column] = pd.to_numeric(stale[column]).astype("Int64")
    failures: list[str] = []
    if not config.archive:
        stale["action"] = "dry run: would archive (enable config archive)"
    elif len(stale) > config.max_archived:
        raise dg.Failure(
            description=(
                f"stale_reports: {len(stale)} stale reports exceed max_archived="
                f"{config.max_archived}; nothing was archived (raise it to proceed)"
            ),
            metadata={"stale": markdown_table(stale)},
        )
    else:
        try:
            adapter, _ = platform_health.bi_adapter()
        except BIError as error:
            raise dg.Failure(description=f"stale_reports: {error}") from None
        actions, failures = _archive_all(stale, adapter.archive)
        stale["action"] = actions
    metadata: dict[str, Any] = {
        "dagster/row_count": len(stale),
        "rules": dg.MetadataValue.json(rules.__dict__),
        "archive_enabled": config.archive,
        "stale": markdown_table(stale[["node_id", "name", "reason", "action"]]),
    }
    if failures:
        raise dg.Failure(
            description=f"stale_reports: {len(failures)} archive actions failed: {failures[0]}",
            metadata=metadata,
        )
    context.add_output_metadata(metadata)
    return stale


class UnusedModelsConfig(dg.Config):
    credits_per_hour: float = 1.0
    """Snowflake credits per hour of the warehouse dbt runs on (X-Small: 1)."""
    runs_per_day: float = 1.0
    """How often the models are rebuilt, to turn one build's time into a monthly cost."""


def _build_seconds(context: dg.AssetExecutionContext, relation: str) -> float | None:
    """How long the model's last build took (dagster-dbt records it), if Dagster knows."""
    key = dg.AssetKey([settings.PRODUCTION_DATABASE.lower(), *relation.split(".")])
    event = context.instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get("Execution Duration") if materialization else None
    raw = value.value if value is not None else None
    return float(raw) if isinstance(raw, int | float) else None


# (schema, table, rows, bytes) of every table, as each warehouse reports them.
TABLE_SIZES_SQL = {
    "duckdb": "select schema_name, table_name, estimated_size, null from duckdb_tables()",
    "snowflake": "select table_schema, table_name, row_count, bytes from information_schema.tables",
}


def _table_sizes(warehouse: WarehouseResource) -> dict[str, tuple[int | None, int | None]]:
    """``schema.table`` (lower case) -> (rows, bytes) the warehouse reports for its tables."""
    with warehouse.get_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(TABLE_SIZES_SQL[warehouse.dialect])
        rows = cursor.fetchall()
    return {
        f"{s}.{t}".lower(): (None if n is None else int(n), None if b is None else int(b))
        for s, t, n, b in rows
    }


@dg.asset(key_prefix=KEY_PREFIX, group_name=GROUP, io_manager_key=IO_MANAGER_KEY, kinds={"python"})
def unused_models(
    context: dg.AssetExecutionContext,
    config: UnusedModelsConfig,
    warehouse: dg.ResourceParam[WarehouseResource],
    platform_graph: DataFrame,
    stale_reports: DataFrame,
) -> DataFrame:
    """dbt models with no path to any exposure, snapshot or live BI object (``keep`` tag or
    meta keeps one), and those whose only consumers are stale reports; with their build time,
    size and (on Snowflake) the credits a month removing them would save."""
    import pandas as pd  # at run time only (utils/frames.py)

    platform = from_frame(platform_graph)
    graph = platform.graph
    unused = find_unused_models(graph)
    once_archived = sorted(set(find_unused_models(graph, stale_reports["node_id"])) - set(unused))
    sizes = _table_sizes(warehouse)
    snowflake = warehouse.dialect == "snowflake"
    rows = []
    for node, status in [
        *((n, "unused") for n in unused),
        *((n, "only stale consumers") for n in once_archived),
    ]:
        data = graph.nodes[node]
        seconds = _build_seconds(context, data["relation"])
        row_count, size = sizes.get(data["relation"], (None, None))
        credits = (
            round(seconds / 3600 * config.credits_per_hour * config.runs_per_day * 30, 4)
            if snowflake and seconds is not None
            else None
        )
        rows.append(
            {
                "unique_id": node,
                "name": data["name"],
                "relation": data["relation"],
                "path": data.get("path"),
                "status": status,
                "consumers": json.dumps(downstream_consumers(graph, node)),
                "build_seconds": seconds,
                "rows": row_count,
                "bytes": size,
                "estimated_credits_per_month": credits,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "unique_id",
            "name",
            "relation",
            "path",
            "status",
            "consumers",
            "build_seconds",
            "rows",
            "bytes",
            "estimated_credits_per_month",
        ],
    )
    for column in ("rows", "bytes"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    for column in ("build_seconds", "estimated_credits_per_month"):
        frame[column] = pd.to_numeric(frame[column]).astype("Float64")
    known = frame["build_seconds"].dropna()
    context.add_output_metadata(
        {
            "dagster/row_count": len(frame),
            "unused": dg.MetadataValue.json(unused),
            "only_stale_consumers": dg.MetadataValue.json(once_archived),
            "build_seconds_saved_per_run": float(known.sum()) if len(known) else 0.0,
            "models": markdown_table(frame[["name", "status", "build_seconds", "rows"]]),
        }
    )
    return frame


@dg.asset(
    key_prefix=KEY_PREFIX,
    group_name=GROUP,
    io_manager_key=IO_MANAGER_KEY,
    kinds={"python", "networkx"},
)
def model_importance(context: dg.AssetExecutionContext, platform_graph: DataFrame) -> DataFrame:
    """Degree, in/out-degree, closeness, betweenness and PageRank of every node of the platform
    graph, highest PageRank first; the chart ranks the dbt models."""
    frame = importance_frame(from_frame(platform_graph).graph)
    models = frame[frame["kind"] == "model"].head(TOP_MODELS_CHARTED)
    metadata: dict[str, Any] = {
        "dagster/row_count": len(frame),
        "top_models": markdown_table(
            models[["name", "pagerank", "betweenness", "in_degree", "out_degree"]], 10
        ),
    }
    if not models.empty:
        png = charts.bar_chart_png(
            list(models["name"]), list(models["pagerank"]), "dbt models by PageRank", "PageRank"
        )
        metadata["chart"] = dg.MetadataValue.md(charts.markdown_image(png, "models by PageRank"))
    context.add_output_metadata(metadata)
    return frame


@dg.asset(key_prefix=KEY_PREFIX, group_name=GROUP, kinds={"python"})
def model_count_history(
    context: dg.AssetExecutionContext,
    warehouse: dg.ResourceParam[WarehouseResource],
    platform_graph: DataFrame,
    unused_models: DataFrame,
    stale_reports: DataFrame,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """One row per run appended to ``model_count_history`` (models, sources, exposures, BI
    objects, unused models, stale reports, unparsed queries), charted over time."""
    kinds = platform_graph["kind"].value_counts()
    counts = {
        "models": int(kinds.get("model", 0)),
        "sources": int(kinds.get("source", 0)),
        "exposures": int(kinds.get("exposure", 0)),
        "bi_objects": int((platform_graph["tool"] != "dbt").sum()),
        "unused_models": int((unused_models["status"] == "unused").sum()),
        "stale_reports": len(stale_reports),
        "unparsed_queries": len(from_frame(platform_graph).unparsed),
    }
    now = datetime.now(UTC)
    # DuckDB's schemas are the production ones; Snowflake's follow the environment.
    schema = SCHEMA if warehouse.dialect == "duckdb" else get_schema_for_environment(SCHEMA)
    with warehouse.get_connection() as connection:
        recorded = history.record_counts(connection, schema, now, counts, warehouse.dialect)
    labels = [t.strftime("%Y-%m-%d %H:%M") for t in recorded["recorded_at"]]
    png = charts.line_chart_png(
        labels,
        {
            name: list(recorded[name])
            for name in ("models", "unused_models", "bi_objects", "stale_reports")
        },
        "Platform over time",
        "count",
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(recorded),
            "counts": dg.MetadataValue.json(counts),
            "chart": dg.MetadataValue.md(charts.markdown_image(png, "platform counts over time")),
        }
    )


def _send(
    context: dg.AssetExecutionContext,
    platform_health: PlatformHealthResource,
    proposal: Proposal,
    local_read: Callable[[str], str | None],
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Open or update the request when a token is set; otherwise describe it (dry run)."""
    try:
        host = platform_health.code_host()
        if host is None:
            proposed, notes = proposal.changes(local_read)
            # What would differ from the files deployed with this code.
            changes = {p: t for p, t in proposed.items() if local_read(p) != t}
            if not changes:
                return dg.MaterializeResult(
                    metadata={"action": "nothing to propose", "branch": proposal.branch}
                )
            return dg.MaterializeResult(
                metadata={
                    "action": "dry run: no code host token set",
                    "branch": proposal.branch,
                    "files": dg.MetadataValue.json(
                        {
                            p: ("delete" if t is None else "write")
                            for p, t in sorted(changes.items())
                        }
                    ),
                    "description": dg.MetadataValue.md(proposal.description(notes)),
                }
            )
        outcome = propose(host, proposal, platform_health.dbt_path_in_repository())
    except ChangeRequestError as error:
        raise dg.Failure(description=str(error)) from None
    metadata: dict[str, Any] = {
        "action": outcome.action,
        "branch": proposal.branch,
        "pushed": outcome.pushed,
    }
    if outcome.skipped:
        # A warning, not a failure: the run did what it safely could, and a person has to act
        # (their branch, or a symlink in the repository) before the next run can do more.
        for line in outcome.skipped:
            context.log.warning(line)
        metadata["skipped"] = dg.MetadataValue.md(
            "".join(f"- {line}\n" for line in outcome.skipped)
        )
    else:
        context.log.info(f"{proposal.branch}: {outcome.action} {outcome.url or ''}")
    if outcome.url:
        metadata["url"] = dg.MetadataValue.url(outcome.url)
    if outcome.commit:
        metadata["commit"] = outcome.commit
    return dg.MaterializeResult(metadata=metadata)


def _read_local(path: str) -> str | None:
    file = settings.DBT_PROJECT_DIR / path
    return file.read_text() if file.is_file() else None


@dg.asset(key_prefix=KEY_PREFIX, group_name=GROUP, kinds={"python", "dbt"})
def exposures_change_request(
    context: dg.AssetExecutionContext,
    platform_health: PlatformHealthResource,
    platform_graph: DataFrame,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """The dbt exposures YAML regenerated from the BI objects, proposed in a pull or merge
    request (one branch, updated in place) when the code host's token is set."""
    platform: PlatformGraph = from_frame(platform_graph)
    manifest = load_manifest()
    count = sum(1 for tool in platform_graph["tool"] if tool != "dbt")
    proposal = Proposal(
        branch=EXPOSURES_BRANCH,
        title="Platform health: update dbt exposures from the BI tool",
        body=(
            f"The BI objects reading dbt models, as dbt exposures ({count} BI objects read from "
            f"{platform_health.bi_tool}). Generated weekly by platform health "
            "(docs/platform-health.md); merge to keep lineage and ownership current."
        ),
        commit_message="Platform health: regenerate dbt exposures from the BI tool",
        changes=lambda read: (exposure_changes(platform, manifest), []),
    )
    return _send(context, platform_health, proposal, _read_local)


@dg.asset(key_prefix=KEY_PREFIX, group_name=GROUP, kinds={"python", "dbt"})
def unused_models_change_request(
    context: dg.AssetExecutionContext,
    platform_health: PlatformHealthResource,
    unused_models: DataFrame,
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """A pull or merge request removing the unused models (their SQL, YAML entries and singular
    tests), separate from the exposures one; nothing when every model is used."""
    unused = sorted(unused_models.loc[unused_models["status"] == "unused", "unique_id"])
    if not unused:
        return dg.MaterializeResult(metadata={"action": "nothing to propose: no unused model"})
    manifest = load_manifest()
    listed = "\n".join(
        f"- `{row.name}` ({row.relation}; last build {row.build_seconds} s)"
        for row in unused_models[unused_models["status"] == "unused"].itertuples(index=False)
    )
    proposal = Proposal(
        branch=REMOVAL_BRANCH,
        title=f"Platform health: remove {len(unused)} unused dbt models",
        body=(
            "No exposure, snapshot or BI object reads these models, directly or downstream:\n\n"
            f"{listed}\n\n"
            "Tag a model `keep` (or give it meta `platform_health: {keep: true}`) to keep it out "
            "of this list. Generated weekly by platform health (docs/platform-health.md)."
        ),
        commit_message=f"Platform health: remove {len(unused)} unused dbt models",
        changes=lambda read: _removal(unused, manifest, read),
    )
    return _send(context, platform_health, proposal, _read_local)


def _removal(
    unused: list[str], manifest: dict[str, Any], read: Callable[[str], str | None]
) -> Changes:
    changes, notes = removal_changes(unused, manifest, read)
    return changes, notes


PLATFORM_HEALTH_ASSETS = [
    platform_graph,
    stale_reports,
    unused_models,
    model_importance,
    model_count_history,
    exposures_change_request,
    unused_models_change_request,
]
