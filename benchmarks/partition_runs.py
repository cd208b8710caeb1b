"""Partitioned dbt runs with the window in dbt's environment against the window as ``--vars``.

Bakes the default project into build/benchmark-partitions, installs it (its own `make install`)
and builds its warehouse (`make run`), then runs the partitioned dbt asset for the example's
incremental model (`int_comments`) on the last N daily partitions, once as the project does
(``partition_start()``/``partition_end()`` from the environment) and once handing the window as
``--vars`` too (what every run did before, and what projects reading ``var('start_date')`` get),
alternating. Reports the median seconds of a run and whether dbt's log says it re-parsed the
whole project. Usage: python benchmarks/partition_runs.py [N]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from generated_env import TEMPLATE_DIR, bake_default, install

WORK_DIR = TEMPLATE_DIR / "build" / "benchmark-partitions"
# Run inside the project's venv: one partition run, timed, and what dbt's log says of parsing.
DRIVER = """
import glob, json, os, sys, time
import dagster as dg
from {package} import settings
from {package}.defs.dbt import common, partitioned
from {package}.resources import build_resources

if sys.argv[2] == "vars":
    common.reads_partition_vars = lambda manifest: True  # what --vars projects get
    partitioned.reads_partition_vars = common.reads_partition_vars
asset = partitioned.build_partitioned_models()
(key,) = [k for k in asset.keys if k.path[-1] == "int_comments"]
started = time.monotonic()
result = dg.materialize([asset], selection=[key], partition_key=sys.argv[1], resources=build_resources())
seconds = time.monotonic() - started
pattern = f"dbt_partitioned_models-{{result.run_id[:7]}}-*"
(target,) = glob.glob(str(settings.DBT_PROJECT_DIR / "target" / pattern))
log = open(os.path.join(target, "dbt.log")).read()
print("RESULT " + json.dumps({{"success": result.success, "seconds": seconds,
      "full_parse": "Unable to do partial parsing" in log}}))
"""


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    project = bake_default(WORK_DIR)
    python = install(project)
    subprocess.run(["make", "run"], cwd=project, check=True, capture_output=True)
    days = json.loads(
        subprocess.run(
            [
                str(python),
                "-c",
                f"import json; from {project.name}.defs.dbt.common import DAILY_PARTITIONS; "
                "print(json.dumps(DAILY_PARTITIONS.get_partition_keys()[-%d:]))" % runs,
            ],
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    driver = DRIVER.format(package=project.name)
    results: dict[str, list[dict[str, object]]] = {"environment": [], "vars": []}
    for day in days:
        for mode in results:
            command = [str(python), "-c", driver, day, mode]
            completed = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True)
            (line,) = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
            results[mode].append(json.loads(line.removeprefix("RESULT ")))
    print(f"| window handed as | median of a run ({runs} partitions) | dbt re-parsed the whole project |")
    print("| --- | --- | --- |")
    for mode, measured in results.items():
        seconds = sorted(float(r["seconds"]) for r in measured)[len(measured) // 2]
        full = sum(bool(r["full_parse"]) for r in measured)
        label = "environment (`partition_start()`)" if mode == "environment" else "`--vars` too"
        print(f"| {label} | {seconds:.2f} s | {full} of {len(measured)} runs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
