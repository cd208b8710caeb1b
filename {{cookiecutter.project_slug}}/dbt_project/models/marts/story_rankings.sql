with comment_counts as (
    select parent_id as story_id, count(*) as comments_ingested
    from {{ ref('stg_comments') }}
    group by 1
)

select
    stories.story_id,
    stories.title,
    stories.author,
    stories.posted_at,
    stories.score,
    coalesce(comment_counts.comments_ingested, 0) as comments_ingested,
    rank() over (order by stories.score desc, stories.story_id) as score_rank
from {{ ref('stg_stories') }} as stories
left join comment_counts using (story_id)
