"""The code location loads in every environment, with no secret set, and the same asset keys."""

import dagster as dg
import pytest
from dagster_duckdb_pandas import DuckDBPandasIOManager
from dagster_snowflake_pandas import SnowflakePandasIOManager

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs

PREFIX = [settings.PRODUCTION_DATABASE.lower(), settings.RAW_SCHEMA.lower()]


def load() -> dg.Definitions:
    definitions = defs()
    assert isinstance(definitions, dg.Definitions)
    return definitions


def asset_keys(definitions: dg.Definitions) -> set[dg.AssetKey]:
    return set(definitions.resolve_asset_graph().get_all_asset_keys())


@pytest.fixture
def local_keys() -> set[dg.AssetKey]:
    return asset_keys(load())


def test_local_definitions_include_ingestion_and_dbt(local_keys: set[dg.AssetKey]) -> None:
    expected = {dg.AssetKey([*PREFIX, name]) for name in ("items", "comments", "stories")}
    assert expected <= local_keys
    assert dg.AssetKey([PREFIX[0], "analytics", "story_rankings"]) in local_keys
    assert all(key.path[0] == PREFIX[0] for key in local_keys)
    assert all(part == part.lower() for key in local_keys for part in key.path)


def test_dbt_sources_resolve_to_the_ingestion_assets() -> None:
    graph = load().resolve_asset_graph()
    staging = dg.AssetKey([PREFIX[0], "staging", "stg_stories"])
    assert dg.AssetKey([*PREFIX, "stories"]) in graph.get(staging).parent_keys
    # No dangling source key: every parent of every asset is itself defined.
    defined = set(graph.get_all_asset_keys())
    dangling = {p for key in defined for p in graph.get(key).parent_keys} - defined
    assert not dangling


@pytest.mark.parametrize("environment", ["branch_environment", "prod_environment"])
def test_same_asset_keys_in_every_environment(
    request: pytest.FixtureRequest, local_keys: set[dg.AssetKey], environment: str
) -> None:
    request.getfixturevalue(environment)
    assert asset_keys(load()) == local_keys


def test_local_resources_use_duckdb(local_environment: object) -> None:
    resources = load().resources or {}
    assert isinstance(resources["io_manager"], DuckDBPandasIOManager)
    assert resources["io_manager"].database == str(local_environment)
    assert resources["dbt"].target == "local"


def test_branch_resources_target_the_clone_never_production(branch_environment: str) -> None:
    resources = load().resources or {}
    io_manager = resources["io_manager"]
    assert isinstance(io_manager, SnowflakePandasIOManager)
    assert io_manager.database == branch_environment
    assert resources["warehouse"].database == branch_environment
    assert resources["dbt"].target == "branch_deployment"
    databases = {io_manager.database, resources["warehouse"].database}
    assert settings.PRODUCTION_DATABASE not in databases


def test_prod_resources_target_production(prod_environment: str) -> None:
    resources = load().resources or {}
    assert resources["io_manager"].database == prod_environment
    assert resources["dbt"].target == "prod"


def test_definitions_validate_without_secrets(branch_environment: str) -> None:
    """What `dg check defs` does in CI: resolve every job and the repository."""
    definitions = load()
    definitions.resolve_all_job_defs()
    assert definitions.resolve_asset_graph().get_all_asset_keys()
