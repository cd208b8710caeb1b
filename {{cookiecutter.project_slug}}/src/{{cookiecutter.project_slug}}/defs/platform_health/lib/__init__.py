"""Platform health's logic, with no Dagster: BI adapters (Superset, Mode), SQL-to-dbt matching,
the platform graph, staleness and unused-model rules, importance metrics and charts, exposures
YAML, and the pull or merge requests proposing changes. The component one folder up
(``component.py``, ``assets.py``) turns it into assets, a job and a schedule.
"""
