{#-
  Regular incremental model (delete+insert), daily-partitioned in Dagster: each run receives the
  partition window as --vars '{start_date: ..., end_date: ...}' and reprocesses exactly it.
  Without the vars (a plain `dbt build`) it appends what is newer than the table.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='comment_id',
    on_schema_change='append_new_columns',
) }}

select
    comment_id,
    parent_id,
    author,
    posted_at,
    body,
    {% if is_incremental() and var('start_date', none) -%}
        '{{ var("start_date") }}'
    {%- else -%}
        'initial'
    {%- endif %} as loaded_window
from {{ ref('stg_comments') }}
{% if is_incremental() %}
    {% if var('start_date', none) %}
where posted_at >= cast('{{ var("start_date") }}' as timestamp)
  and posted_at < cast('{{ var("end_date") }}' as timestamp)
    {% else %}
where posted_at > (select max(posted_at) from {{ this }})
    {% endif %}
{% endif %}
