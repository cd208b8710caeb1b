"""The code location loads in every environment, with no secret set, and the same asset keys."""

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_snowflake_pandas import SnowflakePandasIOManager

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.dbt.common import SNAPSHOTS_POOL
from {{ cookiecutter.project_slug }}.defs.dbt.snapshots import build_dbt_snapshots
from {{ cookiecutter.project_slug }}.resources import DuckDBPandasIOManager

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


def test_definitions_load_without_pandas_or_snowflake(local_environment: object) -> None:
    """Loading the definitions on DuckDB imports neither pandas (half a second: utils/frames.py)
    nor the Snowflake integrations (seconds); a fresh process, as `dg dev` and `make run` start."""
    probe = (
        "import sys\n"
        "from {{ cookiecutter.project_slug }}.definitions import defs\n"
        "defs().resolve_all_job_defs()\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'dagster_snowflake') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()[-1]
    assert loaded == "[]"


def test_snapshots_run_in_a_pool_of_one(tmp_path: Path) -> None:
    """dbt snapshots are in pool dbt-snapshots; an instance made from the project's dagster.yaml
    (what `make dev` uses) limits that pool to one step at a time."""
    assert build_dbt_snapshots().op.pool == SNAPSHOTS_POOL == "dbt-snapshots"
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        pool_config = instance.get_concurrency_config().pool_config
    assert pool_config.default_pool_limit == 1
