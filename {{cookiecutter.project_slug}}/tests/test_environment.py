"""The environment helpers across LOCAL, BRANCH and PROD, table-driven."""

import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.utils.environment import (
    Environment,
    UnsafeEnvironmentError,
    Warehouse,
    clone_database_name,
    clone_pull_request_id,
    get_database_for_environment,
    get_dbt_environment_variables,
    get_dbt_target,
    get_developer_schema,
    get_duckdb_path,
    get_environment,
    get_schema_for_environment,
    get_snowflake_auth_variables,
    get_warehouse,
    is_production_clone,
)
from {{ cookiecutter.project_slug }}.utils.identifiers import InvalidIdentifierError

PROD = settings.PRODUCTION_DATABASE
BRANCH_VARS = {
    "DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT": "1",
    "DAGSTER_CLOUD_DEPLOYMENT_NAME": "feature-x",
    "DAGSTER_CLOUD_PULL_REQUEST_ID": "1523",
}
PROD_VARS = {"DAGSTER_CLOUD_DEPLOYMENT_NAME": settings.PRODUCTION_DEPLOYMENT_NAME}

CASES = [
    # id, variables, environment, database, schema for "HACKERNEWS", dbt target, warehouse
    ("local", {}, Environment.LOCAL, settings.SANDBOX_DATABASE, "ALICE", "local", Warehouse.DUCKDB),
    (
        "local-snowflake",
        {"LOCAL_WAREHOUSE": "snowflake"},
        Environment.LOCAL,
        settings.SANDBOX_DATABASE,
        "ALICE",
        "personal",
        Warehouse.SNOWFLAKE,
    ),
    (
        "branch",
        BRANCH_VARS,
        Environment.BRANCH,
        f"{PROD}_CLONE_1523",
        "HACKERNEWS",
        "branch_deployment",
        Warehouse.SNOWFLAKE,
    ),
    (
        "branch-wins-over-prod-name",
        {**BRANCH_VARS, **PROD_VARS},
        Environment.BRANCH,
        f"{PROD}_CLONE_1523",
        "HACKERNEWS",
        "branch_deployment",
        Warehouse.SNOWFLAKE,
    ),
    ("prod", PROD_VARS, Environment.PROD, PROD, "HACKERNEWS", "prod", Warehouse.SNOWFLAKE),
    (
        "prod-ignores-local-warehouse",
        {**PROD_VARS, "LOCAL_WAREHOUSE": "duckdb"},
        Environment.PROD,
        PROD,
        "HACKERNEWS",
        "prod",
        Warehouse.SNOWFLAKE,
    ),
]


@pytest.mark.parametrize(
    ("variables", "environment", "database", "schema", "target", "warehouse"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_helpers_per_environment(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    environment: Environment,
    database: str,
    schema: str,
    target: str,
    warehouse: Warehouse,
) -> None:
    monkeypatch.setenv("SANDBOX_SCHEMA_NAME", "alice")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert get_environment() is environment
    assert get_database_for_environment() == database
    assert get_schema_for_environment("HACKERNEWS") == schema
    assert get_dbt_target() == target
    assert get_warehouse() is warehouse


def test_environment_values_are_exact_strings() -> None:
    assert [e.value for e in Environment] == ["LOCAL", "BRANCH", "PROD"]


def test_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_environment() is Environment.LOCAL
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", settings.PRODUCTION_DEPLOYMENT_NAME)
    assert get_environment() is Environment.PROD


@pytest.mark.parametrize(
    "pull_request_id",
    [
        "",
        "   ",
        "1; DROP DATABASE X",
        "12abc",
        "-1",
        "1.5",
        "\uff11\uff12",
        "0x1F",
        "1" * 19,
        "12 ",
        # Canonical numbers only: "0012" must not name a second clone of pull request 12.
        "0012",
        "0",
        "\u0663\u0664",  # Arabic-Indic digits: Python's isdigit() accepts them, Snowflake names do not
    ],
)
def test_unsafe_pull_request_ids_are_refused(
    monkeypatch: pytest.MonkeyPatch, pull_request_id: str
) -> None:
    for name, value in BRANCH_VARS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", pull_request_id)
    with pytest.raises(UnsafeEnvironmentError, match="DAGSTER_CLOUD_PULL_REQUEST_ID"):
        get_database_for_environment()


def test_missing_pull_request_id_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT", "1")
    with pytest.raises(UnsafeEnvironmentError, match="not a pull request number"):
        get_database_for_environment()


def test_branch_database_is_never_production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BRANCH_VARS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", settings.PRODUCTION_DEPLOYMENT_NAME)
    assert get_database_for_environment().upper() != PROD.upper()
    assert get_dbt_environment_variables()["DBT_SNOWFLAKE_DATABASE"] == f"{PROD}_CLONE_1523"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (f"{PROD}_CLONE_1523", True),
        (f"{PROD}_CLONE_7", True),
        # Exact names only: Snowflake keeps "production_clone_7" and PRODUCTION_CLONE_7 apart, so
        # a case-folding match would let a sweep act on the wrong one.
        (f"{PROD.lower()}_clone_7", False),
        (f"{PROD}_clone_7", False),
        (f"{PROD}_CLONE_0012", False),
        (f"{PROD}_CLONE_0", False),
        (f"{PROD}_CLONE_\u0661\u0662", False),
        (f"{PROD}_CLONE_\uff11\uff12", False),
        (PROD, False),
        (f"{PROD}_CLONE_", False),
        (f"{PROD}_CLONE_12a", False),
        (f"{PROD}_CLONE_1_2", False),
        (f"{PROD}_CLONE_TEAM_12", False),
        (f"X{PROD}_CLONE_1", False),
        (f"{PROD}_CLONE_1; DROP DATABASE {PROD}", False),
        (settings.SANDBOX_DATABASE, False),
    ],
)
def test_is_production_clone(name: str, expected: bool) -> None:
    assert is_production_clone(name) is expected


def test_clone_database_name() -> None:
    assert clone_database_name("42") == f"{PROD}_CLONE_42"
    assert clone_pull_request_id(f"{PROD}_CLONE_42") == "42"
    for bad in ("4 2", "042", "0", "", "\u0664\u0662"):
        with pytest.raises(UnsafeEnvironmentError):
            clone_database_name(bad)


def test_discriminator_keeps_two_projects_clones_apart() -> None:
    """Two projects cloning one production database: each only ever sees its own clones."""
    ours = clone_database_name("12", discriminator="ELT")
    assert ours == f"{PROD}_CLONE_ELT_12"
    assert clone_pull_request_id(ours, discriminator="ELT") == "12"
    assert not is_production_clone(ours)  # not a clone of the project without a discriminator
    assert not is_production_clone(f"{PROD}_CLONE_12", discriminator="ELT")
    assert not is_production_clone(f"{PROD}_CLONE_ELT_12", discriminator="EL")
    assert not is_production_clone(f"{PROD}_CLONE_ELT_12", discriminator="ELT_1")


@pytest.mark.parametrize("discriminator", ["elt", "1ELT", "ELT-1", "ELT$", "E" * 33, "\u00c9LT"])
def test_discriminator_must_be_canonical(discriminator: str) -> None:
    with pytest.raises(UnsafeEnvironmentError, match="CLONE_NAME_DISCRIMINATOR"):
        clone_database_name("12", discriminator=discriminator)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice", "ALICE"),
        ("jean.dupont", "JEAN_DUPONT"),
        ("1st-user", "_1ST_USER"),
        ("***", "DEVELOPER"),
    ],
)
def test_developer_schema_from_os_user(
    monkeypatch: pytest.MonkeyPatch, user: str, expected: str
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: user)
    assert get_developer_schema() == expected


def test_developer_schema_override_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_SCHEMA_NAME", "bob_dev")
    assert get_developer_schema() == "BOB_DEV"
    monkeypatch.setenv("SANDBOX_SCHEMA_NAME", "bob; drop schema x")
    with pytest.raises(InvalidIdentifierError, match="SANDBOX_SCHEMA_NAME"):
        get_developer_schema()


OTHER_DEPLOYMENTS = [
    name
    for name in ("staging", f"{settings.PRODUCTION_DEPLOYMENT_NAME}-eu", "Prod", "prod")
    if name != settings.PRODUCTION_DEPLOYMENT_NAME
]


@pytest.mark.parametrize("deployment", OTHER_DEPLOYMENTS)
def test_a_full_deployment_that_is_not_production_is_refused(
    monkeypatch: pytest.MonkeyPatch, deployment: str
) -> None:
    """Neither PROD nor a branch deployment: never LOCAL (a DuckDB file inside a container)."""
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", deployment)
    with pytest.raises(UnsafeEnvironmentError) as refused:
        get_environment()
    message = str(refused.value)
    assert message.startswith(f"DAGSTER_CLOUD_DEPLOYMENT_NAME: {deployment!r} is neither")
    assert "\n" not in message
    # Nothing that depends on the environment falls back to the local warehouse.
    for helper in (get_warehouse, get_dbt_target, get_database_for_environment):
        with pytest.raises(UnsafeEnvironmentError, match="DAGSTER_CLOUD_DEPLOYMENT_NAME"):
            helper()


def test_unknown_local_warehouse_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_WAREHOUSE", "postgres")
    with pytest.raises(
        UnsafeEnvironmentError, match="LOCAL_WAREHOUSE: 'postgres' is not one of: duckdb, snowflake"
    ):
        get_warehouse()


def test_duckdb_path_default_and_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("LOCAL_DUCKDB_PATH")
    assert settings.PROJECT_ROOT is not None  # the tests run from a checkout
    assert get_duckdb_path() == settings.PROJECT_ROOT / "data" / "local.duckdb"
    assert get_duckdb_path().is_absolute()
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", "relative/dir/x.duckdb")
    assert get_duckdb_path().is_absolute()
    assert get_duckdb_path().name == "x.duckdb"


def test_dbt_variables_follow_the_warehouse(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_dbt_environment_variables() == {"DBT_DUCKDB_PATH": str(get_duckdb_path())}
    monkeypatch.setenv("LOCAL_WAREHOUSE", "snowflake")
    monkeypatch.setenv("SANDBOX_SCHEMA_NAME", "alice")
    assert get_dbt_environment_variables() == {
        "DBT_SNOWFLAKE_DATABASE": settings.SANDBOX_DATABASE,
        "DBT_SNOWFLAKE_SCHEMA": "ALICE",
    }


def test_snowflake_auth_password_or_key_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_snowflake_auth_variables() == {
        "user": "SNOWFLAKE_USER",
        "password": "SNOWFLAKE_PASSWORD",
    }
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----")
    assert get_snowflake_auth_variables() == {
        "user": "SNOWFLAKE_USER",
        "private_key": "SNOWFLAKE_PRIVATE_KEY",
    }
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSWORD", "secret")
    assert (
        get_snowflake_auth_variables()["private_key_password"] == "SNOWFLAKE_PRIVATE_KEY_PASSWORD"
    )
