"""How dbt nodes become Dagster assets: one class, one method, every rule in one place.

Keys follow "key = where it lives in production": ``[<production database>, <schema>, <name>]``,
lower case, identical in LOCAL, BRANCH and PROD (only metadata points at the physical copy), so
branch deployments compare like with like and dbt sources join the ingestion assets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from .. import settings

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
            )
        )
        self._physical_database = physical_database
        self._production = settings.PRODUCTION_DATABASE.lower()
        # dagster-dbt asks for a node's spec again for every child and every test of it; the
        # base class memoizes its own work, this memoizes ours (same key) to stay near-free.
        self._specs: dict[tuple[int, str, int], dg.AssetSpec] = {}

    def get_asset_spec(
        self,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: Any,
    ) -> dg.AssetSpec:
        memo = (id(manifest), unique_id, id(project))
        if memo in self._specs:
            return self._specs[memo]
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        meta = props.get("meta") or props.get("config", {}).get("meta") or {}
        schema, name = production_location(props)

        replacements: dict[str, Any] = {}
        if "asset_key" not in (meta.get("dagster") or {}):
            replacements["key"] = dg.AssetKey([self._production, schema, name])
        if props["resource_type"] != "source":
            replacements["group_name"] = group_for(props, meta)
            extra = dict(spec.metadata)
            if self._physical_database:
                url = snowflake_table_url(
                    settings.SNOWFLAKE_ACCOUNT, self._physical_database, schema, name
                )
                if url:
                    extra["dagster/uri"] = url
            replacements["metadata"] = extra
            owners = owners_from_meta(meta)
            if owners:
                replacements["owners"] = sorted({*spec.owners, *owners})
        self._specs[memo] = spec.replace_attributes(**replacements)
        return self._specs[memo]


def production_location(props: Mapping[str, Any]) -> tuple[str, str]:
    """``(schema, name)`` of a node in production, independent of the dbt target parsed with."""
    config = props.get("config") or {}
    if props["resource_type"] == "source":
        meta = props.get("meta") or {}
        schema = meta.get("production_schema") or props["source_name"]
        name = props.get("identifier") or props["name"]
    else:
        schema = config.get("schema") or settings.DBT_DEFAULT_SCHEMA
        name = config.get("alias") or props.get("alias") or props["name"]
    return str(schema).lower(), str(name).lower()


def group_for(props: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """``meta.dagster_group``, then snapshots, then a known tag, then the models/ folder."""
    if meta.get("dagster_group"):
        return str(meta["dagster_group"])
    if props["resource_type"] == "snapshot":
        return SNAPSHOT_GROUP
    tags = props.get("tags") or []
    for tag in GROUP_TAGS:
        if tag in tags:
            return tag
    fqn = props.get("fqn") or []
    # fqn is [project, folder, ..., name]; models straight under models/ have no folder.
    return str(fqn[1]) if len(fqn) > 2 else "default"


def owners_from_meta(meta: Mapping[str, Any]) -> list[str]:
    """dbt ``meta.owner`` (an e-mail or ``team:name``, or a list of them)."""
    owner = meta.get("owner")
    if not owner:
        return []
    return [str(o) for o in (owner if isinstance(owner, list) else [owner])]
