"""The code location: everything under ``defs/``, built for the environment it loads in.

The defs folder is loaded from the imported package itself (not by looking for pyproject.toml),
so the same code loads from a checkout, an installed wheel, a PEX or an image.
"""

import warnings
from pathlib import Path

import dagster as dg

from . import defs as defs_package
from . import settings

DEFS_FOLDER = Path(defs_package.__file__).parent


@dg.definitions
def defs() -> dg.Definitions:
    tree = dg.ComponentTree.from_module(
        defs_module=defs_package, project_root=settings.PROJECT_ROOT or settings.PACKAGE_DIR
    )
    with warnings.catch_warnings():
        # Dagster's defs-folder loader calls its own preview API on every load: nothing this
        # project can act on, so it does not print a warning on every run.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        # The defs folder only: the whole tree would also import every installed Dagster
        # integration for the UI's component catalog (dagster_snowflake alone takes seconds,
        # paid by every process even on DuckDB). Measured: 5.1 s -> 2.6 s to load.
        return tree.build_defs(DEFS_FOLDER)
