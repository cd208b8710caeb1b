"""Bake the default project and give it its own installed .venv (shared by demo and benchmarks).

Installs with the generated project's own `make install` (`uv sync --locked` from its uv.lock),
handing it the uv of the template's venv so nothing else needs to be on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter
from template_snapshot import snapshot

TEMPLATE_DIR = Path(__file__).resolve().parents[1]


def bake_default(output_dir: Path, **answers: object) -> Path:
    """Bake the default answers (with ``answers`` changed) into ``output_dir`` (emptied first);
    return the project folder."""
    shutil.rmtree(output_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory() as folder:  # not the repository: it holds build/ and .venv
        template = str(snapshot(Path(folder)))
        return Path(cookiecutter(template, no_input=True, output_dir=str(output_dir), extra_context=answers))


def install(project: Path) -> Path:
    """The project's own ``make install`` into ``project/.venv``; return that venv's python."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    subprocess.run(["make", "install", *([f"UV={uv}"] if uv else [])], cwd=project, check=True)
    return project / ".venv" / "bin" / "python"
