{#- Singular test: the ranking has exactly one row per staged story. It reads two models, so it
    names the one it checks: Dagster shows it as a check of story_rankings. -#}
{{ config(meta={'dagster': {'ref': {'name': 'story_rankings'}}}) }}
select count(*) as stories
from {{ ref('stg_stories') }}
having count(*) != (select count(*) from {{ ref('story_rankings') }})
