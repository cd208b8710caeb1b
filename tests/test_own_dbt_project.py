"""A team's own dbt project on day one, and the UI showing what `make run` built.

The default project is baked, its example removed with `make remove-example`, and a second dbt
project of another shape is written in its place, the way teams have them (modelled on dbt Labs'
jaffle shop): a dbt package installed into `dbt_packages/` as `dbt deps` lays it out (with its
lock file), a seeds folder with a hyphen in its name whose seeds load the very tables the
project's sources read, a models folder named `Core-Marts`, its own macros, a unit test, a
semantic model and a metric, an ephemeral model, a source in another database, a model with a
database of its own and a package-free generic test on a source. Then, as a team would, with no
Python touched: `make manifest` with the network unreachable (no `dbt deps`: the packages are
installed), `make check-defs`, `make run` on a fresh warehouse (the seeds must be built before the
views reading them, or the views fail), the generated test suite and `make lint`. Finally `dg
dev` serves the project and its GraphQL API must list exactly the translator's asset keys, each
with the materialization `make run` recorded, and the lineage seed -> staging -> marts.
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

from conftest import SUITE_TIMEOUT, _uv, assert_pytest_summary_all_passed, run, venv_bin

SLUG = "acme_data"
# Where a proxy would be if there were one: every request of dbt (or anything) fails at once.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
PACKAGE = {
    # As `dbt deps` installs a hub package: its own dbt_project.yml and macros, and the lock file.
    "dbt_project/packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n",
    "dbt_project/package-lock.yml": (
        "packages:\n  - name: dbt_utils\n    package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
        "sha1_hash: 226ae69cdd7a9d4a5e8b3e7eb3ad9e0e9d3d8a5e\n"
    ),
    "dbt_project/dbt_packages/dbt_utils/dbt_project.yml": (
        'name: dbt_utils\nversion: 1.3.0\nconfig-version: 2\nrequire-dbt-version: [">=1.3.0", "<2.0.0"]\n'
        "macro-paths: [macros]\n"
    ),
    "dbt_project/dbt_packages/dbt_utils/macros/safe_divide.sql": (
        "{% macro safe_divide(numerator, denominator) -%}\n"
        "  ({{ numerator }}) / nullif(({{ denominator }}), 0)\n"
        "{%- endmacro %}\n"
    ),
    "dbt_project/dbt_packages/dbt_utils/macros/generic_tests/at_least_one.sql": (
        "{% test at_least_one(model, column_name) %}\n"
        "select 1 from (select count({{ column_name }}) as n from {{ model }}) t where n = 0\n"
        "{% endtest %}\n"
    ),
}
JAFFLE = {
    "dbt_project/seeds/jaffle-data/raw_customers.csv": "id,name\n1,Ada\n2,Grace\n3,Edsger\n",
    "dbt_project/seeds/jaffle-data/raw_orders.csv": (
        "id,customer,ordered_at,order_total\n1,1,2025-01-02,1500\n2,1,2025-01-03,250\n3,2,2025-01-03,990\n"
    ),
    "dbt_project/macros/cents_to_dollars.sql": (
        "{% macro cents_to_dollars(column) -%}\n  ({{ column }} / 100)::numeric(16, 2)\n{%- endmacro %}\n"
    ),
    "dbt_project/models/staging/__sources.yml": """
version: 2
sources:
  - name: ecom
    schema: raw
    tables:
      - name: raw_customers
        columns:
          - name: id
            data_tests: [unique, not_null]
      - name: raw_orders
""",
    "dbt_project/models/staging/stg_customers.sql": (
        "select id as customer_id, name as customer_name from {{ source('ecom', 'raw_customers') }}\n"
    ),
    "dbt_project/models/staging/stg_orders.sql": (
        "select id as order_id, customer as customer_id, ordered_at,\n"
        "  {{ cents_to_dollars('order_total') }} as order_total\n"
        "from {{ source('ecom', 'raw_orders') }}\n"
    ),
    "dbt_project/models/Core-Marts/orders.sql": (
        "{{ config(materialized='table') }}\nselect * from {{ ref('stg_orders') }}\n"
    ),
    "dbt_project/models/Core-Marts/jaffle_customers.sql": (
        "{{ config(materialized='table') }}\n"
        "select c.customer_id, c.customer_name, count(o.order_id) as number_of_orders,\n"
        "  {{ dbt_utils.safe_divide('sum(o.order_total)', 'count(o.order_id)') }} as average_order\n"
        "from {{ ref('stg_customers') }} c left join {{ ref('orders') }} o using (customer_id)\n"
        "group by 1, 2\n"
    ),
    "dbt_project/models/Core-Marts/metricflow_time_spine.sql": (
        "{{ config(materialized='table') }}\n"
        "select cast(range as date) as date_day\n"
        "from range(date '2025-01-01', date '2025-02-01', interval 1 day)\n"
    ),
    "dbt_project/models/Core-Marts/_core_marts.yml": """
version: 2
models:
  - name: jaffle_customers
    columns:
      - name: customer_id
        data_tests: [unique, not_null]
      - name: number_of_orders
        data_tests: [dbt_utils.at_least_one]
  - name: orders
  - name: metricflow_time_spine
    time_spine:
      standard_granularity_column: date_day
    columns:
      - name: date_day
        granularity: day
unit_tests:
  - name: counts_each_customers_orders
    model: jaffle_customers
    given:
      - input: ref('stg_customers')
        rows:
          - {customer_id: 1, customer_name: Ada}
      - input: ref('orders')
        rows:
          - {order_id: 1, customer_id: 1, order_total: 10.0}
          - {order_id: 2, customer_id: 1, order_total: 20.0}
    expect:
      rows:
        - {customer_id: 1, customer_name: Ada, number_of_orders: 2, average_order: 15.0}
semantic_models:
  - name: orders
    model: ref('orders')
    defaults:
      agg_time_dimension: ordered_at
    entities:
      - name: order
        type: primary
        expr: order_id
      - name: customer
        type: foreign
        expr: customer_id
    dimensions:
      - name: ordered_at
        type: time
        type_params:
          time_granularity: day
    measures:
      - name: order_total
        agg: sum
metrics:
  - name: revenue
    label: Revenue
    type: simple
    type_params:
      measure: order_total
""",
}
SHOP = {
    "dbt_project/seeds/customers.csv": "customer_id,name\n1,Ada\n2,Grace\n3,Edsger\n",
    "dbt_project/models/core/_core.yml": """
version: 2
sources:
  - name: shop
    database: erp
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
FILES = {**PACKAGE, **JAFFLE, **SHOP}
# What dbt builds, keyed where each table lives in production. The jaffle seeds are where the
# `ecom` source reads: one asset each (the seed), in the group named after their folder.
SEEDS = {"production/raw/raw_customers", "production/raw/raw_orders"}
EXPECTED_KEYS = {
    *SEEDS,
    "production/staging/stg_customers",
    "production/staging/stg_orders",
    "production/analytics/orders",
    "production/analytics/jaffle_customers",
    "production/analytics/metricflow_time_spine",
    "production/analytics/customers",
    "production/analytics/customer_orders",
    "finance/reporting/revenue",
}
# The source, keyed in its own database: an external asset (no ingestion asset writes it here).
SOURCE_KEY = "erp/shop/orders"
# Platform health (when on) is not part of the dbt project: its assets are left aside.
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
        {"path": str(data / "erp.duckdb"), "alias": "erp"},
        {"path": str(data / "finance.duckdb"), "alias": "finance"},
    ]
    profiles_path.write_text(yaml.safe_dump(profiles, sort_keys=False))
    # The team's dbt_project.yml, merged in (docs/your-dbt-project.md): its seeds go to `raw`.
    dbt_project_path = project / "dbt_project" / "dbt_project.yml"
    dbt_project_yml = yaml.safe_load(dbt_project_path.read_text())
    dbt_project_yml["seeds"] = {SLUG: {"jaffle-data": {"+schema": "raw"}}}
    dbt_project_path.write_text(yaml.safe_dump(dbt_project_yml, sort_keys=False))
    # Installed after the package files were written, as `dbt deps` leaves it.
    os.utime(project / "dbt_project" / "dbt_packages")
    run(
        [
            str(venv_bin() / "python"),
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('create schema shop'); "
            "c.execute('create table shop.orders as select * from (values (1, 1, 10.0), (2, 1, 5.5), "
            "(3, 2, 7.25)) t(order_id, customer_id, amount)')",
            str(data / "erp.duckdb"),
        ],
        cwd=project,
    )
    run([*make, "manifest"], cwd=project, env=OFFLINE)
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
    by_key = {a["asset_key"]: a for a in listed["assets"]}
    # A source whose table a seed writes is that seed: readers depend on it, no second asset.
    assert by_key["production/staging/stg_customers"]["dependency_keys"] == ["production/raw/raw_customers"]
    assert by_key["production/staging/stg_orders"]["dependency_keys"] == ["production/raw/raw_orders"]
    # Folder names of any spelling become valid group names.
    assert {by_key[key]["group_name"] for key in SEEDS} == {"jaffle_data"}
    assert by_key["production/analytics/jaffle_customers"]["group_name"] == "Core_Marts"
    # The source's tests are checks of the seed now, the package's generic test one of its model.
    checks = {(c["asset_key"], c["name"]) for c in listed["asset_checks"]}
    assert ("production/raw/raw_customers", "source_unique_ecom_raw_customers_id") in checks
    at_least_one = "dbt_utils_at_least_one_jaffle_customers_number_of_orders"
    assert ("production/analytics/jaffle_customers", at_least_one) in checks
    # No incremental model, snapshot or hourly test: no job or schedule for them.
    jobs = {job["name"] for job in listed["jobs"]}
    schedules = {schedule["name"] for schedule in listed["schedules"]}
    assert {"dbt_models_job", "clone_prod", "drop_prod_clone"} <= jobs
    assert not {"daily_partitioned_job", "dbt_hourly_tests_job"} & jobs
    assert "dbt_models_daily_schedule" in schedules
    assert not {"daily_partitioned_schedule", "dbt_hourly_tests_schedule"} & schedules


@pytest.mark.slow
def test_sql_edits_reparse_offline_package_changes_install(own_project: Path, generated_venv: Path) -> None:
    make = ["make", f"VENV={generated_venv}", "manifest"]
    manifest = own_project / "dbt_project" / "target" / "manifest.json"
    staging = own_project / "dbt_project" / "models" / "staging" / "stg_customers.sql"
    staging.write_text(staging.read_text() + "-- edited\n")
    before = manifest.stat().st_mtime_ns
    run(make, cwd=own_project, env=OFFLINE)
    assert manifest.stat().st_mtime_ns > before
    # A package file newer than dbt_packages/: `dbt deps` runs (and, offline, fails saying so).
    packages = own_project / "dbt_project" / "packages.yml"
    packages.touch()
    failed = run(make, cwd=own_project, env=OFFLINE, check=False)
    assert failed.returncode != 0
    assert "deps" in failed.stdout + failed.stderr
    os.utime(own_project / "dbt_project" / "dbt_packages")
    run(make, cwd=own_project, env=OFFLINE)


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
                    "{ assetNodes { assetKey { path } dependencyKeys { path } } "
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
        # The lineage as the UI draws it: seed -> staging view -> mart.
        parents = {
            "/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes
        }
        assert parents["production/staging/stg_orders"] == {"production/raw/raw_orders"}
        assert parents["production/analytics/jaffle_customers"] == {
            "production/staging/stg_customers",
            "production/analytics/orders",
        }
        assert parents["production/raw/raw_customers"] == set()
        materialized = graphql(
            port,
            "{ assetsOrError { ... on AssetConnection { nodes { key { path } "
            "assetMaterializations(limit: 1) { runId timestamp } } } } }",
        )["data"]["assetsOrError"]["nodes"]
        # Seeds before the views reading them (on a fresh warehouse the views could not be made
        # otherwise), in the same run.
        when = {
            "/".join(n["key"]["path"]): n["assetMaterializations"][0]
            for n in materialized
            if n["assetMaterializations"]
        }
        for seed, view in [("raw_customers", "stg_customers"), ("raw_orders", "stg_orders")]:
            seeded, read = when[f"production/raw/{seed}"], when[f"production/staging/{view}"]
            assert seeded["runId"] == read["runId"]
            assert float(seeded["timestamp"]) < float(read["timestamp"])
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
    # UV: the uv `make install` would use (tests/test_docs.py reads uv's own help); none is on PATH.
    make = ["make", f"VENV={generated_venv}", f"UV={_uv()}"]
    result = run([*make, "test"], cwd=own_project, timeout=SUITE_TIMEOUT)
    assert_pytest_summary_all_passed(result.stdout, at_least=60)
    run(["make", f"VENV={generated_venv}", "lint"], cwd=own_project)
