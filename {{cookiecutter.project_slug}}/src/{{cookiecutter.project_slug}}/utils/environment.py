"""Where am I running, and so which database, schema, warehouse and dbt target?

The only module that reads the deployment's environment variables. Every helper reads them when
it is called (never at import), is free of side effects, and returns validated names, so the rest
of the code base asks here instead of re-deriving anything.

==========  =====================================  ====================  ==================
env         how it is detected                     database              dbt target
==========  =====================================  ====================  ==================
LOCAL       outside Dagster+ (laptops, CI, tests)  SANDBOX (or DuckDB)   local / personal
BRANCH      DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT=1   <PROD>_CLONE_<pr id>  branch_deployment
PROD        DAGSTER_CLOUD_DEPLOYMENT_NAME=<prod>   <PROD>                prod
==========  =====================================  ====================  ==================

Any other Dagster+ deployment is refused with one line naming DAGSTER_CLOUD_DEPLOYMENT_NAME.
"""

from __future__ import annotations

import getpass
import os
import re
from enum import StrEnum
from pathlib import Path

from .. import settings
from .identifiers import InvalidIdentifierError, validate_identifier


class Environment(StrEnum):
    LOCAL = "LOCAL"
    BRANCH = "BRANCH"
    PROD = "PROD"


class Warehouse(StrEnum):
    DUCKDB = "duckdb"
    SNOWFLAKE = "snowflake"


class UnsafeEnvironmentError(RuntimeError):
    """The environment variables describe an impossible or unsafe deployment."""


CLONE_INFIX = "_CLONE_"
# Canonical pull request numbers only: ASCII digits, no leading zero ("0012" and "12" must never
# name two clones), at most 18 digits.
_PULL_REQUEST_ID = re.compile(r"[1-9][0-9]{0,17}")
# settings.CLONE_NAME_DISCRIMINATOR: empty, or upper case and starting with a letter, so that
# "<PROD>_CLONE_<digits>" and "<PROD>_CLONE_<DISCRIMINATOR>_<digits>" can never be the same name.
_DISCRIMINATOR = re.compile(r"[A-Z][A-Z0-9_]{0,31}")


def get_environment() -> Environment:
    """BRANCH in a Dagster+ branch deployment, PROD in the production deployment, LOCAL outside
    Dagster+. Any other Dagster+ deployment (say a ``staging`` full deployment) is refused: it
    would otherwise run as LOCAL, writing a DuckDB file inside its container."""
    if os.environ.get("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "") == "1":
        return Environment.BRANCH
    deployment = os.environ.get("DAGSTER_CLOUD_DEPLOYMENT_NAME", "")
    if deployment == settings.PRODUCTION_DEPLOYMENT_NAME:
        return Environment.PROD
    if deployment:
        raise UnsafeEnvironmentError(
            f"DAGSTER_CLOUD_DEPLOYMENT_NAME: {deployment!r} is neither the production deployment "
            f"{settings.PRODUCTION_DEPLOYMENT_NAME!r} nor a branch deployment; deploy this code "
            "location only there, or make it production with PRODUCTION_DEPLOYMENT_NAME in "
            "settings.py (docs/environments.md)"
        )
    return Environment.LOCAL


def get_pull_request_id() -> str:
    """The branch deployment's pull request number, canonical (``12``, never ``012``), or refuse."""
    value = os.environ.get("DAGSTER_CLOUD_PULL_REQUEST_ID", "")
    if not _PULL_REQUEST_ID.fullmatch(value):
        raise UnsafeEnvironmentError(
            f"DAGSTER_CLOUD_PULL_REQUEST_ID: {value!r} is not a pull request number "
            "(1 to 18 ASCII digits, no leading zero); refusing to name a clone database from it"
        )
    return value


def clone_name_prefix(
    production: str = settings.PRODUCTION_DATABASE,
    discriminator: str = settings.CLONE_NAME_DISCRIMINATOR,
) -> str:
    """``<PRODUCTION>_CLONE_`` (or ``<PRODUCTION>_CLONE_<DISCRIMINATOR>_``), exactly as Snowflake
    stores the unquoted name: upper case."""
    if discriminator and not _DISCRIMINATOR.fullmatch(discriminator):
        raise UnsafeEnvironmentError(
            f"CLONE_NAME_DISCRIMINATOR: {discriminator!r} is not allowed: use upper-case letters, "
            "digits and '_', starting with a letter (at most 32 characters), or leave it empty"
        )
    middle = f"{discriminator}_" if discriminator else ""
    return f"{validate_identifier(production, 'production database')}{CLONE_INFIX}{middle}"


def clone_database_name(
    pull_request_id: str,
    production: str = settings.PRODUCTION_DATABASE,
    discriminator: str = settings.CLONE_NAME_DISCRIMINATOR,
) -> str:
    """``<PRODUCTION>_CLONE_[<DISCRIMINATOR>_]<pull request id>``, validated."""
    if not isinstance(pull_request_id, str) or not _PULL_REQUEST_ID.fullmatch(pull_request_id):
        raise UnsafeEnvironmentError(
            f"pull request id {pull_request_id!r} is not a canonical pull request number"
        )
    name = f"{clone_name_prefix(production, discriminator)}{pull_request_id}"
    return validate_identifier(name, "clone database")


def clone_pull_request_id(
    database: str,
    production: str = settings.PRODUCTION_DATABASE,
    discriminator: str = settings.CLONE_NAME_DISCRIMINATOR,
) -> str | None:
    """The pull request a database name belongs to, if it is exactly this project's clone name.

    Exact means exact: no case folding (``production_clone_9`` is another database than
    ``PRODUCTION_CLONE_9`` in Snowflake), ASCII digits only, no leading zero.
    """
    if not isinstance(database, str):
        return None
    prefix = clone_name_prefix(production, discriminator)
    suffix = database[len(prefix) :]
    if not database.startswith(prefix) or not _PULL_REQUEST_ID.fullmatch(suffix):
        return None
    return suffix


def is_production_clone(
    database: str,
    production: str = settings.PRODUCTION_DATABASE,
    discriminator: str = settings.CLONE_NAME_DISCRIMINATOR,
) -> bool:
    """True only for exactly ``clone_database_name(<canonical id>)``: never production, never a
    name that differs in case, digits or discriminator."""
    return clone_pull_request_id(database, production, discriminator) is not None


def get_database_for_environment(default: str = settings.PRODUCTION_DATABASE) -> str:
    """PROD: ``default``; BRANCH: the pull request's clone of it; LOCAL: the sandbox database."""
    environment = get_environment()
    if environment is Environment.PROD:
        return validate_identifier(default, "production database")
    if environment is Environment.BRANCH:
        return clone_database_name(get_pull_request_id(), default)
    return validate_identifier(settings.SANDBOX_DATABASE, "sandbox database")


def get_developer_schema() -> str:
    """``SANDBOX_SCHEMA_NAME`` if set (validated), else the OS user name made an identifier."""
    explicit = os.environ.get("SANDBOX_SCHEMA_NAME", "")
    if explicit:
        return validate_identifier(explicit, "SANDBOX_SCHEMA_NAME")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name, e.g. an anonymous container user
        user = ""
    schema = re.sub(r"[^A-Za-z0-9_]", "_", user).strip("_")
    if not schema:
        schema = "DEVELOPER"
    if schema[0].isdigit():
        schema = f"_{schema}"
    return validate_identifier(schema[:255], "developer schema")


def get_schema_for_environment(default_schema: str) -> str:
    """LOCAL: the developer's own schema; BRANCH and PROD: ``default_schema``."""
    if get_environment() is Environment.LOCAL:
        return get_developer_schema()
    return validate_identifier(default_schema, "schema")


def get_warehouse() -> Warehouse:
    """Snowflake in BRANCH and PROD; LOCAL uses DuckDB unless ``LOCAL_WAREHOUSE=snowflake``."""
    if get_environment() is not Environment.LOCAL:
        return Warehouse.SNOWFLAKE
    value = os.environ.get("LOCAL_WAREHOUSE", "").strip().lower() or Warehouse.DUCKDB.value
    try:
        return Warehouse(value)
    except ValueError:
        allowed = ", ".join(w.value for w in Warehouse)
        raise UnsafeEnvironmentError(
            f"LOCAL_WAREHOUSE: {value!r} is not one of: {allowed}"
        ) from None


def get_dbt_target() -> str:
    """The profiles.yml target: ``local`` (DuckDB), ``personal``, ``branch_deployment``, ``prod``."""
    environment = get_environment()
    if environment is Environment.PROD:
        return "prod"
    if environment is Environment.BRANCH:
        return "branch_deployment"
    return "local" if get_warehouse() is Warehouse.DUCKDB else "personal"


def get_duckdb_path() -> Path:
    """Absolute path of the local DuckDB warehouse: ``LOCAL_DUCKDB_PATH``, else ``data/local.duckdb``
    in the checkout (or, for an installed package, below the working directory)."""
    override = os.environ.get("LOCAL_DUCKDB_PATH", "")
    if override:
        return Path(override).expanduser().resolve()
    if settings.DEFAULT_DUCKDB_PATH is not None:
        return settings.DEFAULT_DUCKDB_PATH
    return (Path.cwd() / "data" / "local.duckdb").resolve()


def get_dagster_home() -> Path | None:
    """The persistent local Dagster instance (``DAGSTER_HOME``; the Makefile sets the project's
    ``.dagster_home``), or None for a throwaway one."""
    value = os.environ.get("DAGSTER_HOME", "")
    return Path(value).expanduser().resolve() if value else None


def get_dbt_environment_variables() -> dict[str, str]:
    """Variables profiles.yml reads, so dbt lands exactly where the Python assets do."""
    if get_warehouse() is Warehouse.DUCKDB:
        return {"DBT_DUCKDB_PATH": str(get_duckdb_path())}
    return {
        "DBT_SNOWFLAKE_DATABASE": get_database_for_environment(),
        "DBT_SNOWFLAKE_SCHEMA": get_schema_for_environment(settings.DBT_DEFAULT_SCHEMA),
    }


def get_snowflake_auth_variables() -> dict[str, str]:
    """Which credential variables to read at run time: key-pair if a private key is set."""
    if os.environ.get("SNOWFLAKE_PRIVATE_KEY"):
        names = {"user": "SNOWFLAKE_USER", "private_key": "SNOWFLAKE_PRIVATE_KEY"}
        if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSWORD"):
            names["private_key_password"] = "SNOWFLAKE_PRIVATE_KEY_PASSWORD"
        return names
    return {"user": "SNOWFLAKE_USER", "password": "SNOWFLAKE_PASSWORD"}


__all__ = [
    "CLONE_INFIX",
    "Environment",
    "InvalidIdentifierError",
    "UnsafeEnvironmentError",
    "Warehouse",
    "clone_database_name",
    "clone_name_prefix",
    "clone_pull_request_id",
    "get_dagster_home",
    "get_database_for_environment",
    "get_dbt_environment_variables",
    "get_dbt_target",
    "get_developer_schema",
    "get_duckdb_path",
    "get_environment",
    "get_pull_request_id",
    "get_schema_for_environment",
    "get_snowflake_auth_variables",
    "get_warehouse",
    "is_production_clone",
]
