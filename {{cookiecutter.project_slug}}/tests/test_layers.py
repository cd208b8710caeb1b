"""The package's layers import downward only, and an optional feature's component folder is
imported by nothing outside it (so it comes and goes whole: README, "Optional features").

Read from the source with ``ast``: every ``import`` and ``from ... import``, at the top of a
module or inside a function, relative ones resolved to the module they name.
"""

import ast
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }} import definitions

PACKAGE_DIR = Path(definitions.__file__).parent
PACKAGE = PACKAGE_DIR.name
# Lowest first: a module may import its own layer and the ones before it, never one after it.
# A layer names modules or packages; the most specific name decides (utils.remove_example is a
# command, not a helper). Last: what runs the definitions.
LAYERS = (
    ("settings",),
    ("utils",),
    ("resources", "snowflake_warehouse", "dbt_project"),
    ("defs",),
    ("definitions", "local_pipeline", "utils.remove_example"),
)
{%- if cookiecutter.platform_health %}
# Component folders of optional features: only their own modules import them.
FEATURE_FOLDERS = ("defs.platform_health",)
# Pure logic: no Dagster, and nothing under defs/ but itself.
PURE_FOLDERS = ("defs.platform_health.lib",)
{%- endif %}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str | None = None) -> set[str]:
    """Every module ``path`` (the package's module ``name``) imports: the package's own without
    the package prefix."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (name or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                found.add(node.module or "")
                continue
            base = package[: len(package) - node.level + 1]
            if node.module:
                found.add(".".join([*base, node.module]))
            else:  # `from . import x`: x is a module (or a name) of that package
                found |= {".".join([*base, alias.name]) for alias in node.names}
    own = f"{PACKAGE}."
    return {name.removeprefix(own) if name.startswith(own) else name for name in found}


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    matches = [
        (len(name), i)
        for i, names in enumerate(LAYERS)
        for name in names
        if module == name or module.startswith(f"{name}.")
    ]
    return max(matches)[1] if matches else None


def own_modules(path: Path) -> set[str]:
    return {name for name in imports(path) if layer_of(name) is not None}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) is not None))
def test_imports_point_downward(module: str) -> None:
    upward = {name for name in own_modules(MODULES[module]) if layer_of(name) > layer_of(module)}  # type: ignore[operator]
    assert not upward, f"{module} imports a higher layer: {sorted(upward)} ({LAYERS})"
{%- if cookiecutter.platform_health %}


@pytest.mark.parametrize("folder", FEATURE_FOLDERS)
def test_feature_folders_are_imported_only_from_inside(folder: str) -> None:
    outside = {
        module: sorted(n for n in own_modules(path) if n == folder or n.startswith(f"{folder}."))
        for module, path in MODULES.items()
        if module != folder and not module.startswith(f"{folder}.")
    }
    assert not {m: names for m, names in outside.items() if names}


@pytest.mark.parametrize("folder", PURE_FOLDERS)
def test_logic_folders_stay_free_of_dagster_and_their_component(folder: str) -> None:
    def refused(name: str) -> bool:
        inside = name == folder or name.startswith(f"{folder}.")
        return name.split(".")[0].startswith("dagster") or (name.startswith("defs.") and not inside)

    found = {
        module: sorted(n for n in imports(path) if refused(n))
        for module, path in MODULES.items()
        if module == folder or module.startswith(f"{folder}.")
    }
    assert not {m: names for m, names in found.items() if names}
{%- endif %}


def test_the_checks_see_every_kind_of_import(tmp_path: Path) -> None:
    """Relative, absolute and function-local imports all count (the checks are not vacuous)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import dagster as dg\n"
        "from .. import settings\n"
        "from ..utils.environment import Environment\n"
        f"from {PACKAGE}.definitions import defs\n"
        "\n"
        "def later():\n"
        "    from .dbt import models\n"
    )
    found = imports(probe, "defs.probe")
    assert found >= {"dagster", "settings", "utils.environment", "definitions", "defs.dbt"}
    assert layer_of("utils.environment") == 1
    assert layer_of("utils.remove_example") == layer_of("definitions") == len(LAYERS) - 1
