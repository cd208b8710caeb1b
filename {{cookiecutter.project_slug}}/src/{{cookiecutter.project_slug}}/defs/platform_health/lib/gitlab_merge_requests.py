"""Merge requests on GitLab (gitlab.com or self-managed) through python-gitlab."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

import gitlab
import requests

from .change_requests import ChangeRequestError, OpenRequest, Repository

DEFAULT_URL = "https://gitlab.com"
T = TypeVar("T")


class GitLabMergeRequests:
    """``project`` is its path (``group/project``) or numeric id; the token needs ``api``."""

    request_kind = "merge request"

    def __init__(self, project: str, token: str, url: str = DEFAULT_URL) -> None:
        if not project.strip("/"):
            raise ChangeRequestError("GITLAB_PROJECT: give the project's path, e.g. group/project")
        self._project_path = project.strip("/")
        self._token = token
        self._gitlab = gitlab.Gitlab(url, private_token=token, timeout=30)
        self._project: Any = None

    def _call(self, what: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except gitlab.exceptions.GitlabError as error:
            hint = ": check GITLAB_TOKEN" if error.response_code in (401, 403) else ""
            raise ChangeRequestError(
                f"GitLab: {what} answered {error.response_code} {error.error_message}{hint}"
            ) from None
        except requests.RequestException as error:
            raise ChangeRequestError(
                f"GitLab: {what} failed: unreachable ({type(error).__name__})"
            ) from None

    def _get_project(self) -> Any:
        if self._project is None:
            self._project = self._call(
                f"GET project {self._project_path}",
                lambda: self._gitlab.projects.get(self._project_path),
            )
        return self._project

    def repository(self) -> Repository:
        project = self._get_project()
        return Repository(project.http_url_to_repo, project.default_branch)

    def git_authorization(self) -> str | None:
        credentials = base64.b64encode(f"oauth2:{self._token}".encode()).decode()
        return f"Basic {credentials}"

    @staticmethod
    def _open_request(request: Any) -> OpenRequest:
        return OpenRequest(
            request.iid, request.web_url, request.title or "", request.description or ""
        )

    def find_open(self, branch: str, base: str) -> OpenRequest | None:
        project = self._get_project()
        found = self._call(
            "list merge requests",
            lambda: list(
                project.mergerequests.list(
                    state="opened", source_branch=branch, target_branch=base, get_all=False
                )
            ),
        )
        return self._open_request(found[0]) if found else None

    def create(self, branch: str, base: str, title: str, body: str) -> OpenRequest:
        project = self._get_project()
        request = self._call(
            "create merge request",
            lambda: project.mergerequests.create(
                {
                    "source_branch": branch,
                    "target_branch": base,
                    "title": title,
                    "description": body,
                    "remove_source_branch": True,
                }
            ),
        )
        return self._open_request(request)

    def update(self, request: OpenRequest, title: str, body: str) -> OpenRequest:
        project = self._get_project()

        def save() -> Any:
            merge_request = project.mergerequests.get(request.number, lazy=True)
            merge_request.title = title
            merge_request.description = body
            merge_request.save()
            return merge_request

        saved = self._call(f"update merge request !{request.number}", save)
        return OpenRequest(request.number, request.url, saved.title, saved.description)
