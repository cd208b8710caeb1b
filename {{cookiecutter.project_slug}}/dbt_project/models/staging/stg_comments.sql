select
    id as comment_id,
    parent as parent_id,
    "by" as author,
    cast("time" as timestamp) as posted_at,
    text as body
from {{ source('hackernews', 'comments') }}
where {{ dev_window('"time"') }}
