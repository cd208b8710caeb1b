"""The main job: bake the default project with every optional feature on, install it, run its
whole local pipeline.

The defaults are a lean start (platform health off: a team adds it with `make add-feature`); the
demo turns it on to show everything the template makes. Bakes into build/demo/<slug> (replacing
any earlier demo), installs the project into its own
.venv with its own `make install` (uv, from the project's uv.lock), then runs `make run` there,
which materializes every asset on DuckDB and lists the tables.
"""

from __future__ import annotations

import subprocess
import sys
import time

from generated_env import TEMPLATE_DIR, bake_default, install

DEMO_DIR = TEMPLATE_DIR / "build" / "demo"
# The default answers, with every optional feature on (blue/green publishing already is).
EVERY_FEATURE = {"platform_health": True}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def main() -> int:
    started = time.monotonic()
    step(f"Baking the default project, every optional feature on ({EVERY_FEATURE}), into {DEMO_DIR}")
    project = bake_default(DEMO_DIR, **EVERY_FEATURE)

    step("Installing it into its .venv (make install: uv sync --locked, then dbt parse)")
    install(project)

    step("Running its whole local pipeline (make run)")
    subprocess.run(["make", "run"], cwd=project, check=True)
    step(
        f"Done in {time.monotonic() - started:.0f} s. The project is in {project}; "
        "next: cd there and `make dev`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
