"""The dbt project, parsed with the DuckDB ``local`` target (no credentials needed).

Asset keys do not depend on the target parsed with, so one manifest serves every environment.
``dg dev`` re-parses on start (``prepare_if_dev``); tests, CI and the Docker image build it with
``dagster-dbt project prepare-and-package --file src/<package>/dbt_project.py``.
"""

from dagster_dbt import DbtProject

# Absolute import: `dagster-dbt project prepare-and-package --file` loads this file on its own.
from {{ cookiecutter.project_slug }} import settings

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target="local",
)
dbt_project.prepare_if_dev()
