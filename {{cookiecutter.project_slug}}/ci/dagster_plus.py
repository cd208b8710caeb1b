"""Dagster+ steps of this project's CI that must fail when Dagster+ says they failed.

The CI files (`.github/workflows/ci.yml` or `.gitlab-ci.yml`) call this script after
`dg plus deploy`. It needs only the Dagster+ CLI package (`dagster-cloud-cli`, already in the
project's environment; the close job installs just that), and reads everything from the
environment CI sets (see docs/branch-deployments.md):

    python ci/dagster_plus.py branch-deployment [--output FILE]
        Print this pull/merge request's branch deployment and its URL; exit 1 if there is none.
    python ci/dagster_plus.py launch JOB [--skip-without-branch-deployment] [--output FILE]
                                         [--keep-clone-unless LABEL]
        Launch JOB in the branch deployment, wait, print the run's id and URL, and exit 0 only
        if the run succeeded. With --keep-clone-unless (clone_prod only), the run keeps the pull
        request's existing clone unless a fresh one is asked for: the pull request was just
        opened or reopened (GitHub), carries LABEL, or FRESH_CLONE=1 is set (GitLab's manual job).
    python ci/dagster_plus.py close
        Mark the branch deployment MERGED or CLOSED (nothing to do if there is none).
    python ci/dagster_plus.py comment
        Post or update one comment on the pull/merge request with the links (no Dagster+ call).
    python ci/dagster_plus.py only-change-request
        Exit 1 with one line when another open pull/merge request has the same head branch:
        Dagster+ keys a branch deployment (and so its clone) on repository and branch, so two
        would share one and closing either would drop the other's clone.
    python ci/dagster_plus.py dbt-state fetch --output FILE | publish --file FILE
        Download (branch deploys) or upload (production) the production dbt manifest, stored in
        Dagster+ under a key that does not depend on the runner's checkout path.
    python ci/dagster_plus.py set-image --image REGISTRY@sha256:DIGEST --registry REGISTRY
        Record a pushed image, by digest, as the build output of `dg plus deploy start`'s session,
        so `dg plus deploy finish` deploys exactly those bytes (a tag can be pushed over later).

None of these import the project or run its code: CI runs them with only the pinned Dagster+ CLI
(`uv run --no-project --with dagster-cloud-cli==...`), in jobs that hold Dagster+ or registry
credentials and never run `make install`, the tests or a build (docs/security.md).

Why not `dagster-cloud job launch --wait`: in the pinned CLI it prints "Error: Run ... failed"
and still exits 0, so a failed `clone_prod` or `drop_prod_clone` would leave CI green. And
`dagster-cloud ci branch-deployment --read-only` raises a traceback when there is no branch
deployment, and `--mark-closed` marks merged pull requests CLOSED.

`--output FILE` appends `KEY=value` lines (`DAGSTER_PLUS_DEPLOYMENT`,
`DAGSTER_PLUS_DEPLOYMENT_URL`, `DAGSTER_PLUS_RUN_ID`, `DAGSTER_PLUS_RUN_URL`,
`DAGSTER_PLUS_RUN_STATUS`): a GitHub step output file or a GitLab dotenv report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TERMINAL_RUN_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
# The repository a code location serves: dg code locations hold a single `__repository__`.
REPOSITORY_NAME = "__repository__"
# Marks the one comment this script keeps up to date on a pull/merge request.
COMMENT_MARKER = "<!-- dagster-plus-branch-deployment -->"
GET_BRANCH_DEPLOYMENT_NAME = """
query CliGetBranchDeploymentName($repoName: String!, $branchName: String!) {
    getBranchDeploymentName(repoName: $repoName, branchName: $branchName)
}
"""


class CiError(Exception):
    """A failure explained in one line; the script prints it and exits 1."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise CiError(f"{name} is not set (see docs/branch-deployments.md)")
    return value


def provider() -> str:
    """`github` or `gitlab`, detected the way the Dagster+ CLI does (its metrics.get_source)."""
    if os.environ.get("GITHUB_ACTION"):
        return "github"
    if os.environ.get("GITLAB_CI"):
        return "gitlab"
    raise CiError(
        "not running in GitHub Actions or GitLab CI (neither GITHUB_ACTION nor GITLAB_CI set)"
    )


def dagster_plus_url() -> str:
    return require_env("DAGSTER_CLOUD_URL").rstrip("/")


def write_outputs(path: str | None, values: Mapping[str, str]) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for key, value in values.items():
            out.write(f"{key}={value}\n")


# --- the pull/merge request this CI run is about ---------------------------------------------


@dataclass(frozen=True)
class ChangeRequest:
    """What Dagster+ keys a branch deployment on, read with the Dagster+ CLI's own CI readers
    (so the names match the ones `dg plus deploy start` used)."""

    repo_name: str
    branch_name: str
    commit_hash: str
    timestamp: float
    number: str
    url: str
    branch_url: str
    author_name: str
    author_email: str
    commit_message: str
    status: str  # OPEN, CLOSED or MERGED as far as the CI event tells


def change_request(project_dir: str) -> ChangeRequest:
    if provider() == "github":
        from dagster_cloud_cli.core.pex_builder.github_context import get_github_event

        event = get_github_event(project_dir)
        if not event.branch_name or not event.pull_request_id:
            raise CiError("this GitHub event is not a pull request: no branch deployment")
        return ChangeRequest(
            repo_name=event.repo_name,
            branch_name=event.branch_name,
            commit_hash=event.github_sha,
            timestamp=event.timestamp,
            number=event.pull_request_id,
            url=event.pull_request_url or "",
            branch_url=event.branch_url or "",
            author_name=event.author_name,
            author_email=event.author_email,
            commit_message=event.commit_msg,
            status=event.pull_request_status or "OPEN",
        )
    from dagster_cloud_cli.core.pex_builder.gitlab_context import get_gitlab_event

    gitlab = get_gitlab_event(project_dir)
    if not gitlab.merge_request_iid:
        raise CiError("this GitLab pipeline is not a merge request pipeline: no branch deployment")
    return ChangeRequest(
        repo_name=gitlab.project_name,
        branch_name=gitlab.branch_name,
        commit_hash=gitlab.commit_sha,
        timestamp=float(gitlab.git_metadata.timestamp or 0),
        number=gitlab.merge_request_iid,
        url=gitlab.merge_request_url or "",
        branch_url=gitlab.branch_url,
        author_name=gitlab.git_metadata.name,
        author_email=gitlab.git_metadata.email,
        commit_message=gitlab.git_metadata.message,
        status="OPEN",
    )


# --- Dagster+ ----------------------------------------------------------------------------------


def graphql(url: str, deployment: str | None = None) -> Any:
    """The pinned CLI's GraphQL client (retries, headers) for the organization or a deployment."""
    from dagster_cloud_cli import gql

    target = f"{url}/{deployment}" if deployment else url
    return gql.graphql_client_from_url(
        target, require_env("DAGSTER_CLOUD_API_TOKEN"), deployment_name=deployment
    )


def find_branch_deployment(request: ChangeRequest) -> str | None:
    """The branch deployment's name, None when Dagster+ has none; errors reaching it raise."""
    url = dagster_plus_url()
    try:
        with graphql(url) as client:
            result = client.execute(
                GET_BRANCH_DEPLOYMENT_NAME,
                variable_values={"repoName": request.repo_name, "branchName": request.branch_name},
            )
    except Exception as error:  # the CLI raises its own error types for HTTP and GraphQL errors
        raise CiError(
            f"could not ask Dagster+ ({url}) for the branch deployment: {error}"
        ) from error
    name = (result.get("data") or {}).get("getBranchDeploymentName")
    return str(name) if name else None


def missing_branch_deployment(request: ChangeRequest) -> str:
    return (
        f"no Dagster+ branch deployment for {request.repo_name} branch {request.branch_name!r}: "
        "the branch deploy job creates it (did it run and succeed?)"
    )


def launch_and_wait(
    deployment: str,
    job: str,
    interval: float,
    timeout: float,
    run_config: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """Launch ``job`` and poll until it ends; returns (run id, final status)."""
    from dagster_cloud_cli import gql

    url = dagster_plus_url()
    location = require_env("CODE_LOCATION")
    try:
        with graphql(url, deployment) as client:
            run_id = str(
                gql.launch_run(
                    client,
                    location,
                    REPOSITORY_NAME,
                    job,
                    {},
                    dict(run_config or {}),
                    asset_keys=None,
                )
            )
    except Exception as error:
        raise CiError(
            f"could not launch {job} in {deployment} (location {location}): {error}"
        ) from error
    print(f"Launched {job} in {deployment}: run {run_id}", flush=True)
    print(f"  {run_url(deployment, run_id)}", flush=True)

    deadline = time.monotonic() + timeout
    status = "UNKNOWN"
    failures = 0
    while True:
        time.sleep(interval)
        try:
            with graphql(url, deployment) as client:
                status = str(gql.run_status(client, run_id))
            failures = 0
        except Exception as error:  # keep polling through a few transient errors
            failures += 1
            print(f"Could not read the status of run {run_id} ({error})", flush=True)
            if failures >= 5:
                return run_id, "UNKNOWN"
        if status in TERMINAL_RUN_STATUSES:
            return run_id, status
        if time.monotonic() > deadline:
            print(
                f"Run {run_id} still {status} after {timeout:.0f} s: giving up waiting", flush=True
            )
            return run_id, status
        print(f"Run {run_id} is {status}...", flush=True)


def run_url(deployment: str, run_id: str) -> str:
    return f"{dagster_plus_url()}/{deployment}/runs/{run_id}"


def deployment_url(deployment: str) -> str:
    return f"{dagster_plus_url()}/{deployment}"


def mark_branch_deployment(request: ChangeRequest, status: str) -> str:
    from dagster_cloud_cli import gql

    with graphql(dagster_plus_url()) as client:
        return str(
            gql.create_or_update_branch_deployment(
                client,
                repo_name=request.repo_name,
                branch_name=request.branch_name,
                commit_hash=request.commit_hash,
                timestamp=request.timestamp,
                branch_url=request.branch_url or None,
                pull_request_url=request.url or None,
                pull_request_status=status,
                pull_request_number=request.number,
                author_name=request.author_name or None,
                author_email=request.author_email or None,
                commit_message=request.commit_message or None,
                base_deployment_name=os.environ.get("DAGSTER_CLOUD_DEPLOYMENT") or None,
            )
        )


# --- MERGED or CLOSED --------------------------------------------------------------------------


def closed_status(request: ChangeRequest, project_dir: str) -> str:
    """MERGED or CLOSED: GitHub's event says it; GitLab's API says it when GITLAB_API_TOKEN is
    set; otherwise git does (the merge request's head commit is on the default branch)."""
    if provider() == "github":
        if request.status not in ("MERGED", "CLOSED"):
            raise CiError(f"pull request #{request.number} is {request.status}, not closed")
        return request.status
    state = gitlab_merge_request_state()
    if state is not None:
        return "MERGED" if state == "merged" else "CLOSED"
    return "MERGED" if merged_per_git(project_dir) else "CLOSED"


def merged_per_git(project_dir: str) -> bool:
    default_branch = require_env("CI_DEFAULT_BRANCH")
    head = os.environ.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or require_env("CI_COMMIT_SHA")
    fetch = subprocess.run(
        ["git", "-C", project_dir, "fetch", "--quiet", "--depth=200", "origin", default_branch],
        capture_output=True,
        text=True,
        check=False,
    )
    if fetch.returncode != 0:
        print(
            f"Could not fetch {default_branch} to tell merged from closed: {fetch.stderr.strip()}"
        )
        return False
    ancestor = subprocess.run(
        ["git", "-C", project_dir, "merge-base", "--is-ancestor", head, "FETCH_HEAD"], check=False
    )
    return ancestor.returncode == 0


# --- code hosts (standard library only: the comment job installs nothing) ---------------------


def http_json(method: str, url: str, headers: Mapping[str, str], body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise CiError(f"{method} {url} answered {error.code}: {error.read()[:300]!r}") from error
    except urllib.error.URLError as error:
        raise CiError(f"{method} {url} failed: {error.reason}") from error


def github_api() -> tuple[str, dict[str, str]]:
    """This repository's REST API URL and the headers that authenticate as the job."""
    repository = (
        f"{require_env('GITHUB_API_URL').rstrip('/')}/repos/{require_env('GITHUB_REPOSITORY')}"
    )
    headers = {
        "Authorization": f"Bearer {require_env('GITHUB_TOKEN')}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    return repository, headers


def gitlab_api() -> tuple[str, dict[str, str]] | None:
    """Base URL and headers for this merge request, or None without GITLAB_API_TOKEN."""
    token = os.environ.get("GITLAB_API_TOKEN", "").strip()
    if not token:
        return None
    base = (
        f"{require_env('CI_API_V4_URL').rstrip('/')}/projects/{require_env('CI_PROJECT_ID')}"
        f"/merge_requests/{require_env('CI_MERGE_REQUEST_IID')}"
    )
    return base, {"PRIVATE-TOKEN": token}


def gitlab_merge_request_state() -> str | None:
    api = gitlab_api()
    if api is None:
        return None
    base, headers = api
    return str(http_json("GET", base, headers)["state"])


def upsert_comment(
    comments_url: str,
    edit_url: Callable[[int], str],
    edit_method: str,
    headers: Mapping[str, str],
    body: str,
) -> str:
    """Edit this script's earlier comment if there is one (first 100 comments), else add one."""
    existing = http_json("GET", f"{comments_url}?per_page=100", headers) or []
    for comment in existing:
        if COMMENT_MARKER in str(comment.get("body", "")):
            http_json(edit_method, edit_url(int(comment["id"])), headers, {"body": body})
            return "updated"
    http_json("POST", comments_url, headers, {"body": body})
    return "added"


def comment_body(values: Mapping[str, str], commit: str, ci_url: str) -> str:
    deployment = values.get("DAGSTER_PLUS_DEPLOYMENT", "")
    lines = [
        COMMENT_MARKER,
        "### Dagster+ branch deployment",
        "",
        f"- Deployment: [`{deployment}`]({values.get('DAGSTER_PLUS_DEPLOYMENT_URL', '')})",
        f"- Commit: `{commit[:12]}`",
    ]
    if values.get("DAGSTER_PLUS_RUN_ID"):
        lines.append(
            f"- `clone_prod`: **{values.get('DAGSTER_PLUS_RUN_STATUS', 'UNKNOWN')}**"
            f" ([run `{values['DAGSTER_PLUS_RUN_ID'][:8]}`]({values.get('DAGSTER_PLUS_RUN_URL', '')}))"
        )
    else:
        lines.append("- `clone_prod`: not launched (see the CI log)")
    lines += ["", f"Updated by [CI]({ci_url})."]
    return "\n".join(lines) + "\n"


OUTPUT_KEYS = (
    "DAGSTER_PLUS_DEPLOYMENT",
    "DAGSTER_PLUS_DEPLOYMENT_URL",
    "DAGSTER_PLUS_RUN_ID",
    "DAGSTER_PLUS_RUN_URL",
    "DAGSTER_PLUS_RUN_STATUS",
)


def read_values(path: str | None) -> dict[str, str]:
    """The --output values from the environment, overridden by a KEY=value file if given."""
    values = {key: os.environ[key] for key in OUTPUT_KEYS if os.environ.get(key)}
    if path and Path(path).exists():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key in OUTPUT_KEYS and value:
                values[key] = value
    return values


# --- clone lifecycle ---------------------------------------------------------------------------

CLONE_OP = "clone_production_database"


def fresh_clone_reason(label: str) -> str | None:
    """Why this CI run asks for a fresh clone, or None to keep the existing one."""
    if os.environ.get("FRESH_CLONE", "").strip() == "1":
        return "FRESH_CLONE=1"
    if provider() == "github":
        event = json.loads(Path(require_env("GITHUB_EVENT_PATH")).read_text(encoding="utf-8"))
        action = str(event.get("action", ""))
        if action in ("opened", "reopened"):
            return f"the pull request was {action}"
        labels = {str(item.get("name")) for item in event.get("pull_request", {}).get("labels", [])}
    else:
        labels = {name.strip() for name in os.environ.get("CI_MERGE_REQUEST_LABELS", "").split(",")}
    if label in labels:
        return f"it carries the label {label!r}"
    return None


def clone_run_config(label: str | None) -> dict[str, Any]:
    """clone_prod's run config: keep the existing clone unless a fresh one is asked for."""
    if label is None:
        return {}
    reason = fresh_clone_reason(label)
    print(
        f"Fresh clone: {reason}." if reason else f"Keeping the existing clone (no {label!r} label)."
    )
    return {"ops": {CLONE_OP: {"config": {"keep_existing": reason is None}}}}


# --- one change request per branch deployment ----------------------------------------------------


def other_open_change_requests(request: ChangeRequest) -> list[str]:
    """Other open pull/merge requests whose head is this one's branch (same repository)."""
    if provider() == "github":
        repo, headers = github_api()
        owner = require_env("GITHUB_REPOSITORY").split("/")[0]
        query = urllib.parse.urlencode(
            {"state": "open", "head": f"{owner}:{request.branch_name}", "per_page": "100"}
        )
        pulls = http_json("GET", f"{repo}/pulls?{query}", headers) or []
        return [f"#{pull['number']}" for pull in pulls if str(pull["number"]) != request.number]
    # GitLab lists the branch's open merge requests itself (`path!iid`, at most four).
    listed = os.environ.get("CI_OPEN_MERGE_REQUESTS", "")
    references = [item.strip() for item in listed.split(",") if item.strip()]
    return [ref for ref in references if ref.rpartition("!")[2] != request.number]


def shared_branch_message(request: ChangeRequest, others: list[str]) -> str:
    return (
        f"branch {request.branch_name!r} is the head of other open pull/merge requests too "
        f"({', '.join(others)}); Dagster+ keys branch deployments on the branch, so they would "
        "share one branch deployment and clone: open one request per branch"
    )


# --- dbt state and images --------------------------------------------------------------------------


def dbt_state_key() -> str:
    """The manifest's artifact key: per code location, never a runner's absolute path (GitLab
    runners check out under different folders, so a path-derived key would not be found)."""
    return f"dbt-state/{require_env('CODE_LOCATION')}/manifest.json"


def artifact_call(action: str, path: Path) -> None:
    from dagster_cloud_cli.core import artifacts
    from dagster_cloud_cli.core.headers.auth import DagsterCloudInstanceScope

    call = artifacts.upload_artifact if action == "publish" else artifacts.download_artifact
    try:
        call(
            url=dagster_plus_url(),
            api_token=require_env("DAGSTER_CLOUD_API_TOKEN"),
            scope=DagsterCloudInstanceScope.ORGANIZATION,
            key=dbt_state_key(),
            path=path,
        )
    except CiError:
        raise
    except Exception as error:  # requests' HTTP errors, a missing file
        raise CiError(f"dbt state {action} ({dbt_state_key()}) failed: {error}") from error


# Digest-pinned (`repository@sha256:<64 hex>`, as `docker inspect`'s RepoDigests print it): the
# agent pulls exactly the bytes CI pushed, whatever is pushed over a tag afterwards.
IMAGE_BY_DIGEST = re.compile(r"^(?P<repository>[^\s@]+)@sha256:[0-9a-f]{64}$")


def statedir() -> Path:
    """Where `dg plus deploy start` keeps its session: the pinned dg CLI's default, which is
    /tmp on Unix whatever TMPDIR says (dagster_shared's get_system_temp_directory)."""
    import tempfile

    temp = tempfile.gettempdir() if sys.platform == "win32" else "/tmp"
    return Path(os.environ.get("DAGSTER_BUILD_STATEDIR") or Path(temp) / "dg-build-state")


def record_image(image: str, registry: str) -> list[str]:
    match = IMAGE_BY_DIGEST.match(image)
    if match is None:
        raise CiError(f"{image!r} is not pinned by digest (expected REGISTRY@sha256:<64 hex>)")
    if match.group("repository") != registry.rstrip("/"):
        raise CiError(f"{image!r} is not in the registry this job may deploy from ({registry})")
    from dagster_cloud_cli.commands.ci import state

    store = state.FileStore(statedir=str(statedir()))
    locations = store.list_selected_locations() if statedir().is_dir() else []
    if not locations:
        raise CiError(f"no deploy session in {statedir()}: run `dg plus deploy start` first")
    for location in locations:
        location.build_output = state.DockerBuildOutput(image=image)
        store.save(location)
    return [location.location_name for location in locations]


# --- commands ----------------------------------------------------------------------------------


def cmd_only_change_request(args: argparse.Namespace) -> int:
    request = change_request(args.project_dir)
    others = other_open_change_requests(request)
    if others:
        raise CiError(shared_branch_message(request, others))
    print(f"Branch {request.branch_name!r} has one open request ({request.number}).")
    return 0


def cmd_dbt_state(args: argparse.Namespace) -> int:
    if args.action == "publish":
        path = Path(args.file)
        if not path.is_file():
            raise CiError(f"{path} does not exist: nothing to publish")
        artifact_call("publish", path)
        print(f"Published {path} as {dbt_state_key()}.")
        return 0
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        artifact_call("fetch", path)
    except CiError as error:
        # Before the first production deploy there is none: a warning, the deploy goes on.
        print(f"No production dbt state yet ({error}); dbt_slim_branch_build fails until there is.")
        return 0
    print(f"Fetched production's dbt state into {path}.")
    return 0


def cmd_set_image(args: argparse.Namespace) -> int:
    for name in record_image(args.image, args.registry):
        print(f"Location {name} deploys {args.image}.")
    return 0


def cmd_branch_deployment(args: argparse.Namespace) -> int:
    request = change_request(args.project_dir)
    name = find_branch_deployment(request)
    if name is None:
        raise CiError(missing_branch_deployment(request))
    print(f"Branch deployment {name}: {deployment_url(name)}")
    write_outputs(
        args.output,
        {"DAGSTER_PLUS_DEPLOYMENT": name, "DAGSTER_PLUS_DEPLOYMENT_URL": deployment_url(name)},
    )
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    request = change_request(args.project_dir)
    if args.job == "drop_prod_clone" and (others := other_open_change_requests(request)):
        # Closing one request must not drop the clone another open one still uses.
        print(f"Not dropping the clone: {shared_branch_message(request, others)}.")
        return 0
    deployment = find_branch_deployment(request)
    if deployment is None:
        if args.skip_without_branch_deployment:
            print(f"Nothing to do for {args.job}: {missing_branch_deployment(request)}")
            return 0
        raise CiError(missing_branch_deployment(request))
    run_config = clone_run_config(args.keep_clone_unless)
    run_id, status = launch_and_wait(deployment, args.job, args.interval, args.timeout, run_config)
    write_outputs(
        args.output,
        {
            "DAGSTER_PLUS_RUN_ID": run_id,
            "DAGSTER_PLUS_RUN_URL": run_url(deployment, run_id),
            "DAGSTER_PLUS_RUN_STATUS": status,
        },
    )
    if status != "SUCCESS":
        raise CiError(f"{args.job} run {run_id} ended {status}: {run_url(deployment, run_id)}")
    print(f"{args.job} run {run_id} succeeded.")
    return 0


def cmd_close(args: argparse.Namespace) -> int:
    request = change_request(args.project_dir)
    if others := other_open_change_requests(request):
        print(f"Not closing the branch deployment: {shared_branch_message(request, others)}.")
        return 0
    if find_branch_deployment(request) is None:
        print(f"Nothing to close: {missing_branch_deployment(request)}")
        return 0
    status = closed_status(request, args.project_dir)
    name = mark_branch_deployment(request, status)
    print(f"Marked branch deployment {name} {status}.")
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    values = read_values(args.values)
    if not values.get("DAGSTER_PLUS_DEPLOYMENT"):
        raise CiError(
            "no DAGSTER_PLUS_DEPLOYMENT value: the branch deploy job did not get that far"
        )
    if provider() == "github":
        event = json.loads(Path(require_env("GITHUB_EVENT_PATH")).read_text(encoding="utf-8"))
        number = event["pull_request"]["number"]
        repo, headers = github_api()
        ci_url = f"{require_env('GITHUB_SERVER_URL')}/{require_env('GITHUB_REPOSITORY')}/actions/runs/{require_env('GITHUB_RUN_ID')}"
        body = comment_body(values, event["pull_request"]["head"]["sha"], ci_url)
        comments = f"{repo}/issues/{number}/comments"
        done = upsert_comment(
            comments, lambda i: f"{repo}/issues/comments/{i}", "PATCH", headers, body
        )
        print(f"Pull request #{number}: comment {done}.")
        return 0
    api = gitlab_api()
    if api is None:
        print(
            "GITLAB_API_TOKEN is not set: the merge request shows the link as the environment's URL."
        )
        return 0
    base, headers = api
    body = comment_body(values, require_env("CI_COMMIT_SHA"), require_env("CI_JOB_URL"))
    notes = f"{base}/notes"
    done = upsert_comment(notes, lambda i: f"{notes}/{i}", "PUT", headers, body)
    print(f"Merge request !{require_env('CI_MERGE_REQUEST_IID')}: note {done}.")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    main.add_argument("--project-dir", default=".", help="the checkout (default: current folder)")
    commands = main.add_subparsers(dest="command", required=True)

    lookup = commands.add_parser(
        "branch-deployment", help="print the branch deployment; fail if none"
    )
    lookup.add_argument("--output", help="append KEY=value lines to this file")
    lookup.set_defaults(func=cmd_branch_deployment)

    launch = commands.add_parser("launch", help="launch a job in the branch deployment and wait")
    launch.add_argument("job")
    launch.add_argument("--skip-without-branch-deployment", action="store_true")
    launch.add_argument(
        "--keep-clone-unless",
        metavar="LABEL",
        help="clone_prod: keep the existing clone unless opened/reopened, LABEL or FRESH_CLONE=1",
    )
    launch.add_argument("--output", help="append KEY=value lines to this file")
    launch.add_argument(
        "--interval", type=float, default=float(os.environ.get("DAGSTER_PLUS_POLL_SECONDS", "15"))
    )
    launch.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the run")
    launch.set_defaults(func=cmd_launch)

    close = commands.add_parser("close", help="mark the branch deployment MERGED or CLOSED")
    close.set_defaults(func=cmd_close)

    only = commands.add_parser(
        "only-change-request", help="fail if another open request has the same head branch"
    )
    only.set_defaults(func=cmd_only_change_request)

    dbt_state = commands.add_parser("dbt-state", help="fetch or publish production's dbt manifest")
    state_actions = dbt_state.add_subparsers(dest="action", required=True)
    fetch = state_actions.add_parser("fetch", help="download it (branch deploys)")
    fetch.add_argument("--output", required=True, help="where to write manifest.json")
    publish = state_actions.add_parser("publish", help="upload it (production deploys)")
    publish.add_argument("--file", required=True, help="the deployed manifest.json")
    dbt_state.set_defaults(func=cmd_dbt_state)

    set_image = commands.add_parser("set-image", help="deploy an image by digest in this session")
    set_image.add_argument("--image", required=True, help="REGISTRY@sha256:DIGEST")
    set_image.add_argument("--registry", required=True, help="the registry the image must be in")
    set_image.set_defaults(func=cmd_set_image)

    comment = commands.add_parser("comment", help="comment the links on the pull/merge request")
    comment.add_argument("--values", help="KEY=value file written by --output")
    comment.set_defaults(func=cmd_comment)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
