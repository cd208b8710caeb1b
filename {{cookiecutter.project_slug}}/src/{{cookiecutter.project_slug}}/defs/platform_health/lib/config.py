"""Where platform health reads BI reports and proposes changes: environment variables, read at
run time only (definitions load with none of them set).

==========================  ====================================================================
variable                    meaning
==========================  ====================================================================
SUPERSET_URL                Superset's base URL (bi_tool=superset)
SUPERSET_USERNAME/PASSWORD  a Superset user allowed to read everything and its logs
SUPERSET_AUTH_PROVIDER      ``db`` (default) or ``ldap``
MODE_WORKSPACE              the Mode workspace (bi_tool=mode)
MODE_API_TOKEN/SECRET       a Mode API key
MODE_URL                    default https://app.mode.com
GITHUB_TOKEN                set: open pull requests (GitHub projects); unset: dry run
GITHUB_REPOSITORY           ``owner/name``
GITHUB_API_URL              default https://api.github.com (GitHub Enterprise: its API URL)
GITLAB_TOKEN                set: open merge requests (GitLab projects); unset: dry run
GITLAB_PROJECT              ``group/project``
GITLAB_URL                  default https://gitlab.com
PLATFORM_HEALTH_DBT_PATH    the dbt project's folder in the repository (default ``dbt_project``)
==========================  ====================================================================
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .change_requests import ChangeRequestError, CodeHost
from .model import BIAdapter, BIError, NoBIAdapter

# Each BI tool is one module of this package (its adapter and ``from_environment``), baked only
# into projects that chose it: `make add-feature FEATURE=platform_health BI_TOOL=...` adds one.
BI_TOOLS = ("none", "superset", "mode")
DEFAULT_DBT_PATH = "dbt_project"
# ci_provider -> (module of this package, class, token variable, repository variable, URL variable)
CODE_HOSTS = {
    "github": (
        "github_pull_requests",
        "GitHubPullRequests",
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
    ),
    "gitlab": (
        "gitlab_merge_requests",
        "GitLabMergeRequests",
        "GITLAB_TOKEN",
        "GITLAB_PROJECT",
        "GITLAB_URL",
    ),
}


def build_bi_adapter(tool: str, environ: Mapping[str, str]) -> BIAdapter:
    if tool == "none":
        return NoBIAdapter()
    if tool not in BI_TOOLS:
        raise BIError(f"bi_tool: {tool!r} is not one of: {', '.join(BI_TOOLS)}")
    try:
        module = importlib.import_module(f".{tool}", __package__)
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.{tool}":
            raise
        raise BIError(
            f"bi_tool: {tool!r} is not in this project; add it with "
            f"`make add-feature FEATURE=platform_health BI_TOOL={tool}`"
        ) from None
    adapter: BIAdapter = module.from_environment(environ)
    return adapter


def build_code_host(ci_provider: str, environ: Mapping[str, str]) -> CodeHost | None:
    """The project's code host, or None when its token is not set (proposals are dry runs)."""
    if ci_provider not in CODE_HOSTS:
        raise ChangeRequestError(f"ci_provider: {ci_provider!r} is not one of: github, gitlab")
    module_name, class_name, token_name, target_name, url_name = CODE_HOSTS[ci_provider]
    token = environ.get(token_name, "").strip()
    if not token:
        return None
    target = environ.get(target_name, "").strip()
    if not target:
        raise ChangeRequestError(f"{target_name} is not set: {token_name} is, so it is needed")
    module = importlib.import_module(f".{module_name}", __package__)
    options: dict[str, Any] = {}
    if environ.get(url_name, "").strip():
        options["api_url" if ci_provider == "github" else "url"] = environ[url_name].strip()
    host: CodeHost = getattr(module, class_name)(target, token, **options)
    return host


def dbt_path_in_repository(environ: Mapping[str, str]) -> str:
    return environ.get("PLATFORM_HEALTH_DBT_PATH", "").strip().strip("/") or DEFAULT_DBT_PATH
