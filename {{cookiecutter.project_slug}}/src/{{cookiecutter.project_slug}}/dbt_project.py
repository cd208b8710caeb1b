"""The dbt project, parsed with the DuckDB ``local`` target (no credentials needed).

Asset keys do not depend on the target parsed with, so one manifest serves every environment.
In a checkout the project is ``dbt_project/`` (``make manifest`` parses it with the variables
runs use; ``dg dev`` re-parses on start). A deployable build carries a copy inside the package, manifest included: ``make
package`` (``python -m <package>.dbt_project``) makes it before the wheel, PEX or image is built,
and an installed package reads only that copy (``settings.DBT_PROJECT_DIR``).
"""

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

# Absolute imports: `dagster-dbt project prepare-and-package --file` loads this file on its own.
from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.resources import dbt_environment_variables

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target="local",
    # Production's manifest, fetched by branch deploys (utils.dbt_state, docs/branch-deployments.md).
    state_path="state",
)
dbt_project.prepare_if_dev()

# What a run leaves in the dbt project, never part of a build (the manifest is copied on its own).
LOCAL_ARTIFACTS = ("target", "logs", ".user.yml", "*.duckdb", "*.duckdb.wal", "__pycache__")


def prepare() -> Path:
    """``dbt deps`` (if the project has packages) and ``dbt parse``, with the variables runs hand
    dbt (``utils.environment``): the same profile at parse and run time keeps dbt's partial
    parsing, instead of "Unable to do partial parsing because profile has changed" on every
    run. Returns the manifest's path."""
    if dbt_project.preparer is None:  # DbtProject always sets one; mypy cannot know
        raise RuntimeError("dbt_project: the dbt project has no preparer")
    with dbt_environment_variables():
        dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path


def package(destination: Path = settings.PACKAGED_DBT_PROJECT_DIR) -> Path:
    """Parse the checkout's dbt project, then copy it with its manifest into ``destination``."""
    if not settings.IN_CHECKOUT:
        raise RuntimeError(
            "dbt_project.package: not in a checkout; build from the repository (make package)"
        )
    manifest = prepare()
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(
        dbt_project.project_dir, destination, ignore=shutil.ignore_patterns(*LOCAL_ARTIFACTS)
    )
    (destination / "target").mkdir()
    shutil.copy2(manifest, destination / "target" / "manifest.json")
    return destination


def main(arguments: list[str]) -> int:
    """``python -m <package>.dbt_project [package]``: parse (``make manifest``), or parse and
    copy into the package (``make package``)."""
    if arguments == ["package"]:
        print(f"Packaged the dbt project and its manifest into {package()}")
    elif not arguments:
        print(f"Parsed the dbt project: {prepare()}")
    else:
        print(f"dbt_project: unknown arguments {arguments!r}; use none, or 'package'")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
