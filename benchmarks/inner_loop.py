"""The inner loop: the generated project against Dagster's own scaffold, on this machine, in one run.

Targets (issue 12), each printed with its figure:
- ``make run`` end to end at most 1.0x the scaffold's ``dg launch --assets '*'``, per run and per
  asset; its peak memory at most the scaffold's;
- ``dagster definitions validate``, ``dg check defs`` and ``make dev`` until the code location is
  loaded (asked through the UI's GraphQL API): at most the scaffold's;
- no network use by ``make run``, ``make test`` or ``make dev`` (every ``connect()`` outside
  loopback, traced with strace, including dbt's own processes);
- the generated ``make test`` under 2 minutes; with ``--template-suite``, the template's own
  suite under 10 minutes, timed as CI runs it: ``CI=true .ci/run`` on a fresh clone of the
  committed HEAD (its own .venv, empty build/; the machine's uv and pex caches as they are).

The scaffold is built here the way Dagster documents it: ``create-dagster project``, then
``dg scaffold defs dagster_dbt.DbtProjectComponent`` over a small DuckDB dbt project this script
writes (8 models, 20 tests, one dbt source fed by one Python asset). It gets its own venv with the
versions of the generated project's uv.lock and bytecode compiled, like the generated project's.
Commands alternate (ours, the scaffold's) so load on the machine hits both alike; medians.

Usage: python benchmarks/inner_loop.py [--repeats N] [--template-suite]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from generated_env import TEMPLATE_DIR, bake_default, install

WORK_DIR = TEMPLATE_DIR / "build" / "benchmark-inner-loop"
CREATE_DAGSTER = "create-dagster=={version}"
SCAFFOLD = "scaffold_bench"
# The scaffold's extra packages, at the versions the generated project locks.
SCAFFOLD_PACKAGES = ("dagster-dbt", "dbt-duckdb", "dagster-webserver", "dagster-dg-cli")
LOADED_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  loadStatus locationOrLoadError { __typename } } } } }"""


# --- measuring ----------------------------------------------------------------------------------


def tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of process ``root`` and every process under it, now."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces, so split after its ')'.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, changed = {root}, True
    while changed:
        grown = tree | {pid for pid, parent in parents.items() if parent in tree}
        changed, tree = grown != tree, grown
    total_kb = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total_kb += int(match.group(1)) if match else 0
    return total_kb / 1024


def measure(command: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory of the whole process tree (MB, sampled every 0.2 s:
    a step in a process of its own counts with the process that launched it) and output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read() if process.stdout else ""
    process.wait()
    sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{output[-4000:]}")
    return seconds, peak[0], output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def location_loaded(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": LOADED_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            workspace = json.load(response)["data"]["workspaceOrError"]
    except (OSError, KeyError, ValueError):
        return False
    entries = workspace.get("locationEntries") or []
    return bool(entries) and all(
        entry["loadStatus"] == "LOADED"
        and (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
        for entry in entries
    )


def dev_seconds(command: Sequence[str], port: int, cwd: Path, env: dict[str, str]) -> float:
    """Seconds from starting ``command`` until the UI on ``port`` reports its code location loaded."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while not location_loaded(port):
            if process.poll() is not None:
                raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{' '.join(command)}: no loaded code location after 600 s")
            time.sleep(0.25)
        return time.perf_counter() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def dev_command(command: list[str], port_argument: str) -> tuple[list[str], int]:
    """``command`` with a free port for the UI, and that port."""
    port = free_port()
    return [*command, f"{port_argument}{port}"], port


def outside_connections(trace: Path) -> list[str]:
    """``connect()`` calls in an strace log that leave the machine (not loopback, not a socket file)."""
    found = []
    for line in trace.read_text().splitlines():
        if "connect(" not in line or "sa_family=AF_UNIX" in line:
            continue
        address = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        host = next((group for group in address.groups() if group), "") if address else "?"
        if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")):
            found.append(line.strip())
    return found


def traced(command: Sequence[str], trace: Path) -> list[str]:
    """``command`` under strace (every process it starts), logging connections to ``trace``."""
    return ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *command]


# --- the scaffold -------------------------------------------------------------------------------

DBT_PROJECT_YML = """name: scaffold_dbt
profile: scaffold_dbt
version: "1.0"
config-version: 2
model-paths: [models]
models:
  scaffold_dbt:
    staging: {+materialized: view}
    marts: {+materialized: table}
"""

# Each mart aggregates or re-reads an earlier model by user: user_id stays unique everywhere.
MART_SQL = (
    "select user_id, count(*) as events, sum(amount) as amount from {{{{ ref('{parent}') }}}} group by 1"
)
COPY_SQL = "select user_id, events, amount from {{{{ ref('{parent}') }}}}"
# Tests handed out model by model, in this order, until the count is reached.
TEST_ORDER = (
    ("user_id", "unique"),
    ("user_id", "not_null"),
    ("events", "not_null"),
    ("amount", "not_null"),
)

RAW_ASSET = '''import dagster as dg
import duckdb

from .paths import DUCKDB_PATH


@dg.asset(key=["raw", "events"], kinds={"duckdb"})
def raw_events() -> dg.MaterializeResult:
    """500 synthetic events: what the scaffold's dbt source reads."""
    with duckdb.connect(DUCKDB_PATH) as connection:
        connection.execute("create schema if not exists raw")
        connection.execute(
            "create or replace table raw.events as select range as id, range % 37 as user_id, "
            "['view', 'click', 'buy'][range % 3 + 1] as kind, (range % 11) * 1.5 as amount, "
            "timestamp '2026-01-01' + to_hours(range) as created_at from range(500)"
        )
    return dg.MaterializeResult(metadata={"rows": 500})
'''


def write_scaffold_dbt_project(root: Path, duckdb_path: Path, models: int, tests: int) -> None:
    """A DuckDB dbt project of ``models`` models (one staging view over the raw source, marts
    reading it or each other) and ``tests`` dbt tests: the same amount of work as ours."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(DBT_PROJECT_YML)
    (root / "profiles.yml").write_text(
        "scaffold_dbt:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {json.dumps(str(duckdb_path))}\n      threads: 4\n"
    )
    (root / "models" / "staging").mkdir(parents=True, exist_ok=True)
    (root / "models" / "marts").mkdir(parents=True, exist_ok=True)
    (root / "models" / "staging" / "stg_events.sql").write_text(
        "select id, user_id, kind, amount, created_at from {{ source('raw', 'events') }}\n"
    )
    (root / "models" / "staging" / "_sources.yml").write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables:\n      - name: events\n"
    )
    names = [f"mart_{i}" for i in range(models - 1)]
    for i, name in enumerate(names):
        parent = "stg_events" if i < 3 else names[i // 3]
        sql = (MART_SQL if i < 3 else COPY_SQL).format(parent=parent)
        (root / "models" / "marts" / f"{name}.sql").write_text(sql + "\n")
    columns: dict[str, dict[str, list[str]]] = {name: {} for name in names}
    handed = 0
    for column, test in TEST_ORDER:
        for name in names:
            if handed < tests:
                columns[name].setdefault(column, []).append(test)
                handed += 1
    if handed < tests:
        raise SystemExit(f"inner_loop: {models} models cannot carry {tests} tests")
    entries = [
        {"name": name, "columns": [{"name": c, "data_tests": t} for c, t in cols.items()]}
        for name, cols in columns.items()
    ]
    (root / "models" / "_models.yml").write_text(json.dumps({"version": 2, "models": entries}))


def constraints_from_lock(project: Path, destination: Path) -> Path:
    """The generated project's locked versions, as pip constraints for the scaffold's venv."""
    uv = uv_executable()
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-emit-project", "--no-hashes"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    destination.write_text(exported)
    return destination


def uv_executable() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise SystemExit("inner_loop: uv not found (run through `make benchmarks`)")
    return found


def locked_version(constraints: Path, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s;]+)", constraints.read_text(), re.M)
    if not match:
        raise SystemExit(f"inner_loop: {package} is not in the generated project's lock")
    return match.group(1)


def build_scaffold(project: Path, python: Path, assets: int, checks: int) -> Path:
    """create-dagster project + a dbt component + one Python asset (``assets`` assets and
    ``checks`` checks in all), installed like ours."""
    uv = uv_executable()
    root = WORK_DIR / SCAFFOLD
    shutil.rmtree(root, ignore_errors=True)
    constraints = constraints_from_lock(project, WORK_DIR / "constraints.txt")
    dagster = locked_version(constraints, "dagster")
    subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            CREATE_DAGSTER.format(version=dagster),
            "create-dagster",
            "project",
            "--no-uv-sync",
            SCAFFOLD,
        ],
        cwd=WORK_DIR,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    subprocess.run([uv, "venv", "--quiet", "--python", str(python), str(root / ".venv")], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(root / ".venv"),
            "-c",
            str(constraints),
            "-e",
            str(root),
            *SCAFFOLD_PACKAGES,
        ],
        check=True,
    )
    duckdb_path = root / "scaffold.duckdb"
    write_scaffold_dbt_project(root / "dbt", duckdb_path, models=assets - 1, tests=checks)
    package = root / "src" / SCAFFOLD / "defs"
    (package / "paths.py").write_text(f"DUCKDB_PATH = {json.dumps(str(duckdb_path))}\n")
    (package / "raw_events.py").write_text(RAW_ASSET)
    subprocess.run(
        ["dg", "scaffold", "defs", "dagster_dbt.DbtProjectComponent", "transform", "--project-path", "dbt"],
        cwd=root,
        env=venv_env(root / ".venv", root / ".dagster_home"),
        check=True,
        capture_output=True,
    )
    return root


def list_defs(project: Path, env: dict[str, str]) -> dict[str, list[object]]:
    """``dg list defs --json`` of ``project``."""
    listed = subprocess.run(
        ["dg", "list", "defs", "--json"], cwd=project, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(listed)  # type: ignore[no-any-return]


def venv_env(venv: Path, dagster_home: Path) -> dict[str, str]:
    """The environment of an activated ``venv`` with its own Dagster instance."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DAGSTER_HOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["DAGSTER_HOME"] = str(dagster_home)
    return env


# --- the comparison -----------------------------------------------------------------------------


def alternate(repeats: int, ours: Callable[[], float], scaffold: Callable[[], float]) -> tuple[float, float]:
    mine, theirs = [], []
    for _ in range(repeats):
        mine.append(ours())
        theirs.append(scaffold())
    return statistics.median(mine), statistics.median(theirs)


def pytest_summary(output: str) -> str:
    """pytest's last line ("338 passed in 91.50s"), or "?"."""
    lines = [line.strip("= ") for line in output.splitlines() if re.search(r"\d+ passed", line)]
    return lines[-1] if lines else "?"


def verdict(ratio: float, limit: float) -> str:
    return "meets" if ratio <= limit else "MISSES"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--template-suite", action="store_true", help="also time the template's make test")
    parser.add_argument("--reuse", action="store_true", help="keep the last run's bake and scaffold")
    args = parser.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)

    reusable = sorted((WORK_DIR / "generated").glob("*/.venv/bin/python"))
    if args.reuse and reusable and (WORK_DIR / SCAFFOLD / ".venv").exists():
        python = reusable[0]
        project = python.parents[2]
    else:
        project = bake_default(WORK_DIR / "generated")
        python = install(project)
    ours_env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DAGSTER_HOME")}
    # Both CLIs run the way the scaffold's do: its venv first on PATH and its own Dagster instance
    # (the one `make` exports). Without DAGSTER_HOME, Dagster builds a throwaway in-memory
    # instance per command, about 10% of a `dagster definitions validate`.
    ours_validate_env = venv_env(project / ".venv", project / ".dagster_home")
    ours = list_defs(project, ours_validate_env)
    our_assets, our_checks = len(ours["assets"]), len(ours["asset_checks"])
    if args.reuse and (WORK_DIR / SCAFFOLD / ".venv").exists():
        scaffold = WORK_DIR / SCAFFOLD
    else:
        scaffold = build_scaffold(project, python, our_assets, our_checks)
    theirs_env = venv_env(scaffold / ".venv", scaffold / ".dagster_home")
    theirs = list_defs(scaffold, theirs_env)
    their_assets, their_checks = len(theirs["assets"]), len(theirs["asset_checks"])
    print(
        f"Same work: ours {our_assets} assets and {our_checks} checks, the scaffold's "
        f"{their_assets} and {their_checks}",
        flush=True,
    )
    results: dict[str, object] = {}

    # Warm-up: both parse their dbt projects and create their warehouses once.
    measure(["make", "run"], project, ours_env)
    measure(["dg", "launch", "--assets", "*"], scaffold, theirs_env)

    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "scaffold": []}

    def our_run() -> float:
        seconds, memory, _ = measure(["make", "run"], project, ours_env)
        runs["ours"].append((seconds, memory))
        return seconds

    def their_run() -> float:
        seconds, memory, _ = measure(["dg", "launch", "--assets", "*"], scaffold, theirs_env)
        runs["scaffold"].append((seconds, memory))
        return seconds

    mine, theirs = alternate(args.repeats, our_run, their_run)
    memory_mine = max(m for _, m in runs["ours"])
    memory_theirs = max(m for _, m in runs["scaffold"])
    per_asset = (mine / our_assets) / (theirs / their_assets)
    print(
        f"make run: {mine:.1f} s for {our_assets} assets; scaffold dg launch: {theirs:.1f} s for "
        f"{their_assets} assets: {mine / theirs:.2f}x per run ({verdict(mine / theirs, 1.0)} 1.0x), "
        f"{per_asset:.2f}x per asset ({verdict(per_asset, 1.0)} 1.0x)",
        flush=True,
    )
    print(
        f"peak memory: make run {memory_mine:.0f} MB, scaffold {memory_theirs:.0f} MB "
        f"({verdict(memory_mine / memory_theirs, 1.0)} 1.0x)",
        flush=True,
    )
    results["run"] = {
        "ours_s": mine,
        "scaffold_s": theirs,
        "ours_assets": our_assets,
        "scaffold_assets": their_assets,
        "ours_peak_mb": memory_mine,
        "scaffold_peak_mb": memory_theirs,
    }

    validate = ["dagster", "definitions", "validate"]
    for name, command_ours, command_theirs in (
        ("dagster definitions validate", validate, validate),
        ("dg check defs", ["make", "check-defs"], ["dg", "check", "defs"]),
    ):
        mine, theirs = alternate(
            args.repeats,
            lambda c=command_ours: measure(c, project, ours_validate_env)[0],
            lambda c=command_theirs: measure(c, scaffold, theirs_env)[0],
        )
        print(
            f"{name}: {mine:.1f} s vs scaffold {theirs:.1f} s: {mine / theirs:.2f}x "
            f"({verdict(mine / theirs, 1.0)} 1.0x)",
            flush=True,
        )
        results[name] = {"ours_s": mine, "scaffold_s": theirs}

    mine, theirs = alternate(
        args.repeats,
        lambda: dev_seconds(
            ["make", "dev", f"DG_DEV_ARGS=--port {(port := free_port())}"], port, project, ours_env
        ),
        lambda: dev_seconds(["dg", "dev", "--port", str(port2 := free_port())], port2, scaffold, theirs_env),
    )
    print(
        f"make dev to a loaded code location: {mine:.1f} s vs scaffold dg dev {theirs:.1f} s: "
        f"{mine / theirs:.2f}x ({verdict(mine / theirs, 1.0)} 1.0x)",
        flush=True,
    )
    results["dev"] = {"ours_s": mine, "scaffold_s": theirs}

    test_seconds, _, output = measure(["make", "test"], project, ours_env)
    print(
        f"generated make test: {test_seconds:.0f} s ({pytest_summary(output)}; "
        f"{verdict(test_seconds, 120)} 120 s)",
        flush=True,
    )
    results["generated_test_s"] = test_seconds

    if shutil.which("strace"):
        network: dict[str, int] = {}
        for name, command in (("make run", ["make", "run"]), ("make test", ["make", "test"])):
            trace = WORK_DIR / f"connect-{name.replace(' ', '-')}.log"
            measure(traced(command, trace), project, ours_env)
            network[name] = len(outside_connections(trace))
        trace = WORK_DIR / "connect-make-dev.log"
        port = free_port()
        dev_seconds(traced(["make", "dev", f"DG_DEV_ARGS=--port {port}"], trace), port, project, ours_env)
        network["make dev"] = len(outside_connections(trace))
        for name, count in network.items():
            print(
                f"network: {name} opened {count} connection(s) beyond loopback "
                f"({'meets' if count == 0 else 'MISSES'} 0)",
                flush=True,
            )
        results["network_connections"] = network
    else:
        print("network: strace not installed, not checked", flush=True)

    if args.template_suite:
        clone = WORK_DIR / "template-clone"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", str(TEMPLATE_DIR), str(clone)], check=True)
        environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")}
        seconds, _, output = measure(["bash", ".ci/run"], clone, {**environment, "CI": "true"})
        print(
            f"template make test (CI=true .ci/run, fresh clone of HEAD): {seconds / 60:.1f} min "
            f"({pytest_summary(output)}; {verdict(seconds, 600)} 10 min)",
            flush=True,
        )
        results["template_test_s"] = seconds
        shutil.rmtree(clone, ignore_errors=True)

    (WORK_DIR / "results.json").write_text(json.dumps(results, indent=2))
    print(f"Figures written to {WORK_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
