"""Bake from a clean copy of the template: the files git would commit now (tracked and new ones,
never ignored ones such as build/ and .venv).

Cookiecutter copies a template folder that has a pre_prompt hook whole, before every bake (and
leaves the copy behind when a hook fails). This repository's folder also holds build/ and .venv:
gigabytes, some of it being written while it would be copied. So the tests, the scripts and
template developers bake from a snapshot:

    .venv/bin/python scripts/template_snapshot.py --no-input -o build/mine ci_provider=gitlab

runs the real ``cookiecutter`` CLI with these arguments on a fresh snapshot (the template
argument), then deletes the snapshot. Python code imports :func:`snapshot`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]


def snapshot(into: Path, repo: Path = REPO_DIR) -> Path:
    """Copy the template's files into ``into/<repo folder name>`` and return that folder (the
    repository itself when it is not a git checkout)."""
    if not (repo / ".git").exists():
        return repo
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    copy = into / repo.name
    for name in filter(None, map(os.fsdecode, listed.split(b"\0"))):
        if (repo / name).is_file():  # not a tracked file deleted in the working tree
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo / name, copy / name)
    return copy


def main(arguments: list[str]) -> int:
    cookiecutter = Path(sys.executable).with_name("cookiecutter")
    with tempfile.TemporaryDirectory(prefix="template-snapshot-") as folder:
        template = snapshot(Path(folder))
        return subprocess.run([str(cookiecutter), str(template), *arguments], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
