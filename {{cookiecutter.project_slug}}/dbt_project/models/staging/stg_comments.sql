select
    id as comment_id,
    parent as parent_id,
    author,
    cast(posted_at as timestamp) as posted_at,
    text as body
from {{ source('hackernews', 'comments') }}
where {{ dev_window('posted_at') }}
