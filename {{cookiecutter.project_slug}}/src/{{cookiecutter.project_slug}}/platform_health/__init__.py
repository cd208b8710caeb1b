"""Platform health: the metapipeline that curates the platform itself.

Pure logic, no Dagster: BI adapters (Superset, Mode), SQL-to-dbt matching, the platform graph,
staleness and unused-model rules, importance metrics and charts, exposures YAML, and the pull or
merge requests proposing changes. ``defs/platform_health`` turns it into assets and a schedule.
See docs/platform-health.md.
"""
