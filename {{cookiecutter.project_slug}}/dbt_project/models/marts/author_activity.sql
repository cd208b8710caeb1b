with activity as (
    select author, 'story' as kind, score from {{ ref('stg_stories') }}
    union all
    select author, 'comment' as kind, 0 as score from {{ ref('stg_comments') }}
)

select
    author,
    sum(case when kind = 'story' then 1 else 0 end) as stories,
    sum(case when kind = 'comment' then 1 else 0 end) as comments,
    sum(score) as total_score
from activity
where author is not null
group by 1
