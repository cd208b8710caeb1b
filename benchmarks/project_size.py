"""What a team inherits: files and lines of Python of a bake, per feature combination.

Bakes each combination from the working tree (scripts/template_snapshot.py) and
counts the project's files, and the lines of Python under src/ (the package), tests/ and ci/.
Usage: python benchmarks/project_size.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from template_snapshot import snapshot

COMBINATIONS: dict[str, dict[str, object]] = {
    "default (lean)": {},
    "platform health, no BI tool": {"platform_health": True},
    "platform health, Superset": {"platform_health": True, "bi_tool": "superset"},
    "platform health, Mode": {"platform_health": True, "bi_tool": "mode"},
}


def python_lines(folder: Path) -> int:
    return sum(len(path.read_text().splitlines()) for path in folder.rglob("*.py"))


def main() -> int:
    print("| bake | files | src/ Python lines | tests/ | ci/ |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        template = str(snapshot(Path(folder)))
        for name, answers in COMBINATIONS.items():
            out = Path(folder) / "bakes" / name.replace(" ", "_").replace(",", "")
            project = Path(cookiecutter(template, no_input=True, output_dir=str(out), extra_context=answers))
            files = sum(1 for path in project.rglob("*") if path.is_file())
            sizes = [python_lines(project / part) for part in ("src", "tests", "ci")]
            print(f"| {name} | {files} | {sizes[0]:,} | {sizes[1]:,} | {sizes[2]:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
