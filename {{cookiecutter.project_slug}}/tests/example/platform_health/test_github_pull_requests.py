"""Pull requests through PyGithub, against a local stand-in for GitHub's REST API, with a real
git repository on disk as the remote.

The stand-in answers the requests PyGithub's own code makes (``Github.get_repo``,
``Repository.get_pulls``, ``Repository.create_pull``, ``PullRequest.edit``) with the fields it
reads (``url`` for later calls, ``clone_url``, ``default_branch``, ``number``, ``html_url``), so
the exact requests sent can be asserted: create on the first run, nothing on an unchanged one,
an edit when the text changed.
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
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.github_pull_requests import (
    GitHubPullRequests,
)
from conftest import MaterializedWarehouse

REPO = "/repos/acme/data"
EXPOSURES = "models/marts/_bi_exposures.yml"


class FakeGitHub:
    """Repository acme/data and its pull requests (state kept between requests)."""

    def __init__(self, clone_url: str) -> None:
        self.clone_url = clone_url
        self.pulls: dict[int, dict[str, Any]] = {}
        self.url = ""

    def routes(self) -> dict[tuple[str, str], Any]:
        return {
            ("GET", REPO): self.repository,
            ("GET", f"{REPO}/pulls"): self.list_pulls,
            ("POST", f"{REPO}/pulls"): self.create_pull,
            ("PATCH", f"{REPO}/pulls/1"): self.edit_pull,
        }

    def repository(self, request: Request) -> Reply:
        return Reply(
            body={
                "id": 1,
                "name": "data",
                "full_name": "acme/data",
                "owner": {"login": "acme", "id": 2, "type": "Organization"},
                "default_branch": "main",
                "clone_url": self.clone_url,
                "url": f"{self.url}{REPO}",
                "html_url": "https://github.com/acme/data",
            }
        )

    def pull(self, number: int) -> dict[str, Any]:
        return {
            "id": 100 + number,
            "number": number,
            "state": "open",
            "url": f"{self.url}{REPO}/pulls/{number}",
            "html_url": f"https://github.com/acme/data/pull/{number}",
            **self.pulls[number],
        }

    def list_pulls(self, request: Request) -> Reply:
        head = request.query["head"][0].split(":", 1)[1]
        return Reply(
            body=[
                self.pull(n)
                for n, p in self.pulls.items()
                if p["head"]["ref"] == head and p["base"]["ref"] == request.query["base"][0]
            ]
        )

    def create_pull(self, request: Request) -> Reply:
        number = len(self.pulls) + 1
        body = request.body
        self.pulls[number] = {
            "title": body["title"],
            "body": body["body"],
            "head": {"ref": body["head"], "label": f"acme:{body['head']}"},
            "base": {"ref": body["base"]},
        }
        return Reply(201, self.pull(number))

    def edit_pull(self, request: Request) -> Reply:
        self.pulls[1].update(request.body)
        return Reply(body=self.pull(1))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return remote_repository(tmp_path / "git", dbt_project_files(settings.DBT_PROJECT_DIR))


@pytest.fixture
def github(remote: Path) -> Iterator[tuple[StandIn, FakeGitHub]]:
    fake = FakeGitHub(remote.as_uri())
    with serve(fake.routes()) as stand_in:
        fake.url = stand_in.url
        yield stand_in, fake


def host(stand_in: StandIn, token: str = "ghs_test") -> GitHubPullRequests:
    return GitHubPullRequests("acme/data", token, api_url=stand_in.url)


def exposures_proposal(text: str, body: str = "Exposures from the BI tool.") -> Proposal:
    return Proposal(
        branch=EXPOSURES_BRANCH,
        title="Platform health: update dbt exposures",
        body=body,
        commit_message="Regenerate exposures",
        changes=lambda read: ({EXPOSURES: text}, []),
    )


LIST = ("GET", f"{REPO}/pulls")


def test_opened_once_then_updated_never_duplicated(
    github: tuple[StandIn, FakeGitHub], remote: Path
) -> None:
    stand_in, fake = github
    first = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: []\n"), "dbt_project"
    )
    assert (first.action, first.number, first.pushed) == ("created", 1, True)
    assert first.url == "https://github.com/acme/data/pull/1"
    assert stand_in.calls() == [("GET", REPO), LIST, ("POST", f"{REPO}/pulls")]
    assert stand_in.requests[1].query == {
        "state": ["open"],
        "head": [f"acme:{EXPOSURES_BRANCH}"],
        "base": ["main"],
    }
    assert stand_in.requests[2].body == {
        "title": "Platform health: update dbt exposures",
        "body": "Exposures from the BI tool.",
        "base": "main",
        "head": EXPOSURES_BRANCH,
    }
    assert stand_in.requests[0].headers["authorization"] == "token ghs_test"
    assert (
        branch_file(remote, EXPOSURES_BRANCH, f"dbt_project/{EXPOSURES}")
        == "version: 2\nexposures: []\n"
    )
    head = branch_head(remote, EXPOSURES_BRANCH)

    # The same proposal again: no push, no request written.
    stand_in.requests.clear()
    again = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: []\n"), "dbt_project"
    )
    assert (again.action, again.number, again.pushed) == ("unchanged", 1, False)
    assert stand_in.calls() == [("GET", REPO), LIST]
    assert branch_head(remote, EXPOSURES_BRANCH) == head

    # New content: the branch moves, the pull request (same text) is not edited.
    stand_in.requests.clear()
    moved = propose(
        host(stand_in), exposures_proposal("version: 2\nexposures: [] # v2\n"), "dbt_project"
    )
    assert (moved.action, moved.pushed) == ("updated", True)
    assert stand_in.calls() == [("GET", REPO), LIST]
    assert branch_head(remote, EXPOSURES_BRANCH) != head

    # New text: the open pull request is edited in place.
    stand_in.requests.clear()
    edited = propose(
        host(stand_in),
        exposures_proposal("version: 2\nexposures: [] # v2\n", "Now 3 dashboards."),
        "dbt_project",
    )
    assert (edited.action, edited.number, edited.pushed) == ("updated", 1, False)
    assert stand_in.calls() == [("GET", REPO), LIST, ("PATCH", f"{REPO}/pulls/1")]
    assert stand_in.requests[-1].body == {
        "title": "Platform health: update dbt exposures",
        "body": "Now 3 dashboards.",
    }
    assert list(fake.pulls) == [1]


def test_nothing_to_propose_when_main_already_has_it(
    github: tuple[StandIn, FakeGitHub], remote: Path
) -> None:
    stand_in, _ = github
    current = (settings.DBT_PROJECT_DIR / "models/marts/_marts.yml").read_text()
    proposal = Proposal(
        EXPOSURES_BRANCH,
        "t",
        "b",
        "m",
        changes=lambda read: ({"models/marts/_marts.yml": current}, []),
    )
    outcome = propose(host(stand_in), proposal, "dbt_project")
    assert outcome.action == "nothing to propose"
    assert ("POST", f"{REPO}/pulls") not in stand_in.calls()
    assert branch_head(remote, EXPOSURES_BRANCH) is None


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(401, {"message": "Bad credentials"}),
            "GitHub: GET repository acme/data answered 401 Bad credentials: check GITHUB_TOKEN",
        ),
        (Reply(404, {"message": "Not Found"}), "answered 404 Not Found"),
    ],
)
def test_api_refusal_is_one_clear_error_and_nothing_is_pushed(
    remote: Path, reply: Reply, message: str
) -> None:
    with (
        serve({("GET", REPO): lambda _r: reply}) as stand_in,
        pytest.raises(ChangeRequestError) as raised,
    ):
        propose(host(stand_in), exposures_proposal("x: 1\n"), "dbt_project")
    assert message in str(raised.value)
    assert branch_head(remote, EXPOSURES_BRANCH) is None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_the_opener_never_writes_where_it_should_not(
    case: Callable[[Harness], None],
    github: tuple[StandIn, FakeGitHub],
    remote: Path,
    tmp_path: Path,
) -> None:
    """A person's branch of the same name, a person's commit on the bot's branch, a push racing
    the bot's, a symlink in the repository (opener_safety.py: shared with the other provider)."""
    stand_in, _ = github
    case(Harness(lambda: host(stand_in), stand_in, remote, tmp_path))


def test_api_down_is_one_clear_error() -> None:
    unreachable = GitHubPullRequests("acme/data", "t", api_url=closed_port_url())
    with pytest.raises(
        ChangeRequestError, match="GitHub: GET repository acme/data failed: unreachable"
    ):
        propose(unreachable, exposures_proposal("x: 1\n"), "dbt_project")


def test_bad_repository_name_is_refused() -> None:
    with pytest.raises(ChangeRequestError, match="GITHUB_REPOSITORY: 'acme' is not an owner/name"):
        GitHubPullRequests("acme", "t")


def test_the_removal_pull_request_from_the_asset(
    on_materialized: MaterializedWarehouse,
    github: tuple[StandIn, FakeGitHub],
    remote: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`unused_models_change_request` with a token: a separate branch deleting int_comments."""
    stand_in, fake = github
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/data")
    monkeypatch.setenv("GITHUB_API_URL", stand_in.url)
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
    assert fake.pulls[1]["head"]["ref"] == REMOVAL_BRANCH
    assert "int_comments" in fake.pulls[1]["title"] + fake.pulls[1]["body"]
    model = "dbt_project/models/intermediate/int_comments.sql"
    assert branch_file(remote, "main", model) is not None
    assert branch_file(remote, REMOVAL_BRANCH, model) is None
    properties = branch_file(
        remote, REMOVAL_BRANCH, "dbt_project/models/intermediate/_intermediate.yml"
    )
    assert (
        properties is not None and "int_comments" not in properties and "int_stories" in properties
    )
    a_persons_commit_on_the_branch_is_reported_by_the_asset(
        remote, REMOVAL_BRANCH, key, lambda: job.execute_in_process(asset_selection=[key])
    )
