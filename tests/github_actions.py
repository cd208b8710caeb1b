"""Just enough of GitHub Actions to run a workflow's own `run:` steps here (no runner, no Docker).

GitHub Actions cannot run on this machine (`act` needs Docker), so the tests read the parsed
workflow and do what the runner would do for the steps under test: evaluate `if:` and `${{ }}`
expressions against an event, export the workflow's, job's and step's `env`, write the event
payload to GITHUB_EVENT_PATH, and run each `run:` script with GitHub's default shell
(`bash --noprofile --norc -eo pipefail`). Step outputs written to GITHUB_OUTPUT become
`steps.<id>.outputs` and job outputs, as on GitHub.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\d+\])*))"
)
STATUS_FUNCTIONS = {"always", "success", "failure", "cancelled"}


def lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in re.findall(r"[\w\-]+", path):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class Value:
    """An expression value with GitHub's comparison rules: strings compare case-insensitively
    and null equals an empty string; '', 0 and null are false."""

    def __init__(self, value: Any) -> None:
        self.value = value.value if isinstance(value, Value) else value

    def _key(self) -> Any:
        if self.value is None:
            return ""
        return self.value.lower() if isinstance(self.value, str) else self.value

    def __eq__(self, other: object) -> bool:
        return self._key() == Value(other)._key()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __bool__(self) -> bool:
        return self.value not in (None, "", 0, False)

    def __str__(self) -> str:
        return _text(self.value)


def evaluate(expression: str, context: Mapping[str, Any], status: str = "success") -> Any:
    """Evaluate a GitHub Actions expression (the subset the workflows here use)."""
    tokens = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot parse expression {expression!r} at {text[position:]!r}")
        position = match.end()
        tokens.append(match)
    python: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.group("string") is not None:
            python.append(f"_V({token.group('string')[1:-1].replace(chr(39) * 2, chr(39))!r})")
        elif token.group("number") is not None:
            python.append(f"_V({token.group('number')})")
        elif token.group("op") is not None:
            python.append(
                {"&&": " and ", "||": " or ", "!": " not "}.get(token.group("op"), token.group("op"))
            )
        else:
            name = token.group("name")
            is_call = index + 1 < len(tokens) and tokens[index + 1].group("op") == "("
            if is_call and name in STATUS_FUNCTIONS:
                python.append(f"_V({name == 'always' or name == status})")
                index += 3  # name ( )
                continue
            if is_call:
                python.append(f"_fn_{name}")
            elif name in ("true", "false", "null"):
                python.append({"true": "_V(True)", "false": "_V(False)", "null": "_V(None)"}[name])
            else:
                python.append(f"_V(_get({name!r}))")
        index += 1
    namespace = {
        "_V": Value,
        "_get": lambda path: lookup(context, path),
        "_fn_format": lambda fmt, *args: Value(
            re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), str(fmt))
        ),
        "_fn_contains": lambda haystack, needle: Value(str(needle).lower() in str(haystack).lower()),
    }
    # `a && b || c` yields an operand's value in GitHub, as Python's and/or do.
    result = eval("".join(python), {"__builtins__": {}}, namespace)
    return result.value if isinstance(result, Value) else result


def substitute(value: Any, context: Mapping[str, Any]) -> str:
    """A string with every `${{ }}` replaced by its value (null becomes empty)."""
    text = str(value)
    return EXPRESSION.sub(lambda m: _text(evaluate(m.group(1), context)), text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def condition(value: Any, context: Mapping[str, Any], status: str = "success") -> bool:
    """Whether a job's or step's `if:` lets it run (no `if:` means success())."""
    if value is None:
        return status == "success"
    text = str(value).strip()
    match = EXPRESSION.fullmatch(text)
    if match:
        text = match.group(1)
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", text):
        text = f"success() && ({text})"
    return bool(evaluate(text, context, status))


def parse_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT's `name=value` lines (the heredoc form is not used here)."""
    outputs = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                outputs[key] = value
    return outputs


@dataclass
class StepResult:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)
    path_additions: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def github_event(
    *,
    event_name: str,
    action: str | None = None,
    repository: str = "acme/acme_data",
    head_repository: str | None = None,
    head_ref: str = "feature/better-marts",
    head_sha: str = "",
    number: int = 7,
    author: str = "octocat",
    merged: bool = False,
) -> dict[str, Any]:
    """A webhook payload with the fields workflows and the Dagster+ CLI read."""
    event: dict[str, Any] = {"repository": {"full_name": repository}}
    if event_name == "pull_request":
        event["action"] = action
        event["number"] = number
        event["pull_request"] = {
            "number": number,
            "html_url": f"https://github.com/{repository}/pull/{number}",
            "state": "closed" if action == "closed" else "open",
            "merged": merged,
            "user": {"login": author},
            "head": {"ref": head_ref, "sha": head_sha, "repo": {"full_name": head_repository or repository}},
            "base": {"ref": "main", "repo": {"full_name": repository}},
        }
    return event


def context_for(event_name: str, event: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "github": {
            "event_name": event_name,
            "event": event,
            "repository": event["repository"]["full_name"],
            "sha": (event.get("pull_request") or {}).get("head", {}).get("sha", "") or "0" * 40,
            "ref": "refs/heads/main" if event_name == "push" else f"refs/pull/{event.get('number')}/merge",
            "token": extra.pop("github_token", "github-token"),
            "actor": "octocat",
        },
        "secrets": extra.pop("secrets", {}),
        "needs": extra.pop("needs", {}),
        "steps": {},
        "env": {},
        **extra,
    }


def runner_env(context: Mapping[str, Any], workdir: Path, event: Mapping[str, Any]) -> dict[str, str]:
    """The default variables a GitHub-hosted runner sets (those the scripts and CLIs read)."""
    event_path = workdir / "event.json"
    event_path.write_text(json.dumps(event))
    github = context["github"]
    return {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION": "run",
        "GITHUB_EVENT_NAME": github["event_name"],
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": github["repository"],
        "GITHUB_SHA": github["sha"],
        "GITHUB_REF": github["ref"],
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_ACTOR": github["actor"],
        "GITHUB_WORKSPACE": str(workdir),
    }


def run_step(
    step: Mapping[str, Any],
    workflow: Mapping[str, Any],
    job: Mapping[str, Any],
    context: dict[str, Any],
    cwd: Path,
    base_env: Mapping[str, str],
    overrides: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> StepResult:
    """Run one `run:` step as the runner would, after the workflow/job/step env is resolved.

    ``overrides`` replaces resolved variables (e.g. DAGSTER_CLOUD_URL -> the local stand-in).
    Folders the step appends to GITHUB_PATH come back in ``path_additions`` (the caller puts
    them first on PATH for the next steps, as the runner does).
    """
    env = dict(base_env)
    for scope in (workflow.get("env") or {}, job.get("env") or {}, step.get("env") or {}):
        for key, value in scope.items():
            env[key] = substitute(value, {**context, "env": env})
    env.update(overrides or {})
    output_file = cwd.parent / f"github-output-{os.getpid()}-{id(step)}"
    output_file.write_text("")
    env["GITHUB_OUTPUT"] = str(output_file)
    path_file = cwd.parent / f"github-path-{os.getpid()}-{id(step)}"
    path_file.write_text("")
    env["GITHUB_PATH"] = str(path_file)
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    outputs = parse_outputs(output_file)
    output_file.unlink()
    path_additions = [line for line in path_file.read_text().splitlines() if line.strip()]
    path_file.unlink()
    if step.get("id"):
        context["steps"][step["id"]] = {"outputs": outputs}
    return StepResult(
        step.get("name", ""),
        completed.returncode,
        completed.stdout,
        completed.stderr,
        outputs,
        path_additions,
    )


def job_outputs(job: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, str]:
    return {key: substitute(value, context) for key, value in (job.get("outputs") or {}).items()}
