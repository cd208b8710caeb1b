"""Pull requests on GitHub (or GitHub Enterprise) through PyGithub."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

import github
import requests
from github import Auth, Github

from .change_requests import ChangeRequestError, OpenRequest, Repository

DEFAULT_API_URL = "https://api.github.com"
T = TypeVar("T")


class GitHubPullRequests:
    """``repository`` is ``owner/name``; the token needs contents and pull-requests write."""

    request_kind = "pull request"

    def __init__(self, repository: str, token: str, api_url: str = DEFAULT_API_URL) -> None:
        owner, slash, name = repository.partition("/")
        if not (owner and slash and name) or "/" in name:
            raise ChangeRequestError(
                f"GITHUB_REPOSITORY: {repository!r} is not an owner/name repository"
            )
        self._owner = owner
        self._full_name = repository
        self._token = token
        # No retries here: a failed run is retried by Dagster, and errors surface at once.
        self._github = Github(auth=Auth.Token(token), base_url=api_url, retry=None, timeout=30)
        self._repo: Any = None
        self._pulls: dict[int, Any] = {}  # pull requests found open, by number

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except github.GithubException as error:
            hint = ": check GITHUB_TOKEN" if error.status in (401, 403) else ""
            data = error.data
            message = error.message or (
                data.get("message")
                if isinstance(data, dict)
                else data
                if isinstance(data, str)
                else ""
            )
            raise ChangeRequestError(
                f"GitHub: {what} answered {error.status} {message}{hint}".rstrip()
            ) from None
        except requests.RequestException as error:
            raise ChangeRequestError(
                f"GitHub: {what} failed: unreachable ({type(error).__name__})"
            ) from None

    def _repository(self) -> Any:
        if self._repo is None:
            self._repo = self._call(
                f"GET repository {self._full_name}", lambda: self._github.get_repo(self._full_name)
            )
        return self._repo

    def repository(self) -> Repository:
        repo = self._repository()
        return Repository(clone_url=repo.clone_url, default_branch=repo.default_branch)

    def git_authorization(self) -> str | None:
        credentials = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
        return f"Basic {credentials}"

    @staticmethod
    def _open_request(pull: Any) -> OpenRequest:
        return OpenRequest(pull.number, pull.html_url, pull.title or "", pull.body or "")

    def find_open(self, branch: str, base: str) -> OpenRequest | None:
        repo = self._repository()
        pulls = self._call(
            "list pull requests",
            lambda: list(repo.get_pulls(state="open", head=f"{self._owner}:{branch}", base=base)),
        )
        if not pulls:
            return None
        self._pulls[pulls[0].number] = pulls[0]
        return self._open_request(pulls[0])

    def create(self, branch: str, base: str, title: str, body: str) -> OpenRequest:
        repo = self._repository()
        pull = self._call(
            "create pull request",
            lambda: repo.create_pull(base=base, head=branch, title=title, body=body),
        )
        return self._open_request(pull)

    def update(self, request: OpenRequest, title: str, body: str) -> OpenRequest:
        repo = self._repository()

        def edit() -> Any:
            pull = self._pulls.get(request.number) or repo.get_pull(request.number)
            pull.edit(title=title, body=body)
            return pull

        return self._open_request(self._call(f"update pull request #{request.number}", edit))
