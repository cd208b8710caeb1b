{#-
  Regular incremental model (delete+insert), daily-partitioned in Dagster: each run hands it the
  partition window (partition_start() and partition_end(), macros/partition_window.sql) and it
  reprocesses exactly that. Without a window (a plain `dbt build`) it appends what is newer than
  the table.
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
    {% if is_incremental() and partition_start() -%}
        '{{ partition_start() }}'
    {%- else -%}
        'initial'
    {%- endif %} as loaded_window
from {{ ref('stg_comments') }}
{% if is_incremental() %}
    {% if partition_start() %}
where posted_at >= cast('{{ partition_start() }}' as timestamp)
  and posted_at < cast('{{ partition_end() }}' as timestamp)
    {% else %}
where posted_at > (select max(posted_at) from {{ this }})
    {% endif %}
{% endif %}
