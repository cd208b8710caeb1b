"""``make instance`` (``make dev`` and ``make run`` too): ``dg`` and ``dagster`` use make's instance.

Dagster's CLI (``dg dev``, ``dg launch``, ``dagster dev``, ``dagster asset materialize``, ...)
loads the ``.env`` file of its working directory into the environment, over what is already set,
before it opens its instance; ``dg dev`` hands the same file to the code location. Without
``DAGSTER_HOME`` they use a temporary instance, deleted when they exit: a run started with
``dg launch`` never showed in ``make dev``. This writes one line into the project's ``.env``::

    DAGSTER_HOME="${LOCAL_DAGSTER_HOME:-/absolute/path/of/.dagster_home}"

Absolute, as Dagster requires. ``LOCAL_DAGSTER_HOME`` wins when set: the Makefile exports the
instance it uses (``make dev LOCAL_DAGSTER_HOME=/tmp/scratch``, the tests' throwaway ones), so a
``dg dev`` started by make is always on make's instance. Every other line stays as it was.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

# A DAGSTER_HOME assignment, as python-dotenv reads one (with or without `export`).
_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?DAGSTER_HOME\s*=")
# Characters that would end or change the quoted value; Make cannot handle them in paths either.
_UNSAFE = re.compile(r'["\\$}\s]')


def dagster_home_line(home: Path) -> str:
    """The ``.env`` line sending Dagster's CLI to ``home`` unless ``LOCAL_DAGSTER_HOME`` is set."""
    if not home.is_absolute() or _UNSAFE.search(str(home)):
        raise ValueError(
            f"DAGSTER_HOME: {str(home)!r} must be an absolute path without spaces, quotes, "
            "backslashes, '$' or '}'"
        )
    # Concatenated: the template renders this file, and doubled braces are its syntax.
    return 'DAGSTER_HOME="${LOCAL_DAGSTER_HOME:-' + str(home) + '}"\n'


def point_env_file_at(env_file: Path, home: Path) -> bool:
    """Give ``env_file`` exactly one DAGSTER_HOME line, naming ``home`` (in place of the first
    one, which may name a checkout that has moved; else appended). Written atomically with the
    file's permissions (a new file is private: .env holds secrets), only if it changes; True
    then."""
    line = dagster_home_line(home)
    target = env_file.resolve()  # a symlinked .env stays a symlink
    old = target.read_text() if target.exists() else ""
    lines = old.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = [i for i, text in enumerate(lines) if _ASSIGNMENT.match(text)]
    if found:
        lines[found[0]] = line
        lines = [text for i, text in enumerate(lines) if i not in found[1:]]
    else:
        lines.append(line)
    new = "".join(lines)
    if new == old:
        return False
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".env.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(new)
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def main(arguments: list[str]) -> int:
    """``python -m <package>.utils.local_instance <instance folder>``, from the project root."""
    if len(arguments) != 1:
        print("usage: python -m <package>.utils.local_instance <instance folder>", file=sys.stderr)
        return 2
    home = Path(arguments[0])
    try:
        changed = point_env_file_at(Path(".env"), home)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if changed:
        print(f".env: DAGSTER_HOME is {home}: dg and dagster commands run here use it too")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
