{#-
  Microbatch model: dbt splits a run into one batch per day between --event-time-start and
  --event-time-end, reading only that day of stg_stories (its event_time is posted_at).
  `begin` is the first day of the Dagster partitions (dbt_args.PARTITIONS_START_DATE).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='microbatch',
    event_time='posted_at',
    begin='2025-01-01',
    batch_size='day',
    lookback=1,
) }}

select
    story_id,
    author,
    title,
    score,
    comment_count,
    posted_at,
    cast(posted_at as date) as posted_on
from {{ ref('stg_stories') }}
