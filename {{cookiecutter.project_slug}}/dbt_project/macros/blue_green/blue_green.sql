{#-
  Blue/green publishing of the models in var('blue_green_folders') (marts).

  They build into "<green>_blue". on-run-start refreshes blue from green, so a run selecting
  only some marts still publishes a complete, consistent set; on-run-end promotes blue to green
  only when every node of the run succeeded or passed (exposures, which build nothing, report
  no-op). Consumers read green and never see a half-built or failing mart. Runs that neither
  select nor read a published model leave both schemas alone.

  Outside a run, blue may hold a failed run's unpublished tables or (Snowflake, after a swap) the
  previous generation, so nothing may read it then: on-run-start also refreshes blue for the
  published models the run only reads (the parents of what it selected, e.g. a mart whose test
  alone changed), and slim builds defer to production's published schema, not its blue
  (utils/dbt_state.published_state). Either is done without overriding `ref`, which would turn
  dbt's static parser off for every model.

  Each table promoted is logged as "blue/green: published <green>.<table>" (BLUE_GREEN_PUBLISHED
  in defs/dbt/publishing.py): Dagster records a published model's materialization only on that
  line, so a failed or partial promotion records none.
-#}

{% macro blue_green_schemas(unique_ids) -%}
    {#- [(green, blue)] for the published models among unique_ids, blue = green ~ '_blue'. -#}
    {%- set pairs = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.unique_id in unique_ids and node.resource_type == 'model'
              and node.schema.endswith('_blue') -%}
            {%- set pair = (node.schema[:-5], node.schema) -%}
            {%- if pair not in pairs -%}{%- do pairs.append(pair) -%}{%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{% macro blue_green_assert_safe(pairs) -%}
    {#- Refuse to reset or promote a published schema (or its blue twin) that anything but a
        published model lives in: a source's raw tables there would be dropped by the reset and
        swapped by the promotion. The template refuses such answers when it bakes; this holds
        for a team's own sources and configs too. -#}
    {%- set schemas = [] -%}
    {%- for green, blue in pairs -%}
        {%- do schemas.extend([green | lower, blue | lower]) -%}
    {%- endfor -%}
    {%- set residents = [] -%}
    {%- for node in graph.sources.values() | list + graph.nodes.values() | list -%}
        {%- set published = node.resource_type == 'model' and node.schema.endswith('_blue') -%}
        {%- if node.resource_type in ('source', 'seed', 'snapshot', 'model') and not published
              and (node.schema | lower) in schemas
              and (node.database | lower) == (target.database | lower) -%}
            {%- do residents.append(node.unique_id ~ ' (' ~ node.schema ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if residents -%}
        {{ exceptions.raise_compiler_error(
            'blue/green: refusing to reset or promote ' ~ (schemas | join(', '))
            ~ ': they hold more than published models: ' ~ (residents | join(', '))
            ~ '. Move these out of the published schemas and their _blue twins.') }}
    {%- endif -%}
{%- endmacro %}

{% macro blue_green_prepare() -%}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- do blue_green_assert_safe(blue_green_schemas(graph.nodes.keys() | list)) -%}
        {#- What the run builds, and what those nodes read: a selected test of a mart, or a model
            downstream of one, reads blue, refreshed here from green. -#}
        {%- set involved = [] -%}
        {%- for unique_id in selected_resources -%}
            {%- do involved.append(unique_id) -%}
            {%- set node = graph.nodes.get(unique_id) -%}
            {%- if node and node.depends_on -%}
                {%- do involved.extend(node.depends_on.nodes) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for green, blue in blue_green_schemas(involved) -%}
            {%- do log('blue/green: refreshing ' ~ blue ~ ' from ' ~ green, info=true) -%}
            {%- do adapter.dispatch('blue_green_clone_schema')(green, blue) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro blue_green_promote(results) -%}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- set ran = results | map(attribute='node') | map(attribute='unique_id') | list -%}
        {%- set pairs = blue_green_schemas(ran) -%}
        {%- set failed = [] -%}
        {%- for result in results -%}
            {#- Exposures report no-op: they build nothing, so they cannot fail a promotion. -#}
            {%- if result.status not in ('success', 'pass', 'no-op') -%}
                {%- do failed.append(result.node.unique_id ~ ' (' ~ result.status ~ ')') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if pairs and failed -%}
            {%- do log('blue/green: NOT promoting, green left as it was; failed: '
                       ~ (failed | join(', ')), info=true) -%}
        {%- elif pairs -%}
            {%- for green, blue in pairs -%}
                {%- do log('blue/green: promoting ' ~ blue ~ ' to ' ~ green, info=true) -%}
                {%- do adapter.dispatch('blue_green_promote_schema')(green, blue) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro blue_green_log_published(green, table) -%}
    {#- After the statements promoting `table` succeeded: what Dagster reads as "published". -#}
    {%- do log('blue/green: published ' ~ (green | lower) ~ '.' ~ (table | lower), info=true) -%}
{%- endmacro %}

{%- macro blue_green_tables(schema) -%}
    {#- Base tables (not views) of `schema` in the target database, lower case, sorted. -#}
    {%- set query -%}
        select table_name
        from {{ adapter.dispatch('blue_green_information_schema')() }}.tables
        where lower(table_catalog) = lower('{{ target.database }}')
          and lower(table_schema) = lower('{{ schema }}')
          and table_type = 'BASE TABLE'
        order by 1
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | map('lower') | list) }}
{%- endmacro -%}

{% macro snowflake__blue_green_information_schema() -%}
    {{ target.database }}.information_schema
{%- endmacro %}

{% macro default__blue_green_information_schema() -%}
    information_schema
{%- endmacro %}

{% macro blue_green_execute(statements) -%}
    {#- One statement per call: neither adapter is asked to split a script. -#}
    {%- for sql in statements -%}
        {%- do run_query(sql) -%}
    {%- endfor -%}
{%- endmacro %}

{% macro blue_green_reset_schema(blue) -%}
    {#- Drop blue through the adapter, so dbt's relation cache forgets what was there. -#}
    {%- set relation = api.Relation.create(database=target.database, schema=blue) -%}
    {%- do adapter.drop_schema(relation) -%}
    {%- do adapter.create_schema(relation) -%}
{%- endmacro %}

{% macro blue_green_cache_tables(blue, tables) -%}
    {#- Tell dbt's relation cache about the tables copied into blue (created by plain SQL). -#}
    {%- for table in tables -%}
        {%- do adapter.cache_added(api.Relation.create(
            database=target.database, schema=blue, identifier=table, type='table')) -%}
    {%- endfor -%}
{%- endmacro %}

{# ---------- Snowflake: zero-copy schema clone, atomic per-table swap ---------- #}

{% macro snowflake__blue_green_clone_schema(green, blue) -%}
    {%- set db = target.database -%}
    {%- do blue_green_reset_schema(blue) -%}
    {%- do blue_green_execute([
        'create schema if not exists ' ~ db ~ '.' ~ green,
        'create or replace schema ' ~ db ~ '.' ~ blue ~ ' clone ' ~ db ~ '.' ~ green,
    ]) -%}
    {%- do blue_green_cache_tables(blue, blue_green_tables(blue)) -%}
{%- endmacro %}

{% macro snowflake__blue_green_promote_schema(green, blue) -%}
    {%- set db = target.database -%}
    {%- for table in blue_green_tables(blue) -%}
        {%- set g = db ~ '.' ~ green ~ '.' ~ table -%}
        {%- set b = db ~ '.' ~ blue ~ '.' ~ table -%}
        {%- do blue_green_execute([
            'create table if not exists ' ~ g ~ ' clone ' ~ b,
            'alter table ' ~ g ~ ' swap with ' ~ b,
        ]) -%}
        {%- do blue_green_log_published(green, table) -%}
    {%- endfor -%}
{%- endmacro %}

{# ---------- DuckDB: copy aside, then drop and rename in one transaction ---------- #}

{% macro duckdb__blue_green_clone_schema(green, blue) -%}
    {%- do blue_green_execute(['create schema if not exists ' ~ green]) -%}
    {%- do blue_green_reset_schema(blue) -%}
    {%- set tables = blue_green_tables(green) -%}
    {%- for table in tables -%}
        {%- do blue_green_execute([
            'create table ' ~ blue ~ '.' ~ table ~ ' as select * from ' ~ green ~ '.' ~ table,
        ]) -%}
    {%- endfor -%}
    {%- do blue_green_cache_tables(blue, tables) -%}
{%- endmacro %}

{% macro duckdb__blue_green_promote_schema(green, blue) -%}
    {%- do blue_green_execute(['create schema if not exists ' ~ green]) -%}
    {%- for table in blue_green_tables(blue) -%}
        {%- set g = green ~ '.' ~ table -%}
        {%- do blue_green_execute([
            'create or replace table ' ~ g ~ '__promoting as select * from ' ~ blue ~ '.' ~ table,
            'drop table if exists ' ~ g,
            'alter table ' ~ g ~ '__promoting rename to ' ~ table,
        ]) -%}
        {%- do blue_green_log_published(green, table) -%}
    {%- endfor -%}
{%- endmacro %}
