"""Pull-request clones: proof of origin, the lifecycle on DuckDB for real, Snowflake on fakesnow.

Nothing may be replaced or dropped unless ``clone_prod`` made it: every test below that plants a
look-alike (a hand-made backup, the sandbox or the local warehouse named like a clone, a
lower-case twin, a zero-padded pull request number) checks it survives every job.
"""

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import fakesnow
import pytest
import snowflake.connector
import yaml
from fakesnow.cursor import FakeSnowflakeCursor

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs as project_defs
from {{ cookiecutter.project_slug }}.defs.clones.jobs import (
    PULL_REQUEST_TAG,
    RESULTS_RESOURCES,
    sweep_prod_clones,
)
from {{ cookiecutter.project_slug }}.resources import build_resources, build_warehouse_resources
from {{ cookiecutter.project_slug }}.utils.clone_catalogs import (
    MARKER_SCHEMA,
    MARKER_TABLE,
    DuckDBCatalog,
)
from {{ cookiecutter.project_slug }}.utils.clones import (
    PROJECT,
    ClonePlan,
    DatabaseInfo,
    NotAProductionCloneError,
    clone_marker,
    plan_sweep,
    require_clone_name,
    snowflake_clone_sql,
    snowflake_clone_statements,
    snowflake_databases_sql,
    snowflake_drop_sql,
    snowflake_hand_over_sql,
    snowflake_last_queries_sql,
    snowflake_sweeper_drop_sql,
    verify_origin,
)
from {{ cookiecutter.project_slug }}.utils.environment import UnsafeEnvironmentError
from {{ cookiecutter.project_slug }}.utils.identifiers import validate_identifier

PROD = validate_identifier(settings.PRODUCTION_DATABASE)
OPT_IN = {"allow_outside_branch_deployment": True}
PROJECT_DIR = Path(__file__).resolve().parents[1]


def clone_name(pull_request: int | str) -> str:
    return f"{PROD}_CLONE_{pull_request}"


def run_job(name: str, op: str, **op_config: Any) -> dg.ExecuteInProcessResult:
    """Load the definitions as the current environment would, and run one job in process."""
    job = project_defs().resolve_job_def(name)
    result: dg.ExecuteInProcessResult = job.execute_in_process(
        run_config={"ops": {op: {"config": op_config}}}, raise_on_error=False
    )
    return result


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """Why the run's step failed: the error, and the description of a dg.Failure."""
    events = result.get_step_failure_events()
    assert events, "the run did not fail"
    data = events[0].step_failure_data
    parts = []
    error = data.error
    while error is not None:  # Dagster wraps the op's exception: follow the causes
        parts.append(error.message)
        error = error.cause
    if data.user_failure_data and data.user_failure_data.description:
        parts.append(data.user_failure_data.description)
    return "\n".join(parts)


def make_warehouse(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        connection.execute(
            "CREATE OR REPLACE TABLE analytics.stories AS SELECT range AS id FROM range(?)", [rows]
        )


def count_stories(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute("SELECT count(*) FROM analytics.stories").fetchone()
    assert row is not None
    return int(row[0])


def age(path: Path, days: int) -> None:
    """Make a DuckDB clone look unused for ``days``: its marker's creation and its file time."""
    moment = datetime.now(UTC) - timedelta(days=days)
    if DuckDBCatalog.read_marker(path) is not None:
        with duckdb.connect(str(path)) as connection:
            connection.execute(
                f'UPDATE "{MARKER_SCHEMA}"."{MARKER_TABLE}" SET created_at = ?',  # noqa: S608
                [moment],
            )
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def clone_locally(warehouse: Path, pull_request: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run clone_prod for ``pull_request`` on the local warehouse; return the clone's file."""
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", str(pull_request))
    assert run_job("clone_prod", "clone_production_database", **OPT_IN).success
    return warehouse.parent / f"{clone_name(pull_request)}.duckdb"


def run_sweeper_locally(
    instance: dg.DagsterInstance | None = None, **config: Any
) -> dg.ExecuteInProcessResult:
    """The sweeper job is only in production's definitions: run it here on the local resources."""
    result: dg.ExecuteInProcessResult = sweep_prod_clones.execute_in_process(
        resources={**build_resources(), **RESULTS_RESOURCES},
        run_config={"ops": {"sweep_stale_clones": {"config": config}}},
        raise_on_error=False,
        instance=instance,
    )
    return result


def run_log(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))


# --- names and proof of origin ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        PROD,
        settings.SANDBOX_DATABASE,
        clone_name(""),
        clone_name("12a"),
        clone_name("1_2"),
        clone_name("0012"),
        clone_name("\u0661\u0662"),
        f"{PROD.lower()}_clone_7",
        f"X{clone_name(1)}",
        "SANDBOX_CLONE_1",
        f"{clone_name(1)}; DROP DATABASE {PROD}",
        f'{clone_name(1)}"',
    ],
)
def test_only_exact_clone_names_pass_the_guard(name: str) -> None:
    with pytest.raises(UnsafeEnvironmentError):
        require_clone_name(name)
    with pytest.raises(UnsafeEnvironmentError):
        snowflake_drop_sql(name)


def test_a_sandbox_named_like_a_clone_is_still_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the settings say, the sandbox is never treated as a clone."""
    monkeypatch.setattr(settings, "SANDBOX_DATABASE", clone_name(5))
    with pytest.raises(NotAProductionCloneError, match="sandbox"):
        require_clone_name(clone_name(5))
    with pytest.raises(NotAProductionCloneError):
        snowflake_drop_sql(clone_name(5))


def test_marker_names_project_source_and_pull_request() -> None:
    assert clone_marker(clone_name(12)) == (
        f"dagster clone_prod v1; project={PROJECT}; source={PROD}; pull_request=12"
    )
    assert PROJECT == "{{ cookiecutter.project_slug }}"


@pytest.mark.parametrize(
    "comment",
    [
        None,
        "",
        "a hand-made backup",
        clone_marker(clone_name(13)),  # a marked clone copied under another pull request's name
        clone_marker(clone_name(12)).replace(f"project={PROJECT}", "project=another_project"),
        clone_marker(clone_name(12)).replace(f"source={PROD}", "source=ELSEWHERE"),
        clone_marker(clone_name(12)).lower(),
    ],
)
def test_only_the_exact_marker_proves_origin(comment: str | None) -> None:
    verify_origin(DatabaseInfo(clone_name(12), clone_marker(clone_name(12)), None))
    with pytest.raises(NotAProductionCloneError, match="not created by this project's clone_prod"):
        verify_origin(DatabaseInfo(clone_name(12), comment, None))


# --- the sweeping rule -------------------------------------------------------------------------

NOW = datetime(2025, 6, 30, 12, tzinfo=UTC)


def marked(pull_request: int, created: datetime, altered: datetime | None = None) -> DatabaseInfo:
    name = clone_name(pull_request)
    return DatabaseInfo(name, clone_marker(name), created, altered)


def test_last_activity_decides_staleness() -> None:
    long_ago = NOW - timedelta(days=60)
    pacific = timezone(timedelta(hours=-7))
    databases = [
        marked(1, long_ago, long_ago),  # unused: stale
        marked(2, long_ago, NOW - timedelta(days=1)),  # changed yesterday
        marked(3, long_ago, long_ago),  # queried yesterday (QUERY_HISTORY)
        marked(4, NOW - timedelta(hours=1)),  # re-cloned an hour ago
        marked(5, datetime(2025, 6, 1, tzinfo=pacific), datetime(2025, 6, 1)),  # aware and naive
        DatabaseInfo(PROD, None, datetime(2000, 1, 1, tzinfo=UTC)),
        DatabaseInfo(settings.SANDBOX_DATABASE, None, datetime(2000, 1, 1, tzinfo=UTC)),
    ]
    plan = plan_sweep(databases, NOW, 14, {clone_name(3): NOW - timedelta(days=1)})
    assert plan.stale == [clone_name(1), clone_name(5)]
    assert plan.active == [clone_name(2), clone_name(3), clone_name(4)]
    assert plan.not_ours == {}
    assert plan_sweep(databases, NOW.replace(tzinfo=None), 14, {}).stale[:1] == [clone_name(1)]
    with pytest.raises(ValueError, match="CLONE_RETENTION_DAYS"):
        plan_sweep(databases, NOW, 0)


def test_look_alikes_are_never_swept() -> None:
    """A stale lower-case twin, a hand-made backup and a zero-padded name are left alone; the
    active clone of an open pull request stays."""
    long_ago = NOW - timedelta(days=60)
    databases = [
        DatabaseInfo(f"{PROD.lower()}_clone_9", None, long_ago, long_ago),
        marked(9, NOW - timedelta(hours=2)),
        DatabaseInfo(clone_name(77), "backup before the 2025 migration", long_ago, long_ago),
        DatabaseInfo(clone_name("0012"), clone_marker(clone_name(12)), long_ago, long_ago),
    ]
    plan = plan_sweep(databases, NOW, 14)
    assert plan.stale == []
    assert plan.active == [clone_name(9)]
    assert list(plan.not_ours) == [clone_name(77)]


# --- which deployment gets which job -----------------------------------------------------------


def job_names(definitions: dg.Definitions) -> set[str]:
    return {job.name for job in definitions.resolve_all_job_defs()}


@pytest.mark.usefixtures("branch_environment")
def test_branch_deployments_have_the_clone_jobs_and_no_sweeper() -> None:
    definitions = project_defs()
    assert {"clone_prod", "drop_prod_clone"} <= job_names(definitions)
    assert "sweep_prod_clones" not in job_names(definitions)


@pytest.mark.usefixtures("prod_environment")
def test_production_has_the_sweeper_schedule_and_no_clone_jobs() -> None:
    definitions = project_defs()
    assert not {"clone_prod", "drop_prod_clone"} & job_names(definitions)
    schedule = definitions.resolve_schedule_def("sweep_prod_clones_daily")
    assert schedule.job_name == "sweep_prod_clones"
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING


def test_clone_jobs_of_one_pull_request_run_one_at_a_time(
    branch_environment: str, tmp_path: Path
) -> None:
    """Both clone jobs tag their runs with the pull request; the project's dagster.yaml (what
    `make dev` uses; Dagster+ takes the same limit in its settings) lets one run per value of
    that tag start at a time, so a push and a close cannot interleave."""
    definitions = project_defs()
    for name in ("clone_prod", "drop_prod_clone"):
        assert definitions.resolve_job_def(name).tags[PULL_REQUEST_TAG] == "1523"
    shutil.copy(PROJECT_DIR / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert {
        "key": PULL_REQUEST_TAG,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in queue.tag_concurrency_limits


# --- DuckDB: the real lifecycle ----------------------------------------------------------------


def test_jobs_refuse_outside_branch_deployments_without_opt_in(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 3)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42")
    result = run_job("clone_prod", "clone_production_database")
    assert not result.success
    assert "not in a Dagster+ branch deployment" in failure_message(result)
    assert not (local_environment.parent / f"{clone_name(42)}.duckdb").exists()


@pytest.mark.parametrize("pull_request", ["42; DROP DATABASE x", "0042", "\u0664\u0662"])
def test_malformed_pull_request_ids_are_refused(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path, pull_request: str
) -> None:
    make_warehouse(local_environment, 3)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", pull_request)
    for job, op in (
        ("clone_prod", "clone_production_database"),
        ("drop_prod_clone", "drop_production_clone"),
    ):
        result = run_job(job, op, **OPT_IN)
        assert not result.success
        assert "DAGSTER_CLOUD_PULL_REQUEST_ID" in failure_message(result)
    assert sorted(p.name for p in local_environment.parent.iterdir()) == [local_environment.name]


def test_duckdb_clone_and_drop_lifecycle(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 5)
    clone = clone_locally(local_environment, 42, monkeypatch)
    assert count_stories(clone) == 5
    marker = DuckDBCatalog.read_marker(clone)
    assert marker is not None and marker[0] == clone_marker(clone_name(42))

    # Work in the clone never touches production, and re-cloning starts afresh from production.
    make_warehouse(clone, 99)
    assert count_stories(local_environment) == 5
    make_warehouse(local_environment, 7)
    assert run_job("clone_prod", "clone_production_database", **OPT_IN).success
    assert count_stories(clone) == 7
    assert not list(local_environment.parent.glob(".*partial*"))

    assert run_job("drop_prod_clone", "drop_production_clone", **OPT_IN).success
    assert not clone.exists()
    assert count_stories(local_environment) == 7
    # Dropping what is already gone is fine (a closed PR whose clone the sweeper took).
    assert run_job("drop_prod_clone", "drop_production_clone", **OPT_IN).success


def test_duckdb_hand_made_backup_named_like_a_clone_survives(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 5)
    backup = local_environment.parent / f"{clone_name(77)}.duckdb"
    make_warehouse(backup, 1234)
    age(backup, settings.CLONE_RETENTION_DAYS + 30)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "77")

    for job, op in (
        ("clone_prod", "clone_production_database"),
        ("drop_prod_clone", "drop_production_clone"),
    ):
        result = run_job(job, op, **OPT_IN)
        assert not result.success
        assert "was not created by this project's clone_prod" in failure_message(result)
    swept = run_sweeper_locally()
    assert swept.success and swept.output_for_node("sweep_stale_clones") == []
    assert count_stories(backup) == 1234


def test_duckdb_warehouse_named_like_a_clone_is_never_replaced_or_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    warehouse = tmp_path / f"{clone_name(42)}.duckdb"
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(warehouse))
    make_warehouse(warehouse, 5)
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "42")

    for job, op in (
        ("clone_prod", "clone_production_database"),
        ("drop_prod_clone", "drop_production_clone"),
    ):
        result = run_job(job, op, **OPT_IN)
        assert not result.success
        assert "is the local warehouse" in failure_message(result)
    age(warehouse, settings.CLONE_RETENTION_DAYS + 30)
    swept = run_sweeper_locally()
    assert swept.success and swept.output_for_node("sweep_stale_clones") == []
    assert count_stories(warehouse) == 5


def test_duckdb_sweeper_drops_only_marked_stale_clones(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 1)
    stale, fresh = (clone_locally(local_environment, n, monkeypatch) for n in (1, 2))
    look_alike = local_environment.parent / f"{clone_name(3)}.duckdb"
    padded = local_environment.parent / f"{clone_name('0004')}.duckdb"
    scratch = local_environment.parent / "SCRATCH.duckdb"
    for path in (look_alike, padded, scratch):
        make_warehouse(path, 1)
    shutil.copy(stale, padded)  # a marked clone copied under a zero-padded name
    for path in (stale, look_alike, padded, scratch, local_environment):
        age(path, settings.CLONE_RETENTION_DAYS + 1)

    result = run_sweeper_locally()
    assert result.success
    assert result.output_for_node("sweep_stale_clones") == [clone_name(1)]
    assert not stale.exists()
    assert all(p.exists() for p in (fresh, look_alike, padded, scratch, local_environment))


def test_duckdb_sweeper_keeps_the_active_clone_next_to_a_stale_case_twin(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    """A stale ``production_clone_9`` must not make the sweeper drop the active
    ``PRODUCTION_CLONE_9`` of an open pull request (nor itself: clone_prod did not make it)."""
    make_warehouse(local_environment, 1)
    active = clone_locally(local_environment, 9, monkeypatch)
    twin = local_environment.parent / f"{clone_name(9).lower()}.duckdb"
    make_warehouse(twin, 1)
    age(twin, settings.CLONE_RETENTION_DAYS + 30)

    result = run_sweeper_locally()
    assert result.success and result.output_for_node("sweep_stale_clones") == []
    assert active.exists() and twin.exists()


def test_duckdb_sweeper_dry_run_only_reports(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 1)
    stale = clone_locally(local_environment, 1, monkeypatch)
    age(stale, settings.CLONE_RETENTION_DAYS + 1)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_sweeper_locally(instance, dry_run=True)
        assert result.success
        assert result.output_for_node("sweep_stale_clones") == [clone_name(1)]
        assert f"Dry run: would drop {clone_name(1)}" in run_log(instance, result)
    assert stale.exists()
    assert run_sweeper_locally().output_for_node("sweep_stale_clones") == [clone_name(1)]
    assert not stale.exists()


def test_duckdb_drop_skips_a_clone_recloned_since_it_was_listed(
    monkeypatch: pytest.MonkeyPatch, local_environment: Path
) -> None:
    make_warehouse(local_environment, 1)
    clone = clone_locally(local_environment, 5, monkeypatch)
    catalog = DuckDBCatalog(local_environment, PROD)
    listed_as_unused_since = datetime.now(UTC) - timedelta(days=1)
    assert catalog.drop(clone_name(5), unused_since=listed_as_unused_since) == "in use"
    assert clone.exists()


# --- least privilege: the branch role ----------------------------------------------------------


def test_branch_deployments_connect_with_the_branch_role(
    monkeypatch: pytest.MonkeyPatch, branch_environment: str
) -> None:
    assert settings.SNOWFLAKE_BRANCH_ROLE.upper() != settings.SNOWFLAKE_ROLE.upper()
    assert build_warehouse_resources()["warehouse"].role == settings.SNOWFLAKE_BRANCH_ROLE
    monkeypatch.delenv("DAGSTER_CLOUD_IS_BRANCH_DEPLOYMENT")
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", settings.PRODUCTION_DEPLOYMENT_NAME)
    assert build_warehouse_resources()["warehouse"].role == settings.SNOWFLAKE_ROLE


def test_dbt_branch_target_uses_the_branch_role() -> None:
    profiles = yaml.safe_load((settings.DBT_PROJECT_DIR / "profiles.yml").read_text())
    (outputs,) = (profile["outputs"] for profile in profiles.values())
    assert outputs["branch_deployment"]["role"] == settings.SNOWFLAKE_BRANCH_ROLE
    assert outputs["prod"]["role"] == settings.SNOWFLAKE_ROLE


# --- Snowflake (fakesnow) ----------------------------------------------------------------------

CLONE_STATEMENT = re.compile(
    r'CREATE OR REPLACE DATABASE "(?P<clone>[^"]+)" CLONE "(?P<source>[^"]+)" '
    r"COMMENT = '(?P<comment>[^']*)'"
)
DROP_STATEMENT = re.compile(
    r'DROP DATABASE IF EXISTS "(?P<name>[^"]+)"'
    # The sweeper's drop, through the administrator's procedure (docs/security.md).
    r'|CALL "[^"]+"\."CLONE_ADMIN"\."DROP_CLONE"\('
    r"'(?P<by_procedure>[^']+)'\)"
)
COMMENT_STATEMENT = re.compile(
    r'ALTER DATABASE "(?P<name>[^"]+)" SET COMMENT = ' r"'(?P<comment>[^']*)'"
)
META_TABLE = "_fs_global.main.fake_database_meta"
SHOW_DATABASES_VIEW = """
create or replace view _fs_global._fs_information_schema._fs_show_databases as
select coalesce(m.created, to_timestamp(0)::timestamptz) as 'created_on',
    d.database_name as 'name', 'N' as 'is_default', 'N' as 'is_current', '' as 'origin',
    'SYSADMIN' as 'owner', m.comment as 'comment', '' as 'options', 1 as 'retention_time',
    'STANDARD' as 'kind', NULL as 'budget', 'ROLE' as 'owner_role_type',
    NULL as 'object_visibility'
from duckdb_databases d left join _fs_global.main.fake_database_meta m
    on m.name = d.database_name
where d.database_name not in ('memory', '_fs_global')
"""
DATABASES_VIEW = """
create or replace view "{catalog}"._fs_information_schema.databases as
select s.catalog_name as DATABASE_NAME, 'SYSADMIN' as DATABASE_OWNER, 'NO' as IS_TRANSIENT,
    m.comment as COMMENT, coalesce(m.created, to_timestamp(0)::timestamptz) as CREATED,
    coalesce(m.last_altered, m.created, to_timestamp(0)::timestamptz) as LAST_ALTERED,
    1 as RETENTION_TIME, 'STANDARD' as TYPE
from system.information_schema.schemata s left join {meta} m on m.name = s.catalog_name
where s.catalog_name not in ('memory', 'system', 'temp', '_fs_global') and s.schema_name = 'main'
"""


@dataclass
class FakeSnowflakeAccount:
    """fakesnow (patch mode), plus what it cannot do that the clone jobs rely on.

    fakesnow 0.12 parses neither ``CREATE OR REPLACE DATABASE .. CLONE .. COMMENT = ..`` nor
    ``DROP DATABASE`` nor ``CALL`` nor ``ALTER DATABASE .. SET COMMENT`` nor ``GRANT``, and
    stores no database comment or times (SHOW DATABASES and INFORMATION_SCHEMA.DATABASES report
    NULL and 1970). So: every statement is recorded exactly as Snowflake would receive it; a
    clone statement runs on fakesnow without its COMMENT, and the comment and creation time go
    to a DuckDB table that fakesnow's own SHOW DATABASES and DATABASES views are redefined to
    read; SET COMMENT updates that table; a drop (or the sweeper's DROP_CLONE procedure)
    detaches the database; the hand-over CALL and GRANT succeed, unless a test makes a statement
    starting with one of ``failing_prefixes`` fail as Snowflake would (a half-done clone).
    Everything else (SHOW, SELECTs against INFORMATION_SCHEMA and ACCOUNT_USAGE) runs on
    fakesnow as sent.
    """

    sent: list[str] = field(default_factory=list)
    failing_drops: set[str] = field(default_factory=set)
    failing_prefixes: set[str] = field(default_factory=set)
    recording: bool = True
    duck: Any = None

    def connect(self, **kwargs: Any) -> Any:
        return snowflake.connector.connect(account="x", user="u", password="p", **kwargs)

    def execute(self, *statements: str) -> None:
        """Statements the test itself runs (not recorded)."""
        self.recording = False
        try:
            with self.connect() as connection:
                for statement in statements:
                    connection.cursor().execute(statement)
        finally:
            self.recording = True

    def create_database(
        self,
        name: str,
        comment: str | None = None,
        created: datetime | None = None,
        last_altered: datetime | None = None,
    ) -> None:
        self.execute(f'CREATE DATABASE "{name}"')
        self.set_meta(name, comment, created or datetime.now(UTC), last_altered)
        if name == PROD:
            self.duck.execute(DATABASES_VIEW.format(catalog=PROD, meta=META_TABLE))

    def set_meta(
        self,
        name: str,
        comment: str | None,
        created: datetime | None,
        last_altered: datetime | None = None,
    ) -> None:
        self.duck.execute(
            f"insert or replace into {META_TABLE} values (?, ?, ?, ?)",  # noqa: S608
            [name, comment, created, last_altered],
        )

    def age(self, name: str, days: int) -> None:
        moment = datetime.now(UTC) - timedelta(days=days)
        self.duck.execute(
            f"update {META_TABLE} set created = ?, last_altered = ? where name = ?",  # noqa: S608
            [moment, moment, name],
        )

    def record_query(self, database: str, when: datetime) -> None:
        """A row in SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY, as Snowflake logs every query."""
        self.execute(
            "CREATE DATABASE IF NOT EXISTS SNOWFLAKE",
            "CREATE SCHEMA IF NOT EXISTS SNOWFLAKE.ACCOUNT_USAGE",
            "CREATE TABLE IF NOT EXISTS SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY "
            "(DATABASE_NAME VARCHAR, START_TIME TIMESTAMP_LTZ, END_TIME TIMESTAMP_LTZ)",
        )
        self.duck.execute(
            "insert into SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY values (?, ?, ?)",
            [database, when, when],
        )

    def databases(self) -> dict[str, str | None]:
        """Name -> comment, as SHOW DATABASES reports them."""
        self.recording = False
        try:
            with self.connect() as connection:
                cursor = connection.cursor()
                cursor.execute("SHOW DATABASES")
                columns = [str(c[0]) for c in cursor.description]
                rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            self.recording = True
        return {str(row["name"]): row["comment"] for row in rows}

    def ours(self, prefix: str = "") -> list[str]:
        """Statements the jobs sent (optionally only those starting with ``prefix``), without
        the COMMIT the Snowflake resource sends when it closes a connection."""
        return [s for s in self.sent if s.startswith(prefix) and s != "COMMIT"]


@pytest.fixture
def fake_snowflake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSnowflakeAccount]:
    monkeypatch.setenv("SNOWFLAKE_USER", "ci")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "not-a-secret")
    account = FakeSnowflakeAccount()
    original = FakeSnowflakeCursor.execute

    def execute(self: FakeSnowflakeCursor, command: str, *args: Any, **kwargs: Any) -> Any:
        if not account.recording:
            return original(self, command, *args, **kwargs)
        account.sent.append(command)
        if any(command.startswith(prefix) for prefix in account.failing_prefixes):
            raise snowflake.connector.errors.ProgrammingError(
                msg="Insufficient privileges to operate on schema 'CLONE_ADMIN'", errno=3001
            )
        if clone := CLONE_STATEMENT.fullmatch(command):
            # fakesnow's CREATE OR REPLACE DATABASE cannot replace: detach the old one first, on
            # the fixture's connection (DuckDB will not detach a database a connection uses).
            account.duck.execute(f'DETACH DATABASE IF EXISTS "{clone["clone"]}"')
            account.execute(f'CREATE DATABASE "{clone["clone"]}" CLONE "{clone["source"]}"')
            now = datetime.now(UTC)
            account.set_meta(clone["clone"], clone["comment"], now, now)
            return original(self, f"SELECT 'Database {clone['clone']} successfully created.'")
        if drop := DROP_STATEMENT.fullmatch(command):
            name = drop["name"] or drop["by_procedure"]
            if name in account.failing_drops:
                raise snowflake.connector.errors.ProgrammingError(
                    msg=f"Insufficient privileges to operate on database '{name}'", errno=3001
                )
            # Through the fixture's own DuckDB connection: DuckDB will not detach the database
            # a connection is using, which Snowflake allows.
            account.duck.execute(f'DETACH DATABASE IF EXISTS "{name}"')
            forget = f"delete from {META_TABLE} where name = ?"  # noqa: S608
            account.duck.execute(forget, [name])
            return original(self, f"SELECT '{name} successfully dropped.'")
        if comment := COMMENT_STATEMENT.fullmatch(command):
            account.duck.execute(
                f"update {META_TABLE} set comment = ?, last_altered = ? where name = ?",  # noqa: S608
                [comment["comment"], datetime.now(UTC), comment["name"]],
            )
            return original(self, "SELECT 'Statement executed successfully.'")
        if command.startswith(("CALL ", "GRANT ")):
            return original(self, "SELECT 'Statement executed successfully.'")
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeSnowflakeCursor, "execute", execute)
    with fakesnow.patch(create_database_on_connect=False), account.connect() as connection:
        # DuckDB underneath fakesnow, for the emulated parts (kept open for the whole test).
        account.duck = connection.cursor()._duck_conn
        account.duck.execute(
            f"create table {META_TABLE} (name varchar primary key, comment varchar, "
            "created timestamptz, last_altered timestamptz)"
        )
        account.duck.execute(SHOW_DATABASES_VIEW)
        account.create_database(PROD)
        account.create_database(settings.SANDBOX_DATABASE)
        yield account


def test_snowflake_sql_is_exact() -> None:
    """What Snowflake receives (fakesnow parses none of these four, see the fixture)."""
    plan = ClonePlan(production=PROD, clone=clone_name(1523), pull_request="1523")
    marker = f"dagster clone_prod v1; project={PROJECT}; source={PROD}; pull_request=1523"
    role = settings.SNOWFLAKE_ROLE.upper()
    # One statement clones and marks (incomplete): never a moment without the clone, never an
    # unmarked clone; the complete marker comes last, once every step passed.
    assert snowflake_clone_statements(plan) == [
        f'CREATE OR REPLACE DATABASE "{clone_name(1523)}" CLONE "{PROD}" '
        f"COMMENT = '{marker}; state=incomplete'",
        f'CALL "{PROD}"."CLONE_ADMIN"."HAND_OVER_CLONE"(\'{clone_name(1523)}\')',
        f'GRANT USAGE ON DATABASE "{clone_name(1523)}" TO ROLE "{role}"',
        f"ALTER DATABASE \"{clone_name(1523)}\" SET COMMENT = '{marker}'",
    ]
    assert snowflake_clone_statements(plan)[:2] == [
        snowflake_clone_sql(plan),
        snowflake_hand_over_sql(plan),
    ]
    assert snowflake_drop_sql(clone_name(1523)) == f'DROP DATABASE IF EXISTS "{clone_name(1523)}"'
    assert snowflake_sweeper_drop_sql(clone_name(1523)) == (
        f'CALL "{PROD}"."CLONE_ADMIN"."DROP_CLONE"(\'{clone_name(1523)}\')'
    )
    assert snowflake_databases_sql() == (
        "SELECT DATABASE_NAME, COMMENT, CREATED, LAST_ALTERED "  # noqa: S608
        f'FROM "{PROD}".INFORMATION_SCHEMA.DATABASES'
    )
    assert snowflake_last_queries_sql([clone_name(2), clone_name(1)], 14) == (
        "SELECT DATABASE_NAME, MAX(END_TIME) AS LAST_QUERY "  # noqa: S608
        "FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY "
        "WHERE START_TIME >= DATEADD('day', -15, CURRENT_TIMESTAMP()) "
        f"AND DATABASE_NAME IN ('{clone_name(1)}', '{clone_name(2)}') "
        "GROUP BY DATABASE_NAME"
    )


def test_snowflake_clone_prod_marks_its_clone_in_one_statement(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    result = run_job("clone_prod", "clone_production_database")
    assert result.success, failure_message(result)
    plan = ClonePlan(production=PROD, clone=branch_environment, pull_request="1523")
    assert fake_snowflake.ours() == [
        "SHOW DATABASES",  # is there a database of that name, and did clone_prod make it?
        *snowflake_clone_statements(plan),
    ]
    assert fake_snowflake.databases()[branch_environment] == clone_marker(branch_environment)
    # The next push re-clones over its own marked clone.
    assert run_job("clone_prod", "clone_production_database").success


@pytest.mark.parametrize("failing", ["CALL ", "GRANT ", "ALTER DATABASE "])
def test_snowflake_half_done_clone_is_never_trusted_and_the_next_push_mends_it(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount, failing: str
) -> None:
    """The clone is made, a later step fails (the hand-over procedure, the grant, the final
    marker): the run fails saying so, the clone stays marked incomplete, and the next push,
    even with keep_existing, clones again and completes every step."""
    fake_snowflake.failing_prefixes.add(failing)
    result = run_job("clone_prod", "clone_production_database", keep_existing=True)
    assert not result.success
    message = failure_message(result)
    assert f"{branch_environment} was cloned but a later step failed" in message
    assert "Insufficient privileges" in message
    incomplete = clone_marker(branch_environment, complete=False)
    assert fake_snowflake.databases()[branch_environment] == incomplete

    fake_snowflake.failing_prefixes.clear()
    fake_snowflake.sent.clear()
    result = run_job("clone_prod", "clone_production_database", keep_existing=True)
    assert result.success, failure_message(result)
    plan = ClonePlan(production=PROD, clone=branch_environment, pull_request="1523")
    assert fake_snowflake.ours() == [
        "SHOW DATABASES",
        "SHOW DATABASES",
        *snowflake_clone_statements(plan),
    ]
    assert fake_snowflake.databases()[branch_environment] == clone_marker(branch_environment)
    # Complete now: the next push keeps it.
    fake_snowflake.sent.clear()
    assert run_job("clone_prod", "clone_production_database", keep_existing=True).success
    assert fake_snowflake.ours() == ["SHOW DATABASES"]


def test_snowflake_half_done_clone_is_still_dropped_when_the_pull_request_closes(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    fake_snowflake.failing_prefixes.add("CALL ")
    assert not run_job("clone_prod", "clone_production_database").success
    assert run_job("drop_prod_clone", "drop_production_clone").success
    assert branch_environment not in fake_snowflake.databases()


def test_snowflake_clone_prod_refuses_to_replace_what_it_did_not_make(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    fake_snowflake.create_database(branch_environment, comment="hand-made backup")
    result = run_job("clone_prod", "clone_production_database")
    assert not result.success
    assert "was not created by this project's clone_prod" in failure_message(result)
    assert fake_snowflake.ours("CREATE") == []
    assert fake_snowflake.databases()[branch_environment] == "hand-made backup"


def test_snowflake_drop_prod_clone_drops_only_a_marked_clone(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    assert run_job("clone_prod", "clone_production_database").success
    result = run_job("drop_prod_clone", "drop_production_clone")
    assert result.success, failure_message(result)
    assert fake_snowflake.ours("DROP") == [f'DROP DATABASE IF EXISTS "{branch_environment}"']
    assert branch_environment not in fake_snowflake.databases()
    # Closing again (or after the sweeper took it) sends nothing.
    assert run_job("drop_prod_clone", "drop_production_clone").success
    assert len(fake_snowflake.ours("DROP")) == 1


def test_snowflake_drop_prod_clone_refuses_a_look_alike(
    branch_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    fake_snowflake.create_database(branch_environment)  # made by hand: no marker
    result = run_job("drop_prod_clone", "drop_production_clone")
    assert not result.success
    assert "was not created by this project's clone_prod" in failure_message(result)
    assert fake_snowflake.ours("DROP") == []
    assert branch_environment in fake_snowflake.databases()


def run_snowflake_sweeper(
    instance: dg.DagsterInstance | None = None, **config: Any
) -> dg.ExecuteInProcessResult:
    job = project_defs().resolve_job_def("sweep_prod_clones")
    result: dg.ExecuteInProcessResult = job.execute_in_process(
        run_config={"ops": {"sweep_stale_clones": {"config": config}}},
        raise_on_error=False,
        instance=instance,
    )
    return result


def plant_clones(account: FakeSnowflakeAccount) -> None:
    """Clones 1 (stale), 2 (re-cloned today), 3 (old but queried yesterday), 4 (stale), and
    look-alikes: a hand-made backup and a zero-padded name. (A lower-case twin cannot be made
    here: DuckDB, under fakesnow, folds database names; the DuckDB and rule tests cover it.)"""
    stale = settings.CLONE_RETENTION_DAYS + 5
    for number in (1, 2, 3, 4):
        account.create_database(clone_name(number), comment=clone_marker(clone_name(number)))
    for number in (1, 3, 4):
        account.age(clone_name(number), stale)
    account.create_database(clone_name(77), comment="backup before the migration")
    account.create_database(clone_name("0005"), comment=clone_marker(clone_name(5)))
    for name in (clone_name(77), clone_name("0005")):
        account.age(name, stale)


def test_snowflake_sweeper_drops_only_unused_clones_it_made(
    prod_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    plant_clones(fake_snowflake)
    fake_snowflake.record_query(clone_name(3), datetime.now(UTC) - timedelta(days=1))
    fake_snowflake.age(PROD, 400)
    fake_snowflake.age(settings.SANDBOX_DATABASE, 400)

    result = run_snowflake_sweeper()
    assert result.success, failure_message(result)
    assert result.output_for_node("sweep_stale_clones") == [clone_name(1), clone_name(4)]
    # Production does not own the clones: it drops them through the administrator's procedure.
    assert fake_snowflake.ours("DROP") == []
    assert fake_snowflake.ours('CALL "') == [
        snowflake_sweeper_drop_sql(clone_name(1)),
        snowflake_sweeper_drop_sql(clone_name(4)),
    ]
    left = set(fake_snowflake.databases())
    assert {PROD, settings.SANDBOX_DATABASE, clone_name(2), clone_name(3), clone_name(77)} <= left
    assert clone_name("0005") in left


def test_snowflake_sweeper_falls_back_clearly_without_query_history(
    prod_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    """No SNOWFLAKE.ACCOUNT_USAGE here, as for a role without GOVERNANCE_VIEWER."""
    plant_clones(fake_snowflake)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run_snowflake_sweeper(instance, dry_run=True)
        assert result.success
        log = run_log(instance, result)
    assert "SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY is not readable" in log
    assert "GRANT DATABASE ROLE SNOWFLAKE.GOVERNANCE_VIEWER" in log
    # Without query history, clone 3 counts as unused.
    assert result.output_for_node("sweep_stale_clones") == [
        clone_name(1),
        clone_name(3),
        clone_name(4),
    ]
    assert fake_snowflake.ours("DROP") == []  # dry run
    strict = run_snowflake_sweeper(require_query_history=True)
    assert not strict.success
    assert "QUERY_HISTORY is not readable" in failure_message(strict)


def test_snowflake_sweeper_drops_what_it_can_then_fails_naming_the_rest(
    prod_environment: str, fake_snowflake: FakeSnowflakeAccount
) -> None:
    plant_clones(fake_snowflake)
    fake_snowflake.record_query(clone_name(3), datetime.now(UTC) - timedelta(days=1))
    fake_snowflake.failing_drops.add(clone_name(1))
    result = run_snowflake_sweeper()
    assert not result.success
    message = failure_message(result)
    assert f"Could not drop 1 stale clone(s): {clone_name(1)}" in message
    assert "Insufficient privileges" in message
    assert f"Dropped: {clone_name(4)}" in message
    assert clone_name(4) not in fake_snowflake.databases()
    assert clone_name(1) in fake_snowflake.databases()


def test_clone_prod_keep_existing_keeps_the_clone_and_what_the_branch_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later pushes keep the clone (keep_existing); a fresh clone replaces it; a database of
    that name clone_prod did not make is refused, never replaced."""
    warehouse = tmp_path / "local.duckdb"
    monkeypatch.setenv("LOCAL_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("DAGSTER_CLOUD_PULL_REQUEST_ID", "41")
    clone = warehouse.parent / f"{clone_name(41)}.duckdb"
    make_warehouse(warehouse, rows=3)

    # No clone yet: keep_existing clones.
    assert run_job("clone_prod", "clone_production_database", keep_existing=True, **OPT_IN).success
    assert count_stories(clone) == 3
    # The branch builds into its clone; production moves on.
    make_warehouse(clone, rows=7)
    make_warehouse(warehouse, rows=5)
    assert run_job("clone_prod", "clone_production_database", keep_existing=True, **OPT_IN).success
    assert count_stories(clone) == 7
    # Asked for a fresh one: production's rows again.
    assert run_job("clone_prod", "clone_production_database", **OPT_IN).success
    assert count_stories(clone) == 5
    # Not clone_prod's (no marker): kept as it is, and the run fails saying why.
    clone.unlink()
    make_warehouse(clone, rows=9)
    result = run_job("clone_prod", "clone_production_database", keep_existing=True, **OPT_IN)
    assert "was not created by this project's clone_prod" in failure_message(result)
    assert count_stories(clone) == 9
