"""How dbt nodes become Dagster assets: one class, every rule in one place.

Keys follow "key = where it lives in production": ``[<database>, <schema>, <name>]``, lower case,
identical in LOCAL, BRANCH and PROD (only metadata points at the physical copy), so branch
deployments compare like with like and dbt sources join the ingestion assets. The database is
production's unless the node names its own (a source declared in ``RAW`` is ``raw/...``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, NamedTuple

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from .. import settings
from .automation import automation_condition_for
from .code_versions import MacroAwareCodeVersions

# Folders under models/ that name a group; any other folder does too, these are documented.
SNAPSHOT_GROUP = "snapshots"
# dbt tags that put a node in a group when no folder or meta says otherwise, first match wins.
GROUP_TAGS = ("finance", "marketing", "product")


def snowflake_table_url(account: str, database: str, schema: str, table: str) -> str | None:
    """Snowsight link for ``orgname-accountname`` accounts; None for legacy locators."""
    organization, dash, account_name = account.partition("-")
    if not dash or "." in account:
        return None
    return (
        f"https://app.snowflake.com/{organization.lower()}/{account_name.lower()}/"
        f"#/data/databases/{database.upper()}/schemas/{schema.upper()}/table/{table.upper()}"
    )


class ProjectDbtTranslator(DagsterDbtTranslator):
    """Production-stable keys, folder groups, Snowflake links and owners for every dbt node.

    ``physical_database`` is where this deployment's tables really are (the pull request's clone
    in BRANCH, production in PROD); None on DuckDB, where no web link exists.
    """

    def __init__(self, physical_database: str | None = None) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True,
                enable_source_tests_as_checks=True,
                # Two dbt sources naming one table are one asset (keys are where tables live).
                enable_duplicate_source_asset_keys=True,
            )
        )
        self._physical_database = physical_database
        # dagster-dbt asks for a node's spec again for every child and every test of it; the
        # base class memoizes its own work, this memoizes ours (same key) to stay near-free.
        self._specs: dict[tuple[int, str, int], dg.AssetSpec] = {}
        # unique_id -> key, filled by get_asset_spec (which sees the whole manifest): dagster-dbt
        # also asks get_asset_key alone, e.g. for test results it records as observations.
        self._keys: dict[str, dg.AssetKey] = {}
        self._default_databases: dict[int, str | None] = {}
        self._code_versions: dict[int, MacroAwareCodeVersions] = {}

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        known = self._keys.get(str(dbt_resource_props.get("unique_id")))
        return known if known is not None else asset_key_for(dbt_resource_props, None)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """``group_for`` (sources: none). Overridden, not replaced in ``get_asset_spec``:
        dagster-dbt validates the group it computes (a dbt group's name as written) first."""
        if dbt_resource_props["resource_type"] == "source":
            return None
        return group_for(dbt_resource_props, node_meta(dbt_resource_props))

    def get_asset_spec(
        self,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: Any,
    ) -> dg.AssetSpec:
        memo = (id(manifest), unique_id, id(project))
        if memo in self._specs:
            return self._specs[memo]
        props = self.get_resource_props(manifest, unique_id)
        if id(manifest) not in self._default_databases:
            self._default_databases[id(manifest)] = parse_default_database(manifest)
            self._code_versions[id(manifest)] = MacroAwareCodeVersions(manifest)
        self._keys[unique_id] = asset_key_for(props, self._default_databases[id(manifest)])
        spec = super().get_asset_spec(manifest, unique_id, project)
        meta = node_meta(props)

        replacements: dict[str, Any] = {}
        if props["resource_type"] != "source":
            # utils/automation.py: rebuilt on a code change or an off-schedule upstream update.
            replacements["automation_condition"] = automation_condition_for(props, meta)
            # Its SQL and every macro it uses (utils/code_versions.py), not its SQL alone.
            replacements["code_version"] = self._code_versions[id(manifest)].code_version(props)
            extra = dict(spec.metadata)
            published = published_relation(props)
            if published is not None:
                # dagster-dbt names where dbt builds it (<schema>_blue); consumers read green.
                extra["dagster/table_name"] = published.published
            if self._physical_database:
                database, schema, name = production_location(props, None)
                # A model with a database of its own lives there in every deployment.
                if database == settings.PRODUCTION_DATABASE.lower():
                    database = self._physical_database
                url = snowflake_table_url(settings.SNOWFLAKE_ACCOUNT, database, schema, name)
                if url:
                    extra["dagster/uri"] = url
            replacements["metadata"] = extra
            owners = owners_from_meta(meta)
            if owners:
                replacements["owners"] = sorted({*spec.owners, *owners})
        self._specs[memo] = spec.replace_attributes(**replacements)
        return self._specs[memo]


BLUE_SUFFIX = "_blue"


class BlueGreenRelation(NamedTuple):
    """A model published blue/green: dbt builds it into ``<schema>_blue``
    (macros/generate_schema_name.sql); consumers read ``<schema>``, where the on-run-end hook
    promotes it (macros/blue_green/)."""

    database: str
    schema: str
    table: str

    @property
    def built(self) -> str:
        """``database.<schema>_blue.table``: where the run builds and tests it."""
        return f"{self.database}.{self.schema}{BLUE_SUFFIX}.{self.table}"

    @property
    def published(self) -> str:
        """``database.schema.table``: what consumers read."""
        return f"{self.database}.{self.schema}.{self.table}"

    @property
    def promoted_as(self) -> str:
        """``schema.table`` (lower case), as the hook logs it once promoted."""
        return f"{self.schema}.{self.table}".lower()


def published_relation(props: Mapping[str, Any]) -> BlueGreenRelation | None:
    """The blue/green relation of a dbt node, or None: the macros' own rule, a model (not
    ephemeral: it has no table) whose schema ends in ``_blue``."""
    schema = str(props.get("schema") or "")
    materialized = (props.get("config") or {}).get("materialized")
    if props.get("resource_type") != "model" or materialized == "ephemeral":
        return None
    if not schema.endswith(BLUE_SUFFIX):
        return None
    table = str(props.get("alias") or props["name"])
    return BlueGreenRelation(str(props.get("database") or ""), schema[: -len(BLUE_SUFFIX)], table)


def parse_default_database(manifest: Mapping[str, Any]) -> str | None:
    """The database dbt gave every node that names none: the target's, at parse time."""
    found = {
        str(node["database"]).lower()
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") in ("model", "seed", "snapshot")
        and not (node.get("config") or {}).get("database")
        and node.get("database")
    }
    return found.pop() if len(found) == 1 else None


def node_meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """A dbt node's ``meta`` (dbt puts it at the top level or, for some nodes, in ``config``)."""
    return props.get("meta") or (props.get("config") or {}).get("meta") or {}


def asset_key_for(props: Mapping[str, Any], default_database: str | None) -> dg.AssetKey:
    """``meta.dagster.asset_key`` if set, else where the node lives in production."""
    meta = node_meta(props)
    explicit = (meta.get("dagster") or {}).get("asset_key")
    if explicit:
        return dg.AssetKey(list(explicit))
    return dg.AssetKey(list(production_location(props, default_database)))


def production_location(
    props: Mapping[str, Any], default_database: str | None
) -> tuple[str, str, str]:
    """``(database, schema, name)`` of a node in production, lower case, independent of the dbt
    target parsed with: a node with a database of its own (a model's ``database`` config, a
    source declared in another database) lives there; anything else in the production
    database."""
    config = props.get("config") or {}
    production = settings.PRODUCTION_DATABASE
    if props["resource_type"] == "source":
        meta = props.get("meta") or {}
        database = props.get("database") or ""
        if not database or str(database).lower() == default_database:
            database = production
        schema = meta.get("production_schema") or props.get("schema") or props["source_name"]
        name = props.get("identifier") or props["name"]
    else:
        database = config.get("database") or production
        schema = config.get("schema") or settings.DBT_DEFAULT_SCHEMA
        name = config.get("alias") or props.get("alias") or props["name"]
    return str(database).lower(), str(schema).lower(), str(name).lower()


def group_for(props: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """``meta.dagster_group``, then the dbt group, then snapshots, then a known tag, then the
    models/ folder; always a valid Dagster group name (``valid_group_name``)."""
    return valid_group_name(_group_source(props, meta))


def _group_source(props: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    if meta.get("dagster_group"):
        return str(meta["dagster_group"])
    group = props.get("group") or (props.get("config") or {}).get("group")
    if group:
        return str(group)
    if props["resource_type"] == "snapshot":
        return SNAPSHOT_GROUP
    tags = props.get("tags") or []
    for tag in GROUP_TAGS:
        if tag in tags:
            return tag
    fqn = props.get("fqn") or []
    # fqn is [project, folder, ..., name]; models straight under models/ have no folder.
    return str(fqn[1]) if len(fqn) > 2 else "default"


def valid_group_name(name: str) -> str:
    """A folder, tag or group name of any spelling as a Dagster group name (letters, digits and
    ``_`` only), stable for a given name: accents dropped (``données`` -> ``donnees``), every
    other character ``_`` (``jaffle-data`` -> ``jaffle_data``); ``default`` if nothing is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_]", "_", ascii_name).strip("_") or "default"


def owners_from_meta(meta: Mapping[str, Any]) -> list[str]:
    """dbt ``meta.owner`` (an e-mail or ``team:name``, or a list of them)."""
    owner = meta.get("owner")
    if not owner:
        return []
    return [str(o) for o in (owner if isinstance(owner, list) else [owner])]
