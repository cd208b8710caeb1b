"""Same answers + same template version => byte-identical project.

cruft updates by rendering the old and the new template version in temporary folders and
applying the difference: anything that changes from one render to the next (a timestamp, a random
value, the output path, the clock's time zone) would turn into a spurious change or a conflict in
every team's update. These tests bake each supported combination twice, in different folders and
under a different time zone and working directory, and compare the results file for file,
including what the post-generation hook removed.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from conftest import SUPPORTED_COMBINATIONS, TEMPLATE_DIR, bake, combination_id

# What one path in a generated project looks like: its kind, permission bits and content.
Entry = tuple[str, int, bytes]


def tree_snapshot(root: Path, ignore: Iterable[str] = (".git",), modes: bool = True) -> dict[str, Entry]:
    """Every file and folder below ``root`` (folders too: an empty one left behind is a difference).

    ``modes=False`` records 0 for permission bits, for copies checked out by different tools.
    """
    ignored = set(ignore)
    snapshot: dict[str, Entry] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in ignored:
            continue
        mode = stat.S_IMODE(path.lstat().st_mode) if modes else 0
        if path.is_symlink():
            snapshot[relative.as_posix()] = ("link", mode, str(path.readlink()).encode())
        elif path.is_dir():
            snapshot[relative.as_posix()] = ("dir", mode, b"")
        else:
            snapshot[relative.as_posix()] = ("file", mode, path.read_bytes())
    return snapshot


def describe_differences(first: dict[str, Entry], second: dict[str, Entry]) -> list[str]:
    """Readable differences, so a failure names the file and what changed."""
    problems = [f"only in the first bake: {p}" for p in sorted(first.keys() - second.keys())]
    problems += [f"only in the second bake: {p}" for p in sorted(second.keys() - first.keys())]
    for path in sorted(first.keys() & second.keys()):
        (kind_a, mode_a, data_a), (kind_b, mode_b, data_b) = first[path], second[path]
        if kind_a != kind_b:
            problems.append(f"{path}: {kind_a} vs {kind_b}")
        elif mode_a != mode_b:
            problems.append(f"{path}: mode {mode_a:o} vs {mode_b:o}")
        elif data_a != data_b:
            problems.append(f"{path}: content differs")
    return problems


@pytest.fixture
def other_clock_and_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterable[None]:
    """Bake from another working directory, in a time zone far from the first bake's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("combination", SUPPORTED_COMBINATIONS, ids=combination_id)
def test_same_answers_bake_byte_identical_projects(
    cookies: Any, combination: dict[str, str], request: pytest.FixtureRequest
) -> None:
    first = bake(cookies, **combination)
    request.getfixturevalue("other_clock_and_folder")
    second = bake(cookies, **combination)
    # pytest-cookies bakes into a new folder each time: a leaked output path would differ here.
    assert first.parent != second.parent

    first_tree, second_tree = tree_snapshot(first), tree_snapshot(second)

    assert describe_differences(first_tree, second_tree) == []
    assert len(first_tree) > 30, "the bake produced suspiciously few files"


@pytest.mark.parametrize("combination", SUPPORTED_COMBINATIONS, ids=combination_id)
def test_no_machine_specific_text_in_the_project(cookies: Any, combination: dict[str, str]) -> None:
    """The hooks see ``_output_dir``/``_repo_dir``; none of it may be written into a file."""
    project = bake(cookies, **combination)
    machine_specific = {
        "template folder": str(TEMPLATE_DIR).encode(),
        "output folder": str(project.parent).encode(),
    }
    if len(Path.home().parts) > 1:  # a home of "/" would match every path
        machine_specific["home folder"] = str(Path.home()).encode()
    leaks = [
        f"{path}: contains the {what}"
        for path, (kind, _, data) in tree_snapshot(project).items()
        for what, text in machine_specific.items()
        if kind == "file" and text in data
    ]
    assert leaks == []
