"""Each query shape a BI tool sends maps to exactly the dbt nodes it reads (sqlglot, per dialect).

The index is built from the example project's real manifest; the databases a reference may name
are the manifest's (the DuckDB file's name, ``local``) and production's.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.graph import (
    dbt_locations,
    manifest_databases,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.sql import (
    Relation,
    RelationIndex,
    UnparsableSQLError,
    strip_templating,
    tables_read,
)

PROJECT = "{{ cookiecutter.project_slug }}"
# Template markup, built from pieces (this file is itself rendered by a template engine).
EXPR_OPEN, EXPR_CLOSE = "{" * 2, "}" * 2
TAG_OPEN, TAG_CLOSE = "{" + "%", "%" + "}"
COMMENT_OPEN, COMMENT_CLOSE = "{" + "#", "#" + "}"
PRODUCTION = settings.PRODUCTION_DATABASE


def model(name: str) -> str:
    return f"model.{PROJECT}.{name}"


STORY_RANKINGS = model("story_rankings")
AUTHOR_ACTIVITY = model("author_activity")
STG_STORIES = model("stg_stories")
STG_COMMENTS = model("stg_comments")
ITEMS = f"source.{PROJECT}.hackernews.items"


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(dbt_manifest.read_text())
    return loaded


def index_for(manifest: dict[str, Any], dialect: str) -> RelationIndex:
    return RelationIndex(
        dbt_locations(manifest),
        manifest_databases(manifest) | {PRODUCTION},
        dialect,
        settings.DBT_DEFAULT_SCHEMA,
    )


# (dialect, SQL, default schema of the BI object, dbt nodes it reads)
CASES = [
    ("duckdb", "select * from analytics.story_rankings", None, {STORY_RANKINGS}),
    ("duckdb", 'select * from "analytics"."story_rankings"', None, {STORY_RANKINGS}),
    # DuckDB resolves identifiers case-insensitively, quoted or not.
    ("duckdb", "SELECT * FROM ANALYTICS.Story_Rankings", None, {STORY_RANKINGS}),
    ("duckdb", 'select * from "ANALYTICS"."STORY_RANKINGS"', None, {STORY_RANKINGS}),
    ("duckdb", "select r.title from analytics.story_rankings as r", None, {STORY_RANKINGS}),
    (
        "duckdb",
        "select r.title from analytics.story_rankings r where r.score > 1",
        None,
        {STORY_RANKINGS},
    ),
    # A CTE named like a model shadows it: nothing is read from dbt.
    ("duckdb", "with story_rankings as (select 1 as x) select * from story_rankings", None, set()),
    (
        "duckdb",
        "with top as (select * from staging.stg_stories) "
        "select * from top join analytics.author_activity using (author)",
        None,
        {STG_STORIES, AUTHOR_ACTIVITY},
    ),
    (
        "duckdb",
        "with a as (select * from staging.stg_comments), b as (select * from a) select * from b",
        None,
        {STG_COMMENTS},
    ),
    # Database qualification: the DuckDB file's catalog and production's are the warehouse's.
    ("duckdb", "select * from local.analytics.story_rankings", None, {STORY_RANKINGS}),
    ("duckdb", f"select * from {PRODUCTION}.analytics.story_rankings", None, {STORY_RANKINGS}),  # noqa: S608
    ("duckdb", "select * from other_db.analytics.story_rankings", None, set()),
    # Unqualified names: the BI object's default schema, else the dbt targets' default schema.
    ("duckdb", "select * from story_rankings", None, {STORY_RANKINGS}),
    ("duckdb", "select * from stg_stories", "staging", {STG_STORIES}),
    ("duckdb", "select * from stg_stories", None, set()),
    ("duckdb", "select id from hackernews.items", None, {ITEMS}),
    (
        "duckdb",
        "select * from analytics.author_activity "
        "where author in (select author from staging.stg_comments)",
        None,
        {AUTHOR_ACTIVITY, STG_COMMENTS},
    ),
    (
        "duckdb",
        "select author from analytics.author_activity union all select author from staging.stg_stories",
        None,
        {AUTHOR_ACTIVITY, STG_STORIES},
    ),
    ("duckdb", "select * from information_schema.tables", None, set()),
    ("duckdb", "select 1; select * from analytics.story_rankings;", None, {STORY_RANKINGS}),
    # Mode's Liquid parameters and Superset's Jinja are not SQL: stripped before parsing.
    (
        "duckdb",
        f"select * from analytics.story_rankings where score > {EXPR_OPEN} min_score {EXPR_CLOSE}\n"  # noqa: S608
        f"{TAG_OPEN} form {TAG_CLOSE}\nmin_score:\n  type: number\n{TAG_OPEN} endform {TAG_CLOSE}",
        None,
        {STORY_RANKINGS},
    ),
    # Snowflake: unquoted names resolve upper-case, quoted names exactly.
    ("snowflake", "select * from analytics.story_rankings", None, {STORY_RANKINGS}),
    ("snowflake", "select * from ANALYTICS.STORY_RANKINGS", None, {STORY_RANKINGS}),
    ("snowflake", 'select * from "ANALYTICS"."STORY_RANKINGS"', None, {STORY_RANKINGS}),
    ("snowflake", 'select * from "analytics"."story_rankings"', None, set()),
    (
        "snowflake",
        f"select * from {PRODUCTION.lower()}.analytics.story_rankings",  # noqa: S608
        None,
        {STORY_RANKINGS},
    ),
    ("snowflake", f'select * from "{PRODUCTION}".ANALYTICS.STORY_RANKINGS', None, {STORY_RANKINGS}),  # noqa: S608
    ("snowflake", "select * from OTHER_DB.ANALYTICS.STORY_RANKINGS", None, set()),
    (
        "snowflake",
        "select a.author, f.value from analytics.author_activity a, "
        "lateral flatten(input => parse_json(a.author)) f",
        None,
        {AUTHOR_ACTIVITY},
    ),
    ("snowflake", "select * from stg_stories", "STAGING", {STG_STORIES}),
    (
        "snowflake",
        "with x as (select * from STAGING.STG_STORIES) select * from x qualify row_number() "
        "over (partition by author order by score desc) = 1",
        None,
        {STG_STORIES},
    ),
]


@pytest.mark.parametrize(("dialect", "sql", "default_schema", "expected"), CASES)
def test_query_maps_to_the_dbt_nodes_it_reads(
    manifest: dict[str, Any], dialect: str, sql: str, default_schema: str | None, expected: set[str]
) -> None:
    assert index_for(manifest, dialect).nodes_read(sql, default_schema) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "selec * form analytics.story_rankings",
        "select * from (select 1",
        "select * from where",
    ],
)
@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_sql_that_does_not_parse_is_refused_clearly(
    manifest: dict[str, Any], dialect: str, sql: str
) -> None:
    with pytest.raises(UnparsableSQLError, match=f"not valid {dialect} SQL"):
        index_for(manifest, dialect).nodes_read(sql)


def test_relations_are_normalized_per_dialect() -> None:
    sql = 'select * from Db.Analytics."Mixed"'
    assert tables_read(sql, "duckdb") == {Relation("db", "analytics", "mixed")}
    assert tables_read(sql, "snowflake") == {Relation("DB", "ANALYTICS", "Mixed")}


def test_templating_is_stripped_not_guessed() -> None:
    sql = f"select {EXPR_OPEN} x {EXPR_CLOSE} from t {COMMENT_OPEN} note {COMMENT_CLOSE}"  # noqa: S608
    assert strip_templating(sql) == "select NULL from t  "
