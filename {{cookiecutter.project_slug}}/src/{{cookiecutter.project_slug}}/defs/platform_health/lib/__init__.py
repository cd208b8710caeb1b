"""Platform health's logic, using no Dagster API: BI adapters (the chosen tool's), SQL-to-dbt
matching, the platform graph (asset keys by the dbt translator's rules, utils/dbt_translator.py),
staleness and unused-model rules, importance metrics and charts, exposures YAML, and the pull or
merge requests proposing changes. The component one folder up (``component.py``, ``assets.py``)
turns it into assets, a job and a schedule.
"""
