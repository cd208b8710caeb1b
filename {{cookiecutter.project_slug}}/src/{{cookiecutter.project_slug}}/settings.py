"""The answers this project was generated with: the one module the template renders values into.

Every other module imports these names, so the code stays plain Python and template upgrades
(``cruft update``) touch as little as possible. Change a value here, not in the modules using it.
Nothing here depends on where the code runs: that is ``utils.environment``'s job.
"""

from pathlib import Path

# Repository root: src/<package>/settings.py -> parents[2]. The dbt project and the local DuckDB
# file live below it (editable installs and the Docker image keep this layout).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_DUCKDB_PATH = PROJECT_ROOT / "data" / "local.duckdb"

# Dagster+
DAGSTER_PLUS_ORGANIZATION = "{{ cookiecutter.dagster_plus_organization }}"
PRODUCTION_DEPLOYMENT_NAME = "{{ cookiecutter.production_deployment_name }}"

# Snowflake (validated as unquoted identifiers when the project was generated)
SNOWFLAKE_ACCOUNT = "{{ cookiecutter.snowflake_account }}"
PRODUCTION_DATABASE = "{{ cookiecutter.snowflake_database }}"
SANDBOX_DATABASE = "{{ cookiecutter.snowflake_sandbox_database }}"
SNOWFLAKE_WAREHOUSE = "{{ cookiecutter.snowflake_warehouse }}"
SNOWFLAKE_ROLE = "{{ cookiecutter.snowflake_role }}"
# Schema of the raw Hacker News tables; dbt models choose their own schemas (dbt_project.yml).
RAW_SCHEMA = "{{ cookiecutter.snowflake_schema }}"
# Schema of dbt models that name none (the dbt targets' default schema).
DBT_DEFAULT_SCHEMA = "ANALYTICS"

# The production sweeper drops pull-request clones unused for this many days.
CLONE_RETENTION_DAYS = {{ cookiecutter.clone_retention_days }}
BLUE_GREEN_PUBLISHING = {{ "True" if cookiecutter.blue_green_publishing == "yes" else "False" }}
{%- if cookiecutter.platform_health == "yes" %}

# Platform health (docs/platform-health.md): the BI tool whose reports count as consumers
# ("none": dbt exposures only), and where its pull or merge requests go.
PLATFORM_HEALTH_BI_TOOL = "{{ cookiecutter.bi_tool }}"
CI_PROVIDER = "{{ cookiecutter.ci_provider }}"
{%- endif %}
