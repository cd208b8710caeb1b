"""Re-resolve the generated project's ``uv.lock`` and store it in the template (``make lock``).

Bakes the default answers into a temporary folder, puts the template's current lock beside the
baked ``pyproject.toml`` (so uv keeps every version it can), runs ``uv lock``, and writes the
result back with the project's own name turned into the Cookiecutter expression. The dependency
list does not depend on any answer, so one lock serves every generated project; only the lock's
copy of ``default-groups`` (the optional features' groups a project installs) is rendered from
the answers, as in ``pyproject.toml``. A template test checks that fresh bakes of every feature
combination are in sync (``uv lock --check``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter
from template_snapshot import snapshot

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
TEMPLATE_LOCK = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "uv.lock"
NAME_EXPRESSION = "{{ cookiecutter.project_slug | replace('_', '-') }}"
# The default bake's groups (platform health on, GitHub), and the lock's Jinja for any answers.
DEFAULT_GROUPS_LINE = 'default-groups = ["dev", "platform-health", "platform-health-github"]'
GROUPS_TEMPLATE = (
    "{%- if cookiecutter.platform_health %}\n"
    'default-groups = ["dev", "platform-health", "platform-health-{{ cookiecutter.ci_provider }}"]\n'
    "{%- endif %}"
)


def project_name_line(name: str) -> str:
    return f'name = "{name}"'


def render(lock: str, name: str) -> str:
    """The template's lock as the default project called ``name`` would have it."""
    lock = lock.replace(GROUPS_TEMPLATE, DEFAULT_GROUPS_LINE)
    return lock.replace(project_name_line(NAME_EXPRESSION), project_name_line(name))


def replace_once(lock: str, line: str, replacement: str, what: str) -> str:
    pattern = re.compile(rf"^{re.escape(line)}$", re.MULTILINE)
    found = len(pattern.findall(lock))
    if found != 1:
        raise SystemExit(f"uv.lock: expected {what} once, found it {found} times")
    return pattern.sub(lambda _match: replacement, lock)


def templatize(lock: str, name: str) -> str:
    """The baked project's lock with its name and groups replaced by Cookiecutter expressions."""
    lock = replace_once(
        lock, project_name_line(name), project_name_line(NAME_EXPRESSION), f"the project {name!r}"
    )
    return replace_once(lock, DEFAULT_GROUPS_LINE, GROUPS_TEMPLATE, "the default groups")


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not found:
        raise SystemExit("uv is not installed: run `make lock` (it installs the template's tools)")
    return found


def main() -> int:
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryDirectory() as folder:
        template = snapshot(Path(folder))  # not the repository: it holds build/ and .venv
        project = Path(cookiecutter(str(template), no_input=True, output_dir=out))
        name = project.name.replace("_", "-")
        if TEMPLATE_LOCK.exists():
            (project / "uv.lock").write_text(render(TEMPLATE_LOCK.read_text(), name))
        subprocess.run([uv(), "lock", *sys.argv[1:]], cwd=project, check=True)
        TEMPLATE_LOCK.write_text(templatize((project / "uv.lock").read_text(), name))
    print(f"Wrote {TEMPLATE_LOCK.relative_to(TEMPLATE_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
