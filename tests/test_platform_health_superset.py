"""Platform health against a real Apache Superset: installed from PyPI, started on 127.0.0.1.

Superset gets its own venv (``build/superset-venv``, reused while its requirements are unchanged,
like ``build/generated-venv``), SQLite metadata and a DuckDB connection to the example
warehouse that a baked ``bi_tool=superset`` project materialized. Dashboards, charts, datasets
and saved queries are created through Superset's REST API; usage is made the way Superset
records it (the frontend's log events, SQL Lab runs). Then the project's platform-health assets
run against it, and the edges, stale and unused sets and importance are asserted exactly.

Superset reads a copy of the warehouse: DuckDB allows one writing process per file, and the
pipeline writes its findings while Superset may hold a connection. One server per session.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import BUILD_DIR, TEMPLATE_DIR, install_project, run

SUPERSET_VENV = BUILD_DIR / "superset-venv"
# What NOTES.md measured Superset 6.1.0 needs here; cachetools for its database engine specs
# (without it, "Could not load database driver: duckdb"), duckdb-engine for the connection.
SUPERSET_REQUIREMENTS = [
    "apache-superset==6.1.0",
    "rich",
    "flask-caching==2.3.1",
    "duckdb-engine",
    "cachetools",
]
ADMIN = {"username": "admin", "password": "admin-password-for-tests"}
PROJECT_ANSWERS = {"ci_provider": "github", "bi_tool": "superset", "platform_health": "yes"}
PREFIX = "model.acme_data."
# Superset stores naive server-local times: its server runs with TZ=UTC.
NOW = datetime.now(UTC).replace(tzinfo=None)


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is not installed: run the tests through `make test`"
    return found


def generated_duckdb_version() -> str:
    """Superset must read the file with the DuckDB version that wrote it."""
    result = run(["python", "-c", "import duckdb; print(duckdb.__version__)"], cwd=TEMPLATE_DIR)
    return result.stdout.strip()


@pytest.fixture(scope="session")
def superset_venv(generated_venv: Path) -> Path:
    requirements = sorted([*SUPERSET_REQUIREMENTS, f"duckdb=={generated_duckdb_version()}"])
    digest = hashlib.sha256("\n".join([sys.version, *requirements]).encode()).hexdigest()
    stamp = SUPERSET_VENV / ".requirements.sha256"
    if not (stamp.exists() and stamp.read_text() == digest):
        shutil.rmtree(SUPERSET_VENV, ignore_errors=True)
        subprocess.run([_uv(), "venv", "-q", "--python", sys.executable, str(SUPERSET_VENV)], check=True)
        subprocess.run(
            [_uv(), "pip", "install", "-q", "--python", str(SUPERSET_VENV / "bin" / "python"), *requirements],
            check=True,
        )
        stamp.write_text(digest)
    return SUPERSET_VENV


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SupersetServer:
    """``superset db upgrade``, an admin, ``superset init``, then ``superset run`` on 127.0.0.1."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.home = home
        self.metadata = home / "superset.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = home / "superset_config.py"
        config.write_text(
            f'SECRET_KEY = "{os.urandom(24).hex()}"\n'
            f'SQLALCHEMY_DATABASE_URI = "sqlite:///{self.metadata}"\n'
            "PREVENT_UNSAFE_DB_CONNECTIONS = False\n"  # a DuckDB file on disk is the point
        )
        bin_dir = venv / "bin"
        script = " && ".join(
            [
                f"{bin_dir}/superset db upgrade",
                f"{bin_dir}/superset fab create-admin --username {ADMIN['username']} --firstname Ada"
                f" --lastname Admin --email admin@example.com --password {ADMIN['password']}",
                f"{bin_dir}/superset init",
                f"exec {bin_dir}/superset run -p {self.port} --host 127.0.0.1",
            ]
        )
        self.log = (home / "superset.log").open("w")
        self.process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=home,
            env={
                **os.environ,
                "SUPERSET_CONFIG_PATH": str(config),
                "FLASK_APP": "superset",
                "TZ": "UTC",
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"Superset exited:\n{(self.home / 'superset.log').read_text()[-4000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=2).ok:
                    return
            time.sleep(1)
        raise AssertionError(f"Superset not ready after {timeout} s")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


class SupersetApi:
    """The REST API as a script uses it: JWT plus CSRF token; and a browser session for the
    frontend's log events (``/superset/log/`` takes only a logged-in session)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.api = requests.Session()
        token = self.call("POST", "/api/v1/security/login", json={**ADMIN, "provider": "db"})["access_token"]
        self.api.headers["Authorization"] = f"Bearer {token}"
        self.api.headers["X-CSRFToken"] = self.call("GET", "/api/v1/security/csrf_token/")["result"]
        self.api.headers["Referer"] = url
        self.browser = requests.Session()
        page = self.browser.get(f"{url}/login/", timeout=30).text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert csrf, "no CSRF token on Superset's login page"
        login = self.browser.post(
            f"{url}/login/", data={**ADMIN, "csrf_token": csrf.group(1)}, allow_redirects=False, timeout=30
        )
        assert login.status_code == 302, login.text[:500]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api.request(method, f"{self.url}{path}", timeout=60, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:1000]}"
        return response.json()

    def create(self, resource: str, body: dict[str, Any]) -> int:
        return int(self.call("POST", f"/api/v1/{resource}/", json=body)["id"])

    def view(self, events: list[dict[str, Any]]) -> None:
        """What the frontend sends when someone opens a dashboard or a chart."""
        token = self.browser.get(f"{self.url}/api/v1/security/csrf_token/", timeout=30).json()["result"]
        response = self.browser.post(
            f"{self.url}/superset/log/?explode=events",
            data={"events": json.dumps(events)},
            headers={"X-CSRFToken": token, "Referer": self.url},
            timeout=30,
        )
        assert response.ok, response.text[:500]

    def run_sql(self, database: int, sql: str) -> None:
        result = self.call(
            "POST",
            "/api/v1/sqllab/execute/",
            json={"database_id": database, "sql": sql, "runAsync": False, "client_id": os.urandom(5).hex()},
        )
        assert result["status"] == "success", result


@pytest.fixture(scope="module")
def superset_server(
    superset_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupersetServer]:
    """Started at once; the project materializes its warehouse while Superset boots."""
    server = SupersetServer(superset_venv, tmp_path_factory.mktemp("superset"))
    try:
        yield server
    finally:
        server.stop()


# The tables Superset reads: ingestion, regular dbt models and snapshots (the partitioned models
# and platform health itself are not needed to build the BI tool, and cost two dbt runs).
MATERIALIZE_TABLES = """
import dagster as dg
from acme_data.definitions import defs

definitions = defs()
graph = definitions.resolve_asset_graph()
keys = [
    key
    for key in graph.get_all_asset_keys()
    if not graph.get(key).partitions_def and graph.get(key).group_name != "platform_health"
]
job = dg.define_asset_job("superset_tables", dg.AssetSelection.keys(*keys))
merged = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job]))
assert merged.resolve_job_def("superset_tables").execute_in_process().success
"""


@pytest.fixture(scope="module")
def project(superset_server: SupersetServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``bi_tool=superset`` project with the tables of its warehouse materialized."""
    from cookiecutter.main import cookiecutter

    out = tmp_path_factory.mktemp("superset-project")
    path = Path(
        cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(out), extra_context=PROJECT_ANSWERS)
    )
    install_project(path)
    run(["dagster-dbt", "project", "prepare-and-package", "--file", "src/acme_data/dbt_project.py"], cwd=path)
    run(["python", "-c", MATERIALIZE_TABLES], cwd=path, env=local_env(path), timeout=900)
    return path


def local_env(project: Path, **extra: str) -> dict[str, str]:
    return {"LOCAL_DUCKDB_PATH": str(project / "data" / "local.duckdb"), **extra}


def backdate(metadata: Path, days: int, table: str, where: str, *params: object) -> None:
    """Age objects or usage in Superset's metadata: nothing else can make a report 120 days old
    within a test. Columns are Superset's own (naive local times)."""
    column = "dttm" if table == "logs" else "changed_on"
    with sqlite3.connect(metadata) as connection:
        connection.execute(
            f"update {table} set {column} = ? where {where}",
            (str(NOW - timedelta(days=days)), *params),
        )


@pytest.fixture(scope="module")
def bi(superset_server: SupersetServer, project: Path) -> dict[str, int]:
    """The BI tool's contents: datasets, charts, dashboards, saved queries and their usage."""
    warehouse = superset_server.home / "warehouse.duckdb"
    shutil.copy(project / "data" / "local.duckdb", warehouse)
    superset_server.wait_ready()
    api = SupersetApi(superset_server.url)
    ids: dict[str, int] = {}
    ids["database"] = database = api.create(
        "database",
        {
            "database_name": "warehouse",
            "sqlalchemy_uri": f"duckdb:///{warehouse}",
            "expose_in_sqllab": True,
            "extra": json.dumps({"engine_params": {"connect_args": {"read_only": True}}}),
        },
    )
    ids["rankings"] = api.create(
        "dataset", {"database": database, "schema": "analytics", "table_name": "story_rankings"}
    )
    ids["authors"] = api.create(
        "dataset",
        {
            "database": database,
            "schema": "analytics",
            "table_name": "authors_and_stories",
            "sql": "with top_authors as (select author, stories from analytics.author_activity) "
            "select t.author, t.stories, s.title "
            "from top_authors as t join staging.stg_stories s using (author)",
        },
    )
    ids["front"] = api.create("dashboard", {"dashboard_title": "Front page", "published": True})
    ids["authors_board"] = api.create("dashboard", {"dashboard_title": "Authors (old)", "published": True})

    def chart(name: str, dataset: int, dashboards: list[int]) -> int:
        params = {"viz_type": "table", "query_mode": "raw", "all_columns": ["*"]}
        return api.create(
            "chart",
            {
                "slice_name": name,
                "viz_type": "table",
                "datasource_id": dataset,
                "datasource_type": "table",
                "params": json.dumps(params),
                "dashboards": dashboards,
            },
        )

    ids["top_chart"] = chart("Top stories", ids["rankings"], [ids["front"]])
    ids["authors_chart"] = chart("Authors", ids["authors"], [ids["authors_board"]])
    ids["lonely_chart"] = chart("Rankings, standalone", ids["rankings"], [])
    comments_sql = "select parent_id, count(*) as comments from staging.stg_comments group by 1"
    ids["comments_query"] = api.create(
        "saved_query", {"db_id": database, "label": "Comments per story", "sql": comments_sql}
    )
    ids["old_query"] = api.create(
        "saved_query",
        {
            "db_id": database,
            "label": "Old check",
            "sql": "select count(*) from staging.stg_comments where 1 = 0",
        },
    )
    ids["broken_query"] = api.create(
        "saved_query", {"db_id": database, "label": "Broken", "sql": "select * form nowhere"}
    )
    # Usage: the front page opened 6 times today, the authors board twice (120 days ago), the
    # standalone chart explored once; the comments query run twice in SQL Lab.
    api.view([{"event_name": "mount_dashboard", "source": "dashboard", "dashboard_id": ids["front"]}] * 6)
    api.view(
        [{"event_name": "mount_dashboard", "source": "dashboard", "dashboard_id": ids["authors_board"]}] * 2
    )
    api.view([{"event_name": "mount_explorer", "source": "explore", "slice_id": ids["lonely_chart"]}])
    for _ in range(2):
        api.run_sql(database, comments_sql)
    metadata = superset_server.metadata
    backdate(metadata, 120, "logs", "dashboard_id = ?", ids["authors_board"])
    backdate(metadata, 200, "dashboards", "id = ?", ids["authors_board"])
    backdate(metadata, 90, "slices", "id = ?", ids["lonely_chart"])
    backdate(metadata, 150, "saved_query", "id = ?", ids["old_query"])
    return ids


# Run the platform-health assets in the project's own environment; print tables and metadata.
DRIVER = """
import json, sys
import dagster as dg
import duckdb
from acme_data.definitions import defs
from acme_data.defs.platform_health.assets import PLATFORM_HEALTH_ASSETS
from acme_data.defs.platform_health.io_managers import IO_MANAGER_KEY, build_io_manager
from acme_data.resources import build_resources
from acme_data.utils.environment import get_duckdb_path

config = json.loads(sys.argv[1])
result = dg.materialize(
    PLATFORM_HEALTH_ASSETS,
    # The platform_health resource as the component configures it (defs.yaml: bi_tool superset).
    resources={**build_resources(), "platform_health": defs().resources["platform_health"],
               IO_MANAGER_KEY: build_io_manager()},
    run_config=config,
)
plain = (dict, list, str, int, float, bool)
metadata = {
    e.asset_key.path[-1]: {
        k: v.value if isinstance(v.value, plain) else str(v.value)
        for k, v in e.materialization.metadata.items()
    }
    for e in result.get_asset_materialization_events()
}
with duckdb.connect(str(get_duckdb_path()), read_only=True) as connection:
    tables = {
        name: connection.execute(f"select * from platform_health.{name}").df().astype(str).to_dict("records")
        for name in ("platform_graph", "stale_reports", "unused_models", "model_importance")
    }
print("RESULT " + json.dumps({"success": result.success, "metadata": metadata, "tables": tables}))
"""


def run_platform_health(
    project: Path, server: SupersetServer, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    env = local_env(
        project,
        SUPERSET_URL=server.url,
        SUPERSET_USERNAME=ADMIN["username"],
        SUPERSET_PASSWORD=ADMIN["password"],
    )
    result = run(["python", "-c", DRIVER, json.dumps(config or {})], cwd=project, env=env, timeout=900)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    found: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return found


@pytest.fixture(scope="module")
def findings(project: Path, superset_server: SupersetServer, bi: dict[str, int]) -> dict[str, Any]:
    return run_platform_health(project, superset_server)


def node(kind: str, object_id: int) -> str:
    return f"superset:{kind}:{object_id}"


@pytest.mark.slow
def test_edges_are_exact(findings: dict[str, Any], bi: dict[str, int]) -> None:
    assert findings["success"]
    rows = {row["node_id"]: row for row in findings["tables"]["platform_graph"]}
    upstream = {n: sorted(json.loads(r["upstream"])) for n, r in rows.items() if n.startswith("superset:")}
    assert upstream == {
        node("dataset", bi["rankings"]): [PREFIX + "story_rankings"],
        node("dataset", bi["authors"]): [PREFIX + "author_activity", PREFIX + "stg_stories"],
        node("chart", bi["top_chart"]): [node("dataset", bi["rankings"])],
        node("chart", bi["lonely_chart"]): [node("dataset", bi["rankings"])],
        node("chart", bi["authors_chart"]): [node("dataset", bi["authors"])],
        node("dashboard", bi["front"]): [node("chart", bi["top_chart"])],
        node("dashboard", bi["authors_board"]): [node("chart", bi["authors_chart"])],
        node("saved_query", bi["comments_query"]): [PREFIX + "stg_comments"],
        node("saved_query", bi["old_query"]): [PREFIX + "stg_comments"],
        node("saved_query", bi["broken_query"]): [],
    }
    unparsed = json.loads(rows[node("saved_query", bi["broken_query"])]["unparsed_sql"])
    assert [u["error"].split(":")[0] for u in unparsed] == ["not valid duckdb SQL"]
    # Usage as Superset recorded it.
    assert rows[node("dashboard", bi["front"])]["view_count"] == "6"
    assert rows[node("chart", bi["top_chart"])]["view_count"] == "6"  # seen on its dashboard
    assert rows[node("saved_query", bi["comments_query"])]["run_count"] == "2"
    assert rows[node("saved_query", bi["old_query"])]["run_count"] == "0"


@pytest.mark.slow
def test_stale_and_unused_sets_are_exact(findings: dict[str, Any], bi: dict[str, int]) -> None:
    stale = {row["node_id"]: row for row in findings["tables"]["stale_reports"]}
    assert set(stale) == {
        node("dashboard", bi["authors_board"]),
        node("chart", bi["authors_chart"]),
        node("chart", bi["lonely_chart"]),
        node("saved_query", bi["old_query"]),
    }
    assert stale[node("dashboard", bi["authors_board"])]["reason"].startswith("not run in 120 days")
    assert stale[node("chart", bi["lonely_chart"])]["reason"].startswith("1 runs and 1 views in 90 days")
    assert stale[node("saved_query", bi["old_query"])]["reason"].startswith("never run in its 150 days")
    assert {row["action"] for row in stale.values()} == {"dry run: would archive (enable config archive)"}
    unused = [(row["unique_id"], row["status"]) for row in findings["tables"]["unused_models"]]
    assert unused == [(PREFIX + "int_comments", "unused")]


@pytest.mark.slow
def test_importance_is_computed_on_the_whole_graph(findings: dict[str, Any]) -> None:
    rows = {row["node_id"]: row for row in findings["tables"]["model_importance"]}
    assert len(rows) == len(findings["tables"]["platform_graph"])
    # Degrees counted by hand from the dbt project and the BI objects above.
    degrees = {n.removeprefix(PREFIX): (r["in_degree"], r["out_degree"]) for n, r in rows.items()}
    assert degrees["story_rankings"] == ("2", "2")
    assert degrees["stg_comments"] == ("1", "5")
    pagerank = {n.removeprefix(PREFIX): float(r["pagerank"]) for n, r in rows.items()}
    assert pagerank["stg_stories"] > pagerank["story_rankings"] > pagerank["int_comments"]
    assert sum(pagerank.values()) == pytest.approx(1, abs=1e-3)
    chart = findings["metadata"]["model_importance"]["chart"]
    assert chart.startswith("![models by PageRank](data:image/png;base64,iVBORw0KGgo")  # PNG


@pytest.mark.slow
def test_exposures_proposed_from_superset(findings: dict[str, Any]) -> None:
    proposal = findings["metadata"]["exposures_change_request"]
    assert proposal["action"] == "dry run: no code host token set"
    assert proposal["files"] == {"models/marts/_bi_exposures.yml": "write"}


@pytest.mark.slow
def test_archiving_unpublishes_only_stale_dashboards(
    project: Path, superset_server: SupersetServer, bi: dict[str, int], findings: dict[str, Any]
) -> None:
    config = {"ops": {"production__platform_health__stale_reports": {"config": {"archive": True}}}}
    archived = run_platform_health(project, superset_server, config)
    actions = {row["node_id"]: row["action"] for row in archived["tables"]["stale_reports"]}
    assert actions[node("dashboard", bi["authors_board"])].startswith("unpublished")
    assert actions[node("chart", bi["lonely_chart"])].startswith("no archive in Superset")
    api = SupersetApi(superset_server.url)
    published = {d["id"]: d["published"] for d in api.call("GET", "/api/v1/dashboard/")["result"]}
    assert published == {bi["front"]: True, bi["authors_board"]: False}
