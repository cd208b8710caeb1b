"""Bake time: this template vs Cookiecutter on a one-file template (start-up cost).

Each bake runs the real `cookiecutter` CLI in a fresh process (what a user pays), N times,
and reports the median. Usage: python benchmarks/bake_time.py [N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("cookiecutter"))
sys.path.insert(0, str(TEMPLATE_DIR / "scripts"))
from template_snapshot import snapshot  # noqa: E402


def median_bake_seconds(template: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run([CLI, "--no-input", "-o", out, str(template)], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tiny:
        root = Path(tiny)
        (root / "cookiecutter.json").write_text(json.dumps({"name": "x"}))
        (root / "{{cookiecutter.name}}").mkdir()
        (root / "{{cookiecutter.name}}" / "README.md").write_text("{{ cookiecutter.name }}\n")
        baseline = median_bake_seconds(root, runs)
    with tempfile.TemporaryDirectory() as folder:  # what a clone holds: no build/ or .venv
        full = median_bake_seconds(snapshot(Path(folder)), runs)
    print(f"one-file template: {baseline:.2f} s; this template: {full:.2f} s; ratio {full / baseline:.2f}x")


if __name__ == "__main__":
    main()
