"""Merge requests through python-gitlab, against a local stand-in for GitLab's REST API (v4),
with a real git repository on disk as the remote.

The stand-in answers the requests python-gitlab's own code makes (``projects.get`` with the
URL-encoded path, ``mergerequests.list`` / ``create``, and ``save()`` on a merge request, which
PUTs only the changed attributes) with the fields it reads (``id``, ``http_url_to_repo``,
``default_branch``, ``iid``, ``web_url``), so the exact requests sent can be asserted.
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from opener_safety import (
    CASES,
    Harness,
    a_persons_commit_on_the_branch_is_reported_by_the_asset,
)
from stand_ins import (
    Reply,
    Request,
    StandIn,
    branch_file,
    branch_head,
    closed_port_url,
    dbt_project_files,
    remote_repository,
    serve,
)

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.definitions import defs
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.change_requests import (
    EXPOSURES_BRANCH,
    REMOVAL_BRANCH,
    ChangeRequestError,
    Proposal,
    propose,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.gitlab_merge_requests import (
    GitLabMergeRequests,
)
from conftest import MaterializedWarehouse

PROJECT_BY_PATH = "/api/v4/projects/acme%2Fdata"
MRS = "/api/v4/projects/7/merge_requests"
EXPOSURES = "models/marts/_bi_exposures.yml"


class FakeGitLab:
    """Project acme/data (id 7) and its merge requests (state kept between requests)."""

    def __init__(self, clone_url: str) -> None:
        self.clone_url = clone_url
        self.merge_requests: dict[int, dict[str, Any]] = {}

    def routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", PROJECT_BY_PATH): self.project,
            ("GET", MRS): self.list_merge_requests,
            ("POST", MRS): self.create,
            ("PUT", f"{MRS}/1"): self.update,
        }

    def project(self, request: Request) -> Reply:
        return Reply(
            body={
                "id": 7,
                "path_with_namespace": "acme/data",
                "default_branch": "main",
                "http_url_to_repo": self.clone_url,
                "web_url": "https://gitlab.example.com/acme/data",
            }
        )

    def merge_request(self, iid: int) -> dict[str, Any]:
        return {
            "id": 500 + iid,
            "iid": iid,
            "project_id": 7,
            "state": "opened",
            "web_url": f"https://gitlab.example.com/acme/data/-/merge_requests/{iid}",
            **self.merge_requests[iid],
        }

    def list_merge_requests(self, request: Request) -> Reply:
        wanted = (request.query["source_branch"][0], request.query["target_branch"][0])
        return Reply(
            body=[
                self.merge_request(iid)
                for iid, mr in self.merge_requests.items()
                if (mr["source_branch"], mr["target_branch"]) == wanted
            ]
        )

    def create(self, request: Request) -> Reply:
        iid = len(self.merge_requests) + 1
        body = request.body
        self.merge_requests[iid] = {
            key: body[key] for key in ("title", "description", "source_branch", "target_branch")
        }
        return Reply(201, self.merge_request(iid))

    def update(self, request: Request) -> Reply:
        self.merge_requests[1].update(request.body)
        return Reply(body=self.merge_request(1))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return remote_repository(tmp_path / "git", dbt_project_files(settings.DBT_PROJECT_DIR))


@pytest.fixture
def gitlab(remote: Path) -> Iterator[tuple[StandIn, FakeGitLab]]:
    fake = FakeGitLab(remote.as_uri())
    with serve(fake.routes()) as stand_in:
        yield stand_in, fake


def host(stand_in: StandIn, token: str = "glpat-test") -> GitLabMergeRequests:
    return GitLabMergeRequests("acme/data", token, url=stand_in.url)


def exposures_proposal(text: str, body: str = "Exposures from the BI tool.") -> Proposal:
    return Proposal(
        branch=EXPOSURES_BRANCH,
        title="Platform health: update dbt exposures",
        body=body,
        commit_message="Regenerate exposures",
        changes=lambda read: ({EXPOSURES: text}, []),
    )


LIST = ("GET", MRS)


def test_opened_once_then_updated_never_duplicated(
    gitlab: tuple[StandIn, FakeGitLab], remote: Path
) -> None:
    stand_in, fake = gitlab
    first = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: []\n"), "dbt_project"
    )
    assert (first.action, first.number, first.pushed) == ("created", 1, True)
    assert first.url == "https://gitlab.example.com/acme/data/-/merge_requests/1"
    assert stand_in.calls() == [("GET", PROJECT_BY_PATH), LIST, ("POST", MRS)]
    assert stand_in.requests[1].query == {
        "state": ["opened"],
        "source_branch": [EXPOSURES_BRANCH],
        "target_branch": ["main"],
    }
    assert stand_in.requests[2].body == {
        "source_branch": EXPOSURES_BRANCH,
        "target_branch": "main",
        "title": "Platform health: update dbt exposures",
        "description": "Exposures from the BI tool.",
        "remove_source_branch": True,
    }
    assert stand_in.requests[0].headers["private-token"] == "glpat-test"
    assert (
        branch_file(remote, EXPOSURES_BRANCH, f"dbt_project/{EXPOSURES}")
        == "version: 2\nexposures: []\n"
    )
    head = branch_head(remote, EXPOSURES_BRANCH)

    stand_in.requests.clear()
    again = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: []\n"), "dbt_project"
    )
    assert (again.action, again.number, again.pushed) == ("unchanged", 1, False)
    assert stand_in.calls() == [("GET", PROJECT_BY_PATH), LIST]
    assert branch_head(remote, EXPOSURES_BRANCH) == head

    stand_in.requests.clear()
    moved = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: [] # v2\n"), "dbt_project"
    )
    assert (moved.action, moved.pushed) == ("updated", True)
    assert stand_in.calls() == [("GET", PROJECT_BY_PATH), LIST]
    assert branch_head(remote, EXPOSURES_BRANCH) != head

    stand_in.requests.clear()
    edited = propose(
        host(stand_in),
        exposures_proposal("version: 2\nexposures: [] # v2\n", "Now 3 dashboards."),
        "dbt_project",
    )
    assert (edited.action, edited.number, edited.pushed) == ("updated", 1, False)
    assert stand_in.calls() == [("GET", PROJECT_BY_PATH), LIST, ("PUT", f"{MRS}/1")]
    assert stand_in.requests[-1].body == {
        "title": "Platform health: update dbt exposures",
        "description": "Now 3 dashboards.",
    }
    assert list(fake.merge_requests) == [1]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(401, {"message": "401 Unauthorized"}),
            "GitLab: GET project acme/data answered 401 401 Unauthorized: check GITLAB_TOKEN",
        ),
        (Reply(404, {"message": "404 Project Not Found"}), "answered 404 404 Project Not Found"),
    ],
)
def test_api_refusal_is_one_clear_error_and_nothing_is_pushed(
    remote: Path, reply: Reply, message: str
) -> None:
    with (
        serve({("GET", PROJECT_BY_PATH): lambda _r: reply}) as stand_in,
        pytest.raises(ChangeRequestError) as raised,
    ):
        propose(host(stand_in), exposures_proposal("x: 1\n"), "dbt_project")
    assert message in str(raised.value)
    assert branch_head(remote, EXPOSURES_BRANCH) is None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_the_opener_never_writes_where_it_should_not(
    case: Callable[[Harness], None],
    gitlab: tuple[StandIn, FakeGitLab],
    remote: Path,
    tmp_path: Path,
) -> None:
    """A person's branch of the same name, a person's commit on the bot's branch, a push racing
    the bot's, a symlink in the repository (opener_safety.py: shared with the other provider)."""
    stand_in, _ = gitlab
    case(Harness(lambda: host(stand_in), stand_in, remote, tmp_path))


def test_api_down_is_one_clear_error() -> None:
    unreachable = GitLabMergeRequests("acme/data", "t", url=closed_port_url())
    with pytest.raises(
        ChangeRequestError, match="GitLab: GET project acme/data failed: unreachable"
    ):
        propose(unreachable, exposures_proposal("x: 1\n"), "dbt_project")


def test_the_removal_merge_request_from_the_asset(
    on_materialized: MaterializedWarehouse,
    gitlab: tuple[StandIn, FakeGitLab],
    remote: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`unused_models_change_request` with a token: a separate branch deleting int_comments."""
    stand_in, fake = gitlab
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-test")
    monkeypatch.setenv("GITLAB_PROJECT", "acme/data")
    monkeypatch.setenv("GITLAB_URL", stand_in.url)
    key = dg.AssetKey(
        [settings.PRODUCTION_DATABASE.lower(), "platform_health", "unused_models_change_request"]
    )
    job = defs().resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=[key])
    assert result.success
    (materialization,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == key
    ]
    assert materialization.metadata["action"].value == "created"
    assert fake.merge_requests[1]["source_branch"] == REMOVAL_BRANCH
    assert "int_comments" in fake.merge_requests[1]["description"]
    model = "dbt_project/models/intermediate/int_comments.sql"
    assert branch_file(remote, "main", model) is not None
    assert branch_file(remote, REMOVAL_BRANCH, model) is None
    a_persons_commit_on_the_branch_is_reported_by_the_asset(
        remote, REMOVAL_BRANCH, key, lambda: job.execute_in_process(asset_selection=[key])
    )
