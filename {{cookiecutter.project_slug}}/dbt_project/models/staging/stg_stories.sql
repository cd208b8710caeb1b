select
    id as story_id,
    author,
    cast(posted_at as timestamp) as posted_at,
    title,
    url,
    coalesce(score, 0) as score,
    coalesce(descendants, 0) as comment_count
from {{ source('hackernews', 'stories') }}
where {{ dev_window('posted_at') }}
