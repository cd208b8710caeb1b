"""The README's run-config snippets name real ops and valid config (a wrong op name would be
silently ignored by nobody: Dagster refuses it, and so does this test)."""

import json
import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from {{ cookiecutter.project_slug }}.definitions import defs

README = Path(__file__).resolve().parents[2] / "README.md"
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def snippets() -> list[Any]:
    return [json.loads(block) for block in JSON_BLOCK.findall(README.read_text())]


def test_the_readme_has_run_config_snippets() -> None:
    assert snippets(), "README.md documents no run config"


@pytest.mark.parametrize("run_config", snippets())
def test_run_config_snippet_is_valid_for_its_assets(run_config: Any) -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    by_op = {"__".join(key.path): key for key in graph.get_all_asset_keys()}
    unknown = set(run_config["ops"]) - set(by_op)
    assert not unknown, f"no asset op named {sorted(unknown)}"
    job_name = "readme_snippet"
    job = dg.Definitions.merge(
        definitions,
        dg.Definitions(
            jobs=[dg.define_asset_job(job_name, [by_op[op] for op in run_config["ops"]])]
        ),
    ).resolve_job_def(job_name)
    assert dg.validate_run_config(job, run_config)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(
            job, {"ops": {op: {"config": {"nope": 1}} for op in run_config["ops"]}}
        )
