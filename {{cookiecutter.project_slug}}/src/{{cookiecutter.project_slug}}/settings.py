"""The answers this project was generated with: the one module the template renders values into.

Every other module imports these names, so the code stays plain Python and template upgrades
(``cruft update``) touch as little as possible. Change a value here, not in the modules using it.
Nothing here depends on where the code runs: that is ``utils.environment``'s job.
"""

from pathlib import Path

# Where the code runs from. In a checkout (editable install: `make install`, CI, `dg dev`) this
# package is <repository>/src/<package> and the dbt project is <repository>/dbt_project. Installed
# from a wheel, a PEX or an image (Dagster+ deploys), nothing beside the package exists: the dbt
# project and its parsed manifest travel inside the package (`make package` copies them there).
PACKAGE_DIR = Path(__file__).resolve().parent
_REPOSITORY = PACKAGE_DIR.parents[1]
IN_CHECKOUT = (_REPOSITORY / "pyproject.toml").is_file() and (
    _REPOSITORY / "dbt_project" / "dbt_project.yml"
).is_file()
PROJECT_ROOT: Path | None = _REPOSITORY if IN_CHECKOUT else None
CHECKOUT_DBT_PROJECT_DIR = _REPOSITORY / "dbt_project"
PACKAGED_DBT_PROJECT_DIR = PACKAGE_DIR / "dbt_project"
DBT_PROJECT_DIR = CHECKOUT_DBT_PROJECT_DIR if IN_CHECKOUT else PACKAGED_DBT_PROJECT_DIR
# The local DuckDB warehouse: data/ in a checkout; an installed package uses ./data instead
# (utils.environment.get_duckdb_path, which LOCAL_DUCKDB_PATH overrides).
DEFAULT_DUCKDB_PATH: Path | None = _REPOSITORY / "data" / "local.duckdb" if IN_CHECKOUT else None

# Dagster+
DAGSTER_PLUS_ORGANIZATION = "{{ cookiecutter.dagster_plus_organization }}"
# The organization's web UI and API (EU organizations live under <org>.eu.dagster.cloud).
DAGSTER_PLUS_URL = "https://{{ cookiecutter.dagster_plus_organization }}.{{ 'eu.' if cookiecutter.dagster_plus_region == 'eu' else '' }}dagster.cloud"
PRODUCTION_DEPLOYMENT_NAME = "{{ cookiecutter.production_deployment_name }}"

# Snowflake (validated as unquoted identifiers when the project was generated)
SNOWFLAKE_ACCOUNT = "{{ cookiecutter.snowflake_account }}"
PRODUCTION_DATABASE = "{{ cookiecutter.snowflake_database }}"
SANDBOX_DATABASE = "{{ cookiecutter.snowflake_sandbox_database }}"
SNOWFLAKE_WAREHOUSE = "{{ cookiecutter.snowflake_warehouse }}"
SNOWFLAKE_ROLE = "{{ cookiecutter.snowflake_role }}"
# Branch deployments run as this role: it clones production and writes only to its clones, so a
# pull request cannot write production whatever its code does (docs/security.md has the grants).
SNOWFLAKE_BRANCH_ROLE = "{{ cookiecutter.snowflake_branch_role }}"
# Schema of the raw Hacker News tables; dbt models choose their own schemas (dbt_project.yml).
RAW_SCHEMA = "{{ cookiecutter.snowflake_schema }}"
# Schema of dbt models that name none (the dbt targets' default schema).
DBT_DEFAULT_SCHEMA = "ANALYTICS"

# The production sweeper drops pull-request clones unused for this many days.
CLONE_RETENTION_DAYS = {{ cookiecutter.clone_retention_days }}
BLUE_GREEN_PUBLISHING = {{ "True" if cookiecutter.blue_green_publishing else "False" }}

# Pull-request clones are <PRODUCTION>_CLONE_<pull request>. When two projects (code locations or
# repositories) clone the same production database, give each its own discriminator, e.g. "ELT":
# its clones are then <PRODUCTION>_CLONE_ELT_<pull request>. Upper-case letters, digits and "_",
# starting with a letter. Changing it orphans existing clones: drop them first.
CLONE_NAME_DISCRIMINATOR = ""
