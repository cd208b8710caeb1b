"""A team's own dbt project on day one, and the UI showing what `make run` built.

The default project is baked, its example removed with `make remove-example`, and a second dbt
project of another shape is written in its place: no partitions and no snapshots, a seed, an
ephemeral model, a source in another database, a model with a database of its own, and a
package-free generic test on a source. Then, as a team would: `make manifest`, `make check-defs`,
`make run`, the generated test suite and `make lint`, with no Python touched. Finally `dg dev`
serves the project and its GraphQL API must list exactly the translator's asset keys, each with
the materialization `make run` recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import SUITE_TIMEOUT, assert_pytest_summary_all_passed, run, venv_bin

SLUG = "acme_data"
FILES = {
    "dbt_project/seeds/customers.csv": "customer_id,name\n1,Ada\n2,Grace\n3,Edsger\n",
    "dbt_project/models/core/_core.yml": """
version: 2
sources:
  - name: shop
    database: raw
    schema: shop
    tables:
      - name: orders
        columns:
          - name: order_id
            data_tests: [not_null, unique]
          - name: amount
            data_tests: [is_positive]
models:
  - name: customer_orders
    columns:
      - name: customer_id
        data_tests: [not_null]
""",
    "dbt_project/tests/generic/is_positive.sql": (
        "{% test is_positive(model, column_name) %}\n"
        "select * from {{ model }} where {{ column_name }} <= 0\n"
        "{% endtest %}\n"
    ),
    "dbt_project/models/core/base_orders.sql": (
        "{{ config(materialized='ephemeral') }}\n"
        "select order_id, customer_id, amount from {{ source('shop', 'orders') }}\n"
    ),
    "dbt_project/models/core/customer_orders.sql": (
        "{{ config(materialized='table') }}\n"
        "select c.customer_id, c.name, count(o.order_id) as orders, sum(o.amount) as amount\n"
        "from {{ ref('customers') }} c left join {{ ref('base_orders') }} o using (customer_id)\n"
        "group by 1, 2\n"
    ),
    "dbt_project/models/reporting/revenue.sql": (
        "{{ config(materialized='table', database='finance', schema='reporting') }}\n"
        "select sum(amount) as revenue from {{ ref('customer_orders') }}\n"
    ),
}
# What dbt builds, keyed where each table lives in production.
EXPECTED_KEYS = {
    "production/analytics/customers",
    "production/analytics/customer_orders",
    "finance/reporting/revenue",
}
# The source, keyed in its own database: an external asset (no ingestion asset writes it here).
SOURCE_KEY = "raw/shop/orders"
# Platform health (on by default) is not part of the dbt project: its assets are left aside.
PLATFORM_HEALTH = "production/platform_health/"


def project_keys(keys: Any) -> set[str]:
    return {key for key in keys if not key.startswith(PLATFORM_HEALTH)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def graphql(port: int, query: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def own_project(
    default_project: Path, generated_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from conftest import install_project

    project = tmp_path_factory.mktemp("own") / SLUG
    shutil.copytree(default_project, project)
    install_project(project)
    make = ["make", f"VENV={generated_venv}"]
    run([*make, "remove-example"], cwd=project)
    assert not (project / "tests" / "example").exists()
    assert not (project / "src" / SLUG / "defs" / "ingestion").exists()
    assert "<!-- example -->" not in (project / "README.md").read_text()
    for relative, text in FILES.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"))
    # The databases the sources and models name exist as DuckDB files attached to the local
    # target (docs/your-dbt-project.md), the source with data in it.
    data = project / "data"
    profiles_path = project / "dbt_project" / "profiles.yml"
    profiles = yaml.safe_load(profiles_path.read_text())
    profiles[SLUG]["outputs"]["local"]["attach"] = [
        {"path": str(data / "raw.duckdb"), "alias": "raw"},
        {"path": str(data / "finance.duckdb"), "alias": "finance"},
    ]
    profiles_path.write_text(yaml.safe_dump(profiles, sort_keys=False))
    run(
        [
            str(venv_bin() / "python"),
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('create schema shop'); "
            "c.execute('create table shop.orders as select * from (values (1, 1, 10.0), (2, 1, 5.5), "
            "(3, 2, 7.25)) t(order_id, customer_id, amount)')",
            str(data / "raw.duckdb"),
        ],
        cwd=project,
    )
    run([*make, "manifest"], cwd=project)
    return project


@pytest.mark.slow
def test_definitions_load_with_only_what_the_project_has(own_project: Path, generated_venv: Path) -> None:
    run(["make", f"VENV={generated_venv}", "check-defs"], cwd=own_project)
    listed = json.loads(run(["dg", "list", "defs", "--json"], cwd=own_project).stdout)
    assert project_keys(a["asset_key"] for a in listed["assets"]) == EXPECTED_KEYS | {SOURCE_KEY}
    revenue = next(a for a in listed["assets"] if a["asset_key"] == "finance/reporting/revenue")
    assert revenue["dependency_keys"] == ["production/analytics/customer_orders"]
    orders = next(a for a in listed["assets"] if a["asset_key"] == "production/analytics/customer_orders")
    assert set(orders["dependency_keys"]) == {"production/analytics/customers", SOURCE_KEY}
    # No incremental model, snapshot or hourly test: no job or schedule for them.
    jobs = {job["name"] for job in listed["jobs"]}
    schedules = {schedule["name"] for schedule in listed["schedules"]}
    assert {"dbt_models_job", "clone_prod", "drop_prod_clone"} <= jobs
    assert not {"daily_partitioned_job", "dbt_hourly_tests_job"} & jobs
    assert "dbt_models_daily_schedule" in schedules
    assert not {"daily_partitioned_schedule", "dbt_hourly_tests_schedule"} & schedules


@pytest.mark.slow
def test_make_run_builds_it_and_the_ui_shows_exactly_that(own_project: Path, generated_venv: Path) -> None:
    result = run(["make", f"VENV={generated_venv}", "run"], cwd=own_project)
    assert "Local pipeline succeeded." in result.stdout
    for key in EXPECTED_KEYS:
        assert f"  {key}\n" in result.stdout
    assert "analytics.customer_orders" in result.stdout

    port = free_port()
    server = subprocess.Popen(
        [str(venv_bin() / "dg"), "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=own_project,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER")},
            "PATH": f"{venv_bin()}:/usr/bin:/bin",
            "DAGSTER_HOME": str(own_project / ".dagster_home"),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        nodes: list[Any] = []
        while time.monotonic() < deadline:
            try:
                answer = graphql(
                    port,
                    "{ assetNodes { assetKey { path } } "
                    "locationStatusesOrError { ... on WorkspaceLocationStatusEntries "
                    "{ entries { name loadStatus } } } }",
                )
            except OSError:
                time.sleep(2)
                continue
            entries = answer["data"]["locationStatusesOrError"]["entries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                nodes = answer["data"]["assetNodes"]
                break
            time.sleep(2)
        assert nodes, "dg dev did not load the code location in time"
        assert project_keys("/".join(n["assetKey"]["path"]) for n in nodes) == EXPECTED_KEYS | {SOURCE_KEY}
        materialized = graphql(
            port,
            "{ assetsOrError { ... on AssetConnection { nodes { key { path } "
            "assetMaterializations(limit: 1) { runId } } } } }",
        )["data"]["assetsOrError"]["nodes"]
        # Only the translator's keys carry events (no stray key); each dbt table materialized.
        with_events = {"/".join(n["key"]["path"]): n["assetMaterializations"] for n in materialized}
        defined = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert set(with_events) <= defined
        assert project_keys(key for key, events in with_events.items() if events) == EXPECTED_KEYS
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.usefixtures("mypy_cache")
def test_the_generated_suite_and_lint_pass_on_it(own_project: Path, generated_venv: Path) -> None:
    result = run(["make", f"VENV={generated_venv}", "test"], cwd=own_project, timeout=SUITE_TIMEOUT)
    assert_pytest_summary_all_passed(result.stdout, at_least=60)
    run(["make", f"VENV={generated_venv}", "lint"], cwd=own_project)
