"""Every fenced block in README.md and docs/*.md is a command or a config that works here.

The blocks are read from the files as they are (after ``make remove-example`` too) and each is
checked for what it is, offline, without running dbt or what the commands do:

- shell, command by command (``&&``, ``|``, ``$(...)``, ``<(...)`` and continued lines split):
  ``make`` names Makefile targets and variables; ``dg``, ``dagster``, ``dbt`` and ``cruft`` a
  subcommand and options of the CLI's own click tree (what ``--help`` prints: dg's help leaves
  the options out with this click, and dbt takes seconds to start); ``uv``, ``git`` and
  ``python ci/dagster_plus.py`` subcommands and options come from their help; ``python -m``
  modules must import and ``python -c`` code must compile with its imports installed. Jobs,
  asset selections and ``--config-json`` are checked against the definitions, exported
  variables against the code reading them, and paths must exist unless a command makes them
  (``PRODUCED``). No container engine runs here: for ``docker`` the Dockerfile must exist and the
  command run in the image is checked.
- YAML and JSON, for what they are: run config against the job running its ops (production's
  included), dbt ``meta.dagster`` against the translator's rules, a dbt target against
  profiles.yml, Dagster+ run tag limits against dagster.yaml.
- the README's layout: every path it lists exists.

Any other block fails, unless ``NOT_CHECKED_HERE`` names it and why. Links between the
documents, and their anchors, must resolve too.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.utils import automation

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = settings.__name__.split(".")[0]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent

# Blocks not checked here, by (document, start of the block's first line): why, and what checks
# them instead.
NOT_CHECKED_HERE = {
    ("security.md", "-- Roles and service users"): (
        "Snowflake administration an administrator runs once; tests/test_security_grants.py "
        "reads every statement of it against the grants the document claims"
    ),
}
# Paths the documents' commands use that a checkout holds only once a command made them.
PRODUCED = {
    ".venv": "make install",
    "data/local.duckdb": "make run",
    "dbt_project/state": "ci/dagster_plus.py dbt-state fetch",
    "dbt_project/target": "make manifest",
    "dist": "make build",
}
# Shell built-ins and utilities the documents use: nothing of the project to check.
PLAIN_SHELL = {"cat", "cd", "source"}
# Each Python CLI's click command tree (the group its console script runs).
CLICK_ROOTS = {
    "cruft": ("cruft._cli", "app"),
    "dagster": ("dagster._cli", "cli"),
    "dbt": ("dbt.cli.main", "cli"),
    "dg": ("dagster_dg_cli.cli", "cli"),
}
FENCE = re.compile(
    r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence) *$",
    re.M | re.S,
)
Options = dict[str, bool]  # option -> whether it takes a value


@dataclass(frozen=True)
class Block:
    document: Path
    language: str
    text: str

    @property
    def first_line(self) -> str:
        return next((line for line in self.text.splitlines() if line.strip()), "")

    @property
    def name(self) -> str:
        return f"{self.document.name}: ```{self.language} {self.first_line[:70]}"

    @property
    def not_checked_because(self) -> str | None:
        return next(
            (
                why
                for (name, start), why in NOT_CHECKED_HERE.items()
                if name == self.document.name and self.first_line.startswith(start)
            ),
            None,
        )


def blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        for match in FENCE.finditer(document.read_text()):
            indent = len(match["indent"])
            body = "".join(line[indent:] for line in match["body"].splitlines(keepends=True))
            found.append(Block(document, match["lang"].strip().lower(), body))
    return found


# --- shell -------------------------------------------------------------------------------------


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of ``script`` as words (``<placeholder>`` kept as one word); those
    inside ``$(...)`` and ``<(...)`` come first, their place left as one word."""
    for line in re.sub(r"\\\n", " ", script).splitlines():
        inner = re.findall(r"[$<]\(([^()]*)\)", line)
        line = re.sub(r"[$<]\([^()]*\)", "SUBSTITUTED", line)
        for text in [
            *inner,
            re.sub(r"<(\w[^<>]*)>", lambda m: "<" + m[1].replace(" ", "_") + ">", line),
        ]:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split, lexer.commenters = True, "#"
            words: list[str] = []
            for word in [*lexer, ";"]:
                if word in {";", "&&", "||", "|", "&"}:
                    if words:
                        yield words
                    words = []
                else:
                    words.append(word)


def parse(
    words: list[str], options: Options, where: str, stop_at_positional: bool = False
) -> tuple[dict[str, str], list[str]]:
    """The options given (each must exist) and the positional words; with
    ``stop_at_positional``, everything from the first positional word on is positional."""
    given: dict[str, str] = {}
    rest = list(words)
    positional = []
    while rest:
        word = rest.pop(0)
        if not word.startswith("-") or word == "-":
            positional.append(word)
            if stop_at_positional:
                return given, positional + rest
            continue
        name, equals, value = word.partition("=")
        assert name in options, f"{where}: no option {name}"
        given[name] = rest.pop(0) if options[name] and not equals else value
    return given, positional


@cache
def makefile_names() -> tuple[frozenset[str], frozenset[str]]:
    """The Makefile's targets and variables."""
    text = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-z][\w-]*)\s*:(?!=)", text, re.M)
    variables = re.findall(r"^(?:export\s+)?([A-Z][A-Z0-9_]*)\s*[:?+]?=", text, re.M)
    return frozenset(targets), frozenset(variables)


@cache
def click_root(program: str) -> Any:
    """The CLI's click command; typer apps converted (typer carries a click of its own, so
    commands are read by their attributes, not their classes)."""
    module, attribute = CLICK_ROOTS[program]
    root = getattr(import_module(module), attribute)
    if not hasattr(root, "params"):
        import typer

        root = typer.main.get_command(root)
    return root


def click_command(program: str, words: list[str]) -> tuple[Options, list[str], list[str]]:
    """The options of the subcommand ``words`` name (and of its groups), the subcommand's path
    and the words after it."""
    command = click_root(program)
    context = command.context_class(command, info_name=program)
    owners, path, rest = [command], [program], list(words)
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        command = command.get_command(context, rest[0])
        assert command is not None, f"`{' '.join(path)}` has no subcommand {rest[0]!r}"
        path.append(rest.pop(0))
        context = command.context_class(command, info_name=path[-1], parent=context)
        owners.append(command)
    options = {"--help": False}
    for param in (param for owner in owners for param in owner.params):
        if param.param_type_name == "option":
            options |= {
                name: not (param.is_flag or param.count)
                for name in [*param.opts, *param.secondary_opts]
            }
    return options, path, rest


def help_options(help_text: str) -> Options:
    """The options a ``--help`` text lists (uv's, git's, argparse's)."""
    options = {"--help": False, "-h": False}
    for match in re.finditer(
        r"^\s+(-\w)?(?:,?\s*(--[\w-]+))?([ =]<[^>]+>|\s[A-Z][A-Z_]+\b)?", help_text, re.M
    ):
        for name in match.groups()[:2]:
            if name:
                options[name] = bool(match[3])
    return options


def uv_binary() -> str:
    """The uv the Makefile uses: $UV, then PATH, then the one `make install` fetches."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(ROOT / ".uv" / "bin" / "uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise AssertionError("uv not found ($UV, PATH or .uv/bin/uv): `make install` fetches it")


@cache
def help_text(*command: str) -> str:
    """``command --help`` (git: ``-h``), which must succeed."""
    flag = "-h" if command[0] == "git" else "--help"
    result = subprocess.run([*command, flag], capture_output=True, text=True, cwd=ROOT)
    usage = result.stdout + result.stderr
    assert result.returncode == 0 or usage.startswith(f"usage: {shlex.join(command)}"), (
        f"`{shlex.join(command)}` is no command: {usage[-400:]}"
    )
    return usage


class Checker:
    """Checks one block's commands against this project."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.cwd = ROOT
        self.words: list[str] = []

    def fail(self, problem: str) -> None:
        pytest.fail(f"{self.block.name}\n  `{shlex.join(self.words)}`: {problem}", pytrace=False)

    def check_block(self) -> None:
        for words in commands(self.block.text):
            self.words = words
            self.check(words)

    def check(self, words: list[str]) -> None:
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):  # VAR=value command
            self.check_variable(words.pop(0).partition("=")[0])
        program = words[0]
        if program.startswith(".venv/bin/") and not (VENV_BIN / Path(program).name).exists():
            self.fail(f"{Path(program).name} is not installed in the project's environment")
        program = Path(program).name  # .venv/bin/dg, /tmp/check/bin/dagster
        try:
            if program in CLICK_ROOTS:
                self.check_click(program, words[1:])
            elif program in PLAIN_SHELL:
                self.cwd = (self.cwd / words[1]).resolve() if program == "cd" else self.cwd
            elif hasattr(self, f"check_{program}"):
                getattr(self, f"check_{program}")(words[1:])
            else:
                self.fail(
                    "no check for this command: add one, or list the block in NOT_CHECKED_HERE"
                )
        except AssertionError as problem:
            self.fail(str(problem))

    def check_path(self, word: str) -> None:
        """A relative path a command names, inside the project, exists or is made by a command
        (PRODUCED)."""
        path = (self.cwd / word).resolve()
        looks_like_one = re.fullmatch(r"[\w.*-]+(/[\w.*-]*)+", word) or word in PRODUCED
        if not looks_like_one or ROOT not in [path, *path.parents]:
            return
        relative = path.relative_to(ROOT).as_posix()
        made = any(
            relative == product or relative.startswith(f"{product}/") for product in PRODUCED
        )
        assert made or path.exists() or list(ROOT.glob(relative)), f"no {relative} in the project"

    def check_variable(self, name: str) -> None:
        """An environment variable the documents set is one the project reads."""
        sources = [
            *ROOT.glob("src/**/*.py"),
            ROOT / "dbt_project" / "profiles.yml",
            ROOT / "Makefile",
        ]
        assert any(re.search(rf"\b{name}\b", path.read_text()) for path in sources), (
            f"nothing reads {name}"
        )

    def check_export(self, words: list[str]) -> None:
        for assignment in words:
            self.check_variable(assignment.partition("=")[0])

    def check_make(self, words: list[str]) -> None:
        targets, variables = makefile_names()
        for word in words:
            name, equals, _ = word.partition("=")
            assert name in (variables if equals else targets), (
                f"the Makefile has no {'variable' if equals else 'target'} {name}"
            )

    def check_click(self, program: str, words: list[str]) -> None:
        options, path, rest = click_command(program, words)
        given, positional = parse(rest, options, f"`{' '.join(path)}`")
        for word in [*positional, *given.values()]:
            self.check_path(word)
        if path[:2] == ["dg", "launch"]:
            check_run_config(launched_job(given), json.loads(given.get("--config-json", "{}")))
        module = given.get("-m") or given.get("--module-name")
        if module:
            assert find_spec(module.split(".")[0]) and find_spec(module), f"no module {module}"

    def check_uv(self, words: list[str]) -> None:
        path = ["uv", *words[: 2 if words[0] in {"pip", "tool", "python", "cache", "self"} else 1]]
        options = help_options(help_text(uv_binary(), *path[1:]))
        given, positional = parse(
            words[len(path) - 1 :],
            options,
            f"`{' '.join(path)}`",
            stop_at_positional=path == ["uv", "run"],
        )
        for word in given.values():
            self.check_path(word)
        if path == ["uv", "run"] and positional:  # uv run [options] COMMAND...
            self.check(positional)
        else:
            for word in positional:
                self.check_path(word)

    def check_git(self, words: list[str]) -> None:
        parse(words[1:], help_options(help_text("git", words[0])), f"`git {words[0]}`")

    def check_python(self, words: list[str]) -> None:
        if words[0] == "-c":
            compile(words[1], "<python -c>", "exec")
            for module in re.findall(r"(?:^|;)\s*(?:import|from)\s+([\w.]+)", words[1]):
                assert find_spec(module.split(".")[0]), f"{module} is not installed"
        elif words[0] == "-m":
            assert find_spec(words[1]), f"no module {words[1]}"
        else:
            assert (self.cwd / words[0]).is_file(), f"no script {words[0]}"
            subcommand = [word for word in words[1:] if not word.startswith("-")][:2]
            options = help_options(help_text(sys.executable, words[0], *subcommand))
            given, positional = parse(
                words[1 + len(subcommand) :], options, f"`{' '.join(words[:1] + subcommand)}`"
            )
            for word in [*given.values(), *positional]:
                self.check_path(word)

    def check_docker(self, words: list[str]) -> None:
        """No container engine runs here: a build's Dockerfile exists, and the command a
        container runs is checked as any other (from the image's root)."""
        if words[0] == "build":
            assert (self.cwd / words[-1] / "Dockerfile").is_file(), f"no Dockerfile in {words[-1]}"
            return
        assert words[0] == "run", "no check for this docker command"
        given, rest = parse(
            words[1:],
            {"--rm": False, "-e": True, "--env": True, "-v": True},
            "`docker run`",
            stop_at_positional=True,
        )
        for name in (
            value.partition("=")[0] for option, value in given.items() if option in {"-e", "--env"}
        ):
            self.check_variable(name)
        if rest[1:]:
            self.cwd = Path("/")
            self.check(rest[1:])
            self.cwd = ROOT


# --- definitions and configs -------------------------------------------------------------------


@cache
def local_definitions() -> dg.Definitions:
    return defs()


@cache
def every_job() -> dict[str, dg.JobDefinition]:
    """Local jobs and production's (the sweeper lives only there)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", settings.PRODUCTION_DEPLOYMENT_NAME)
        production = {job.name: job for job in defs().resolve_all_job_defs()}
    return production | {job.name: job for job in local_definitions().resolve_all_job_defs()}


def assets_job(selection: str) -> dg.JobDefinition:
    """A job of the assets ``selection`` picks (``dg launch --assets``'s parsing)."""
    chosen = dg.AssetSelection.from_coercible(selection.split(","))
    assert chosen.resolve(local_definitions().resolve_asset_graph()), (
        f"{selection!r} selects no asset"
    )
    job = dg.define_asset_job("docs_selection", chosen)
    return dg.Definitions.merge(local_definitions(), dg.Definitions(jobs=[job])).resolve_job_def(
        job.name
    )


def launched_job(given: dict[str, str]) -> dg.JobDefinition:
    if "--assets" in given:
        return assets_job(given["--assets"])
    jobs = {job.name: job for job in local_definitions().resolve_all_job_defs()}
    assert given.get("--job") in jobs, (
        f"no local job {given.get('--job')} (jobs: {', '.join(sorted(jobs))})"
    )
    return jobs[given["--job"]]


def check_run_config(job: dg.JobDefinition, run_config: Any) -> None:
    """``run_config`` is valid for ``job``; the secrets a deployment sets (its resources'
    ``dg.EnvVar``s) stand in."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        while True:
            try:
                dg.validate_run_config(job, run_config)
                return
            except dg.DagsterInvalidConfigError as error:
                unset = set(
                    re.findall(r'environment variable "(\w+)" which is not set', str(error))
                )
                assert unset and not unset & set(os.environ), (
                    f"run config invalid for {job.name}: {error}"
                )
                for name in unset:
                    monkeypatch.setenv(name, "set-by-the-deployment")


def check_config(document: Any) -> None:
    assert isinstance(document, dict), "not a mapping"
    if "ops" in document:  # run config: of the job running these ops, or of their assets
        ops = set(document["ops"])
        job = next(
            (job for job in every_job().values() if ops <= {node.name for node in job.graph.nodes}),
            None,
        )
        by_op = {
            "__".join(key.path): key
            for key in local_definitions().resolve_asset_graph().get_all_asset_keys()
        }
        if job is None and ops <= set(by_op):
            job = assets_job(",".join("/".join(by_op[op].path) for op in ops))
        assert job is not None, f"no job runs the ops {sorted(ops)}"
        check_run_config(job, document)
    elif "models" in document:  # dbt properties: meta.dagster by the translator's rules
        for model in document["models"]:
            meta = (model.get("config") or {}).get("meta") or model.get("meta") or {}
            automation.automation_condition_for(
                {"unique_id": f"model.{PACKAGE}.{model['name']}"}, meta
            )
    elif "branch_deployment_tag_concurrency_limits" in document:  # Dagster+ as dagster.yaml
        local = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["runs"]
        assert (
            document["branch_deployment_tag_concurrency_limits"] == local["tag_concurrency_limits"]
        ), "differs from dagster.yaml"
    elif "type" in document and "attributes" in document:  # a component's defs.yaml, as it is
        declared = [
            yaml.safe_load(path.read_text())
            for path in (ROOT / "src" / PACKAGE / "defs").rglob("defs.yaml")
        ]
        assert document in declared, "no defs.yaml under defs/ declares this component so"
    elif all(isinstance(target, dict) and "type" in target for target in document.values()):
        check_dbt_targets(document)
    else:
        raise AssertionError(
            "no check for this config: add one, or list the block in NOT_CHECKED_HERE"
        )


def check_dbt_targets(targets: dict[str, Any]) -> None:
    """dbt targets: profiles.yml's, with its settings kept (what they add: dbt-duckdb's attach)."""
    profiles = yaml.safe_load((ROOT / "dbt_project" / "profiles.yml").read_text())
    outputs = {
        name: target
        for profile in profiles.values()
        for name, target in profile.get("outputs", {}).items()
    }
    for name, target in targets.items():
        assert name in outputs, f"profiles.yml has no target {name}"
        # `attach` is what the snippet shows how to add: a project may already attach others.
        changed = [
            key
            for key, value in outputs[name].items()
            if key in target and key != "attach" and target[key] != value
        ]
        assert not changed, f"target {name} changes profiles.yml's {changed}"
        assert all({"path", "alias"} <= set(attached) for attached in target.get("attach", [])), (
            "attach needs path and alias"
        )


def check_layout(text: str) -> None:
    """Every path the README's layout lists exists (the example's until `make remove-example`
    deletes the Makefile's EXAMPLE)."""
    example = re.search(r"^EXAMPLE :=((?:.*\\\n)*.*)", (ROOT / "Makefile").read_text(), re.M)
    removed = (
        set(example[1].replace("\\\n", " ").replace("$(PACKAGE)", PACKAGE).split())
        if example
        else set()
    )
    parents: list[tuple[int, str]] = []
    for line in filter(str.strip, text.splitlines()):
        indent, entry = len(line) - len(line.lstrip()), line.split()[0]
        parents = [(level, name) for level, name in parents if level < indent]
        path = "".join(name for _, name in parents) + entry
        if entry.endswith("/"):
            parents.append((indent, entry))
        assert (ROOT / path).exists() or path.rstrip("/") in removed, (
            f"lists {path}, which does not exist"
        )


# --- the tests ---------------------------------------------------------------------------------

BLOCKS = blocks()


def test_every_listed_block_is_there() -> None:
    """NOT_CHECKED_HERE names only blocks the documents have."""
    assert len(BLOCKS) >= 10
    for document, start in NOT_CHECKED_HERE:
        assert any(
            block.document.name == document and block.first_line.startswith(start)
            for block in BLOCKS
        ), (document, start)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_works_here(block: Block) -> None:
    if block.not_checked_because:
        return
    if block.language in {"bash", "sh", "shell"}:
        Checker(block).check_block()
        return
    try:
        if block.language in {"yaml", "yml"}:
            check_config(yaml.safe_load(block.text))
        elif block.language == "json":
            check_config(json.loads(block.text))
        elif (
            block.language == ""
            and block.document.name == "README.md"
            and block.first_line.startswith("src/")
        ):
            check_layout(block.text)
        else:
            raise AssertionError("no check for this block: add one, or list it in NOT_CHECKED_HERE")
    except (AssertionError, ValueError, yaml.YAMLError) as problem:
        pytest.fail(f"{block.name}\n  {problem}", pytrace=False)


def anchor(heading: str) -> str:
    """The anchor GitHub and GitLab give a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=[document.name for document in DOCUMENTS])
def test_links_resolve(document: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", document.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.exists(), f"{document.name}: {target}: no such file"
        if fragment and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", FENCE.sub("", linked.read_text()), re.M)
            assert fragment in {anchor(heading) for heading in headings}, (
                f"{document.name}: {target}: no such heading"
            )
