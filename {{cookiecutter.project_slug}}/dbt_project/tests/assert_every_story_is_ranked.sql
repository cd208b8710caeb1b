{#- Singular test: the ranking has exactly one row per staged story. -#}
select count(*) as stories
from {{ ref('stg_stories') }}
having count(*) != (select count(*) from {{ ref('story_rankings') }})
