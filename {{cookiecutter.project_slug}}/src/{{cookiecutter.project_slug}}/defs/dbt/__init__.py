"""dbt, split by concern: regular models, incremental and microbatch models (daily partitions),
snapshots (own pool), and the jobs and schedules running them."""
