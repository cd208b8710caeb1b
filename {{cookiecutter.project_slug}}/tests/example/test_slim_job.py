"""The ``dbt_slim_branch_build`` job: what it refuses, and a run building exactly what changed."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.dbt.slim import JOB_NAME, dbt_slim_branch_build
from {{ cookiecutter.project_slug }}.resources import build_resources
from conftest import MaterializedWarehouse


def run(config: dict[str, object] | None = None) -> dg.ExecuteInProcessResult:
    return dbt_slim_branch_build.execute_in_process(
        run_config={"ops": {"dbt_slim_build": {"config": config or {}}}},
        resources={"dbt": build_resources()["dbt"]},
        raise_on_error=False,
    )


def failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    (event,) = [e for e in result.all_events if e.is_step_failure]
    assert event.step_failure_data is not None and event.step_failure_data.error is not None
    return event.step_failure_data.error.message


def test_branch_deployment_without_production_state_fails_clearly(
    branch_environment: str, tmp_path: Path
) -> None:
    message = failure(run({"state_dir": str(tmp_path / "state")}))
    assert "no production dbt state:" in message and "dbt-state fetch" in message


def test_outside_a_branch_deployment_it_refuses_unless_asked() -> None:
    assert "runs in branch deployments" in failure(run())


def test_production_has_no_slim_job(prod_environment: str) -> None:
    definitions = defs()
    assert JOB_NAME not in {job.name for job in definitions.jobs or []}


def test_branch_deployment_has_the_slim_job(branch_environment: str) -> None:
    assert defs().get_job_def(JOB_NAME).name == JOB_NAME


def test_slim_job_materializes_exactly_the_changed_model_and_its_children(
    materialized: MaterializedWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production state in which stg_comments differs (its code): the job builds it and
    everything downstream, on a copy of the materialized warehouse, and reports each model."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy2(materialized.path, warehouse)
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(warehouse))
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target/manifest.json").read_text())
    node = manifest["nodes"]["model.{{ cookiecutter.project_slug }}.stg_comments"]
    node["raw_code"] += "\n-- production's version differs"
    node["checksum"]["checksum"] = "0" * 64
    state = tmp_path / "state"
    state.mkdir()
    (state / "manifest.json").write_text(json.dumps(manifest))

    result = run({"allow_outside_branch_deployment": True, "state_dir": str(state)})

    assert result.success
    materialized_models = {
        event.asset_key.path[-1] for event in result.get_asset_materialization_events()
    }
    assert materialized_models == {
        "stg_comments",
        "int_comments",
        "story_rankings",
        "author_activity",
    }
