"""Refuse bad command-line answers with one line each, before Cookiecutter reads them.

Cookiecutter (2.7) refuses a ``name=value`` answer outside a choice list, or a yes/no answer it
cannot read, with a ValueError traceback, before pre_gen_project runs. This hook runs earlier but
is given no answers, so it reads them from its parent's command line (the cookiecutter CLI,
parsed by the CLI's own click command) and checks them with pre_gen_project's rules: one
``ERROR: <variable>: <problem>`` line per problem, exit 1, nothing written. With ``--no-input``
it checks every answer the bake would use (the given ones over the defaults); when Cookiecutter
will prompt, only the given ones (they become the prompts' defaults).

It checks nothing when its parent is not the cookiecutter CLI (Cookiecutter called from Python)
or that command line cannot be read; cruft never runs it. pre_gen_project checks every answer
again in every case. Cookiecutter runs this file unrendered, from a copy of the template: its
folder (hooks/) is first on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from pre_gen_project import default_slug, validate

CLI_NAMES = ("cookiecutter", "cookiecutter.exe")


def parent_command_line() -> list[str]:
    """The parent process's arguments: /proc on Linux, else ``ps`` (best effort), else none."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
        return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]
    except OSError:
        pass
    try:
        ps = ["ps", "-ww", "-o", "args=", "-p", str(os.getppid())]
        return shlex.split(subprocess.run(ps, capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def cookiecutter_arguments(command_line: list[str]) -> list[str] | None:
    """What follows ``cookiecutter`` (a launcher, ``python [options] .../cookiecutter`` or
    ``python [options] -m cookiecutter``); None for any other program."""
    head, *rest = command_line or [""]
    if Path(head).name in CLI_NAMES:
        return rest
    for index, arg in enumerate(rest):
        if arg == "-m":
            return rest[index + 2 :] if rest[index + 1 : index + 2] == ["cookiecutter"] else None
        if not arg.startswith("-"):
            return rest[index + 1 :] if Path(arg).name in CLI_NAMES else None
    return None


def answers_to_check(given: dict[str, str], variables: dict[str, Any]) -> dict[str, object]:
    """The values the bake will use: the given answers (yes/no read as Cookiecutter reads them)
    over the defaults (a list's first item; the slug derived from the project name)."""
    from cookiecutter.prompt import YesNoPrompt
    from rich.prompt import InvalidResponse

    answers: dict[str, object] = {}
    for name, default in variables.items():
        value = given.get(name, default[0] if isinstance(default, list) else default)
        if isinstance(default, bool) and isinstance(value, str):
            # Text Cookiecutter cannot read stays text: the rule names the variable and the words.
            with contextlib.suppress(InvalidResponse):
                value = YesNoPrompt().process_response(value)
        answers[name] = value
    if "project_slug" not in given and "{{" in str(variables["project_slug"]):
        answers["project_slug"] = default_slug(str(answers["project_name"]))
    return answers


def main() -> int:
    arguments = cookiecutter_arguments(parent_command_line())
    if arguments is None or not any("=" in argument for argument in arguments):
        return 0  # not the CLI, or no name=value answers: the defaults need no check here
    from cookiecutter.cli import main as cli
    from cookiecutter.config import get_user_config
    from cookiecutter.exceptions import ConfigDoesNotExistException
    from cookiecutter.generate import generate_context

    params = cli.make_context("cookiecutter", arguments, resilient_parsing=True).params
    if params.get("replay") or params.get("replay_file"):
        return 0  # answers from a replay file, none from the command line
    # The user config's defaults count too. A relative path is relative to where cookiecutter was
    # started (this hook runs in a copy of the template): the shell's $PWD, if that is still it.
    config_file = params.get("config_file")
    if config_file and not os.path.isabs(config_file):
        config_file = os.path.join(os.environ.get("PWD", ""), config_file)
    with warnings.catch_warnings():  # Cookiecutter warns about bad user-config defaults itself
        warnings.simplefilter("ignore")
        try:
            config = get_user_config(config_file, params.get("default_config", False))
        except ConfigDoesNotExistException:
            return 0  # the defaults are unknown here: pre_gen_project checks every answer later
        context = generate_context("cookiecutter.json", default_context=config["default_context"])
    variables = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
    given = {k: v for k, v in (params.get("extra_context") or {}).items() if k in variables}
    answers = answers_to_check(given, variables)
    errors = validate(answers) if params.get("no_input") else validate(answers, only=given)
    for line in errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
