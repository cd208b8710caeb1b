"""A local HTTP stand-in for the hosted APIs the generated CI talks to: Dagster+, and the
comment APIs of GitHub and GitLab.

Nobody can run Dagster+ here, so this server answers exactly the requests the generated CI
commands send, with the shapes the pinned client code reads. It is modelled on the source of
``dagster-cloud-cli`` 1.13.27 (the version the template pins):

- ``dagster_cloud_cli/core/graphql_client.py``: every call is ``POST {url}/graphql`` with a JSON
  body ``{"query", "variables"}``; the token travels in ``Dagster-Cloud-Api-Token`` and the
  deployment either in the path (``{org url}/{deployment}/graphql``) or in the
  ``Dagster-Cloud-Deployment`` header; a body with ``errors`` is raised as an error.
- ``dagster_cloud_cli/gql.py``: the operation documents and the fields each caller reads
  (``createOrUpdateBranchDeployment``, ``getBranchDeploymentName``, ``launchRun``, ``runOrError``,
  ``deployLocations``, ``currentDeployment``, ``agents``, ``workspaceOrError``, ``serverless``,
  ``organizationSettings``, ``markCliEvent``).
- ``dagster_cloud_cli/core/pex_builder/pex_registry.py``: ``generateServerlessPexUrl`` hands out
  presigned URLs; the CLI then ``PUT``s each PEX file to its URL (S3 in real life, this server
  here) and ``GET``s cached-deps files, where 404 means "not cached".
- ``dagster_cloud_cli/commands/workspace/__init__.py`` (``wait_for_load``): a deploy waits for an
  agent with status ``RUNNING`` and for each location's ``loadStatus`` ``LOADED``.
- ``dagster_cloud_cli/commands/ci/checks.py``: ``dg plus deploy start`` first checks the
  connection with ``organizationSettings``.
- ``dagster_cloud_cli/core/artifacts.py`` (used by ``dg plus integrations dbt manage-manifest``):
  ``POST {url}/gen_artifact_post`` with ``{"key"}`` answers a presigned S3 form
  (``{"url", "fields"}``) the CLI then ``POST``s the file to as multipart form data;
  ``POST {url}/gen_artifact_get`` answers ``{"url"}``, which the CLI ``GET``s (S3 answers 404
  for a key nobody uploaded).

The code-host endpoints follow the providers' REST references (the same calls PyGithub's
``IssueComment`` and python-gitlab's ``ProjectMergeRequestNote`` make):
``GET/POST {GITHUB_API_URL}/repos/{owner}/{repo}/issues/{n}/comments``,
``PATCH {GITHUB_API_URL}/repos/{owner}/{repo}/issues/comments/{id}``,
``GET {CI_API_V4_URL}/projects/{id}/merge_requests/{iid}``,
``GET/POST {CI_API_V4_URL}/projects/{id}/merge_requests/{iid}/notes`` and
``PUT .../notes/{note_id}``, and the open pull requests of a head branch:
``GET {GITHUB_API_URL}/repos/{owner}/{repo}/pulls?state=open&head=owner:branch``.

Anything else is answered with a GraphQL error or a 404, so a CLI upgrade that sends a new
operation fails the tests loudly instead of passing against a guess.
"""

from __future__ import annotations

import email.policy
import itertools
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TERMINAL_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")
# The root field of each operation the pinned CLI sends; the first one found in a document wins.
ROOT_FIELD = re.compile(r"[{(]\s*(\w+)")


@dataclass
class BranchDeployment:
    name: str
    repo_name: str
    branch_name: str
    status: str | None
    pull_request_number: str | None
    commit_hash: str
    history: list[str] = field(default_factory=list)


@dataclass
class Run:
    run_id: str
    deployment: str
    location: str
    job: str
    outcome: str
    polls: int = 0


@dataclass
class Request:
    """One request as the server saw it (for assertions on who sent what, with which token)."""

    method: str
    path: str
    operation: str
    variables: dict[str, Any]
    token: str | None
    deployment: str | None


class DagsterPlusStandIn:
    """State and answers; serve it with :func:`serve`."""

    def __init__(
        self, token: str = "test-token", agent_type: str = "SERVERLESS", upload_dir: Path | None = None
    ) -> None:
        self.token = token
        # Where uploaded PEX files are kept (None: only their sizes are recorded).
        self.upload_dir = upload_dir
        self.agent_type = agent_type
        self.base_url = ""  # set by serve()
        self.requests: list[Request] = []
        self.branch_deployments: dict[tuple[str, str], BranchDeployment] = {}
        self.runs: dict[str, Run] = {}
        # Job name -> final status of its runs (anything not listed succeeds).
        self.run_outcomes: dict[str, str] = {}
        self.uploads: dict[str, int] = {}
        self.deployed_documents: list[dict[str, Any]] = []
        # Code hosts: comments/notes per (project, number) and merge request states per iid.
        self.comments: dict[str, list[dict[str, Any]]] = {}
        # Organization artifacts (dbt state): key -> bytes, and the keys asked for.
        self.artifacts: dict[str, bytes] = {}
        self.artifact_gets: list[str] = []
        self.merge_request_states: dict[str, str] = {}
        # GitHub: open pull requests, as (number, head branch).
        self.open_pulls: list[tuple[int, str]] = []
        self.code_host_token = "code-host-token"
        self._presigned: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- helpers for tests -------------------------------------------------------------------

    def operations(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.operation == name]

    def add_branch_deployment(self, repo_name: str, branch_name: str, name: str = "") -> str:
        deployment = BranchDeployment(
            name=name or f"branch-{next(self._ids)}",
            repo_name=repo_name,
            branch_name=branch_name,
            status="OPEN",
            pull_request_number=None,
            commit_hash="",
        )
        self.branch_deployments[(repo_name, branch_name)] = deployment
        return deployment.name

    # --- Dagster+ GraphQL --------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any], deployment: str | None) -> dict[str, Any]:
        operation = root_field(query)
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return {"errors": [{"message": f"stand-in: unknown operation {operation!r}"}]}
        data = handler(variables, deployment)
        return {"data": {operation: data}}

    def _op_organizationSettings(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return {"settings": {}}

    def _op_markCliEvent(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return "ok"

    def _op_createOrUpdateBranchDeployment(self, variables: dict[str, Any], deployment: str | None) -> Any:
        branch = variables["branchData"]
        commit = variables["commit"]
        key = (branch["repoName"], branch["branchName"])
        existing = self.branch_deployments.get(key)
        if existing is None:
            existing = BranchDeployment(
                name=f"{branch['branchName'].replace('/', '-')[:20]}-{uuid.uuid4().hex[:6]}",
                repo_name=branch["repoName"],
                branch_name=branch["branchName"],
                status=None,
                pull_request_number=None,
                commit_hash="",
            )
            self.branch_deployments[key] = existing
        existing.status = branch.get("pullRequestStatus")
        existing.pull_request_number = branch.get("pullRequestNumber")
        existing.commit_hash = commit["commitHash"]
        existing.history.append(str(existing.status))
        return {
            "__typename": "DagsterCloudDeployment",
            "deploymentId": 1,
            "deploymentName": existing.name,
        }

    def _op_getBranchDeploymentName(self, variables: dict[str, Any], deployment: str | None) -> Any:
        found = self.branch_deployments.get((variables["repoName"], variables["branchName"]))
        return found.name if found else None

    def _known_deployments(self) -> set[str]:
        return {"prod"} | {d.name for d in self.branch_deployments.values()}

    def _op_launchRun(self, variables: dict[str, Any], deployment: str | None) -> Any:
        selector = variables["executionParams"]["selector"]
        if deployment not in self._known_deployments():
            return {"__typename": "PythonError", "message": f"no deployment {deployment}", "stack": []}
        run = Run(
            run_id=str(uuid.uuid4()),
            deployment=deployment or "",
            location=selector["repositoryLocationName"],
            job=selector["jobName"],
            outcome=self.run_outcomes.get(selector["jobName"], "SUCCESS"),
        )
        self.runs[run.run_id] = run
        return {
            "__typename": "LaunchRunSuccess",
            "run": {"runId": run.run_id, "tags": [], "status": "QUEUED", "runConfigYaml": ""},
        }

    def _op_runOrError(self, variables: dict[str, Any], deployment: str | None) -> Any:
        run = self.runs.get(variables["runId"])
        if run is None or run.deployment != deployment:
            return {"__typename": "RunNotFoundError"}
        run.polls += 1
        # Not finished at the first look, as a real run is not.
        status = "STARTED" if run.polls < 2 else run.outcome
        return {"__typename": "Run", "id": run.run_id, "status": status}

    def _op_generateServerlessPexUrl(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return [{"url": f"{self.base_url}/pex/{name}"} for name in variables["filenames"]]

    def _op_serverless(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return {
            "awsRegion": "us-west-2",
            "awsAuthToken": "stand-in",
            "registryAllowCustomBase": True,
            "registryIsHarbor": False,
            "registryUrl": "123456789012.dkr.ecr.us-west-2.amazonaws.com/stand-in",
        }

    def _op_deployLocations(self, variables: dict[str, Any], deployment: str | None) -> Any:
        document = variables["document"]
        self.deployed_documents.append({"deployment": deployment, **document})
        return {
            "__typename": "DeployLocationsSuccess",
            "locations": [{"locationName": loc["location_name"]} for loc in document["locations"]],
        }

    def _op_currentDeployment(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return {"agentType": self.agent_type, "deploymentName": deployment}

    def _op_agents(self, variables: dict[str, Any], deployment: str | None) -> Any:
        return [{"status": "RUNNING", "errors": []}]

    def _op_workspaceOrError(self, variables: dict[str, Any], deployment: str | None) -> Any:
        deployed = [d for d in self.deployed_documents if d["deployment"] == deployment]
        names = sorted({loc["location_name"] for d in deployed for loc in d["locations"]})
        return {
            "__typename": "Workspace",
            "locationEntries": [
                {
                    "__typename": "WorkspaceLocationEntry",
                    "name": name,
                    "loadStatus": "LOADED",
                    "locationOrLoadError": {"__typename": "RepositoryLocation", "name": name},
                }
                for name in names
            ],
        }

    # --- code hosts ---------------------------------------------------------------------------

    def code_host(self, method: str, path: str, body: dict[str, Any], query: str = "") -> tuple[int, Any]:
        pulls = re.fullmatch(r"/github/repos/([^/]+)/([^/]+)/pulls", path)
        if pulls and method == "GET":
            from urllib.parse import parse_qs

            params = {k: v[0] for k, v in parse_qs(query).items()}
            owner, _, branch = params.get("head", "").partition(":")
            if params.get("state") != "open" or owner != pulls.group(1):
                return 422, {"message": "stand-in: expected state=open&head=owner:branch"}
            return 200, [{"number": n, "head": {"ref": b}} for n, b in self.open_pulls if b == branch]
        github = re.fullmatch(r"/github/repos/([^/]+/[^/]+)/issues/(\d+)/comments", path)
        github_edit = re.fullmatch(r"/github/repos/([^/]+/[^/]+)/issues/comments/(\d+)", path)
        gitlab_mr = re.fullmatch(r"/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)", path)
        gitlab_notes = re.fullmatch(r"/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes", path)
        gitlab_edit = re.fullmatch(r"/gitlab/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes/(\d+)", path)
        if github or gitlab_notes:
            match = github or gitlab_notes
            assert match is not None
            thread = self.comments.setdefault(f"{match.group(1)}#{match.group(2)}", [])
            if method == "GET":
                return 200, thread
            if method == "POST":
                comment = {"id": next(self._ids), "body": body["body"], "user": {"login": "bot"}}
                thread.append(comment)
                return 201, comment
        if (github_edit and method == "PATCH") or (gitlab_edit and method == "PUT"):
            comment_id = int((github_edit or gitlab_edit).group((github_edit and 2) or 3))  # type: ignore[union-attr]
            for thread in self.comments.values():
                for comment in thread:
                    if comment["id"] == comment_id:
                        comment["body"] = body["body"]
                        return 200, comment
            return 404, {"message": "Not Found"}
        if gitlab_mr and method == "GET":
            state = self.merge_request_states.get(gitlab_mr.group(2))
            if state is None:
                return 404, {"message": "404 Not found"}
            return 200, {"iid": int(gitlab_mr.group(2)), "state": state}
        return 404, {"message": "Not Found"}


def root_field(query: str) -> str:
    """The first root field of a GraphQL document (after the operation's variable list)."""
    body = query[query.index("{") :] if "{" in query else query
    match = ROOT_FIELD.search(body)
    return match.group(1) if match else ""


def _handler(standin: DagsterPlusStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _code_host(self, method: str) -> None:
            raw = self._body()
            github = self.path.startswith("/github/")
            token = (
                self.headers.get("Authorization", "").removeprefix("Bearer ")
                if github
                else self.headers.get("PRIVATE-TOKEN")
            )
            path = self.path.split("?")[0]
            with standin._lock:
                standin.requests.append(Request(method, path, "code-host", {}, token, None))
                if token != standin.code_host_token:
                    self._reply(401, {"message": "401 Unauthorized"})
                    return
                query = self.path.partition("?")[2]
                status, payload = standin.code_host(method, path, json.loads(raw) if raw else {}, query)
            self._reply(status, payload)

        def _artifact_request(self, kind: str) -> None:
            """gen_artifact_post / gen_artifact_get: presigned URLs on this server."""
            payload = json.loads(self._body())
            token = self.headers.get("Dagster-Cloud-Api-Token")
            key = str(payload["key"])
            with standin._lock:
                standin.requests.append(Request("POST", self.path, kind, payload, token, None))
                if token != standin.token:
                    self._reply(401, {"message": "Unauthorized: invalid token"})
                    return
                handle = uuid.uuid4().hex
                standin._presigned[handle] = key
                if kind == "gen_artifact_get":
                    standin.artifact_gets.append(key)
                    self._reply(200, {"url": f"{standin.base_url}/s3/{handle}"})
                else:
                    self._reply(200, {"url": f"{standin.base_url}/s3/{handle}", "fields": {"key": key}})

        def _s3_upload(self) -> None:
            """The presigned form POST: multipart data whose `file` part is the artifact."""
            handle = self.path.split("?")[0].removeprefix("/s3/")
            content_type = self.headers.get("Content-Type", "")
            message = BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {content_type}\r\n\r\n".encode() + self._body()
            )
            parts = {
                part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
            }
            with standin._lock:
                key = standin._presigned.pop(handle, None)
                if key is None or "file" not in parts or parts.get("key") is None:
                    self._reply(403, {"message": "AccessDenied"})
                    return
                standin.artifacts[key] = parts["file"].get_payload(decode=True) or b""
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _s3_download(self) -> None:
            handle = self.path.split("?")[0].removeprefix("/s3/")
            with standin._lock:
                key = standin._presigned.pop(handle, None)
                data = standin.artifacts.get(key) if key is not None else None
            if data is None:
                self._reply(404, {"Code": "NoSuchKey"})
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/s3/"):
                self._s3_download()
            elif self.path.startswith(("/github/", "/gitlab/")):
                self._code_host("GET")
            else:  # cached-deps lookups: nothing is cached
                self._reply(404, {"message": "Not Found"})

        def do_PATCH(self) -> None:
            self._code_host("PATCH")

        def do_PUT(self) -> None:
            if self.path.startswith("/pex/"):
                name = Path(self.path.removeprefix("/pex/")).name
                data = self._body()
                with standin._lock:
                    standin.uploads[name] = len(data)
                    if standin.upload_dir is not None:
                        (standin.upload_dir / name).write_bytes(data)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._code_host("PUT")

        def do_POST(self) -> None:
            if self.path.startswith(("/github/", "/gitlab/")):
                self._code_host("POST")
                return
            if self.path.split("?")[0] in ("/gen_artifact_post", "/gen_artifact_get"):
                self._artifact_request(self.path.split("?")[0].strip("/"))
                return
            if self.path.startswith("/s3/"):
                self._s3_upload()
                return
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[-1] != "graphql":
                self._reply(404, {"message": "Not Found"})
                return
            payload = json.loads(self._body())
            deployment = parts[0] if len(parts) == 2 else self.headers.get("Dagster-Cloud-Deployment")
            token = self.headers.get("Dagster-Cloud-Api-Token")
            operation = root_field(payload["query"])
            with standin._lock:
                standin.requests.append(
                    Request("POST", self.path, operation, payload.get("variables") or {}, token, deployment)
                )
                if token != standin.token:
                    result: dict[str, Any] = {"errors": [{"message": "Unauthorized: invalid token"}]}
                else:
                    result = standin.graphql(payload["query"], payload.get("variables") or {}, deployment)
            self._reply(200, result)

    return Handler


@contextmanager
def serve(standin: DagsterPlusStandIn) -> Iterator[DagsterPlusStandIn]:
    """Serve ``standin`` on a free localhost port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(standin))
    standin.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    # shutdown() returns at the loop's next poll: 0.5 s after the block by default, 0.05 s here.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
