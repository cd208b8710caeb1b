"""The dbt project, parsed with the DuckDB ``local`` target (no credentials needed).

Asset keys do not depend on the target parsed with, so one manifest serves every environment.
In a checkout the project is ``dbt_project/``: ``make manifest`` parses it when one of its files
changed, and ``dg dev`` re-parses on (re)load only then. A deployable build carries a copy
inside the package, manifest included: ``make package`` (``python -m <package>.dbt_project
package``) makes it before the wheel, PEX or image is built, and an installed package reads only
that copy (``settings.DBT_PROJECT_DIR``).
"""

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtProject

# Absolute imports: `dagster-dbt project prepare-and-package --file` loads this file on its own.
from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.resources import ProjectDbtCliResource, dbt_executable

# What a run, a parse or a fetch of production's state leaves in the dbt project: never a source
# of the manifest. The state goes into a build; the rest never does (the manifest is copied alone).
GENERATED_FOLDERS = ("target", "logs", "dbt_packages", "state")
LOCAL_ARTIFACTS = ("target", "logs", ".user.yml", "*.duckdb", "*.duckdb.wal", "__pycache__")
# What `dbt deps` reads, and where it installs the packages.
PACKAGE_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
PACKAGES_FOLDER = "dbt_packages"
# The files dbt reads to build its manifest (the Makefile's `manifest` target lists the same).
SOURCE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md")


def source_mtimes(project_dir: Path) -> Iterator[int]:
    """Modification times of the dbt project's sources and folders (a folder changes when a file
    in it is added or removed)."""
    for root, folders, files in os.walk(project_dir):
        if Path(root) == project_dir:
            folders[:] = [name for name in folders if name not in GENERATED_FOLDERS]
        yield os.stat(root).st_mtime_ns
        for name in files:
            if name.endswith(SOURCE_SUFFIXES):
                yield os.stat(os.path.join(root, name)).st_mtime_ns


def packages_need_install(project_dir: Path) -> bool:
    """True when the project declares dbt packages and ``dbt_packages/`` is missing or older
    than a package file (``packages.yml``, ``dependencies.yml``, ``package-lock.yml``): ``dbt
    deps`` always asks the package hub, so it runs only then, and a SQL edit re-parses offline."""
    declared = [project_dir / name for name in PACKAGE_FILES[:2] if (project_dir / name).exists()]
    if not declared:
        return False
    installed = project_dir / PACKAGES_FOLDER
    if not installed.is_dir():
        return True
    files = [*declared, project_dir / PACKAGE_FILES[2]]
    newest = max(path.stat().st_mtime_ns for path in files if path.exists())
    return newest > installed.stat().st_mtime_ns


def manifest_is_stale(project: DbtProject) -> bool:
    """True when there is no manifest or a dbt source changed after it was written."""
    if not project.manifest_path.exists():
        return True
    written = project.manifest_path.stat().st_mtime_ns
    return any(mtime > written for mtime in source_mtimes(Path(project.project_dir)))


class ProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (``dbt deps`` when packages changed, then ``dbt parse``), run
    with this project's dbt resource: the variables runs hand dbt (``utils.environment``) are set
    at parse time too, so dbt's partial parsing survives into every run instead of "Unable to do
    partial parsing because profile has changed"; and no ``dbt --version`` (offline, one process
    less). Under ``dg dev`` it parses only when a dbt source changed since the last parse."""

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev() and manifest_is_stale(project):
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        dbt = ProjectDbtCliResource(
            project_dir=os.fspath(project.project_dir),
            profiles_dir=os.fspath(project.profiles_dir),
            target=project.target,
            dbt_executable=dbt_executable(),
        )
        if packages_need_install(Path(project.project_dir)):
            dbt.cli(["deps", "--quiet"], target_path=project.target_path).wait()
            # Installed now: later parses skip `dbt deps` until a package file changes again.
            os.utime(Path(project.project_dir) / PACKAGES_FOLDER)
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()


dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
    target="local",
    # Production's manifest, fetched by branch deploys (utils.dbt_state, docs/branch-deployments.md).
    state_path="state",
)
PREPARER = ProjectPreparer()
PREPARER.prepare_if_dev(dbt_project)


def prepare() -> Path:
    """Parse the dbt project (``ProjectPreparer``); returns the manifest's path."""
    PREPARER.prepare(dbt_project)
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
