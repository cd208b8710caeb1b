"""Pull requests (GitHub) and merge requests (GitLab) proposing what platform health found.

One branch per proposal (``platform-health/exposures``, ``platform-health/remove-unused-models``)
makes them idempotent: the first run opens a request, later runs push the branch only when its
content changed and edit the open request's text only when it changed; nothing is duplicated.

A branch is platform health's own only when every commit it holds beyond the base was committed
by platform health's identity with a ``Platform-Health-Change: <branch>`` trailer
(:mod:`.git_checkout`). Anything else, a person's branch of the same name or a person's commit on
the bot's branch, is never pushed over: the outcome is ``skipped``, with one line saying why,
and no request is opened or edited. So is a proposal touching a symlinked path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from .git_checkout import DEFAULT_AUTHOR, GitCheckout, GitError, check_relative

EXPOSURES_BRANCH = "platform-health/exposures"
REMOVAL_BRANCH = "platform-health/remove-unused-models"


class ChangeRequestError(RuntimeError):
    """The code host refused or failed a call (one line naming it and what to check)."""


@dataclass(frozen=True)
class Repository:
    clone_url: str
    default_branch: str


@dataclass(frozen=True)
class OpenRequest:
    number: int
    url: str
    title: str
    body: str


class CodeHost(Protocol):
    """GitHub or GitLab, as far as proposing a change goes."""

    request_kind: str  # "pull request" or "merge request"

    def repository(self) -> Repository: ...

    def git_authorization(self) -> str | None:
        """The ``Authorization`` header value git needs for the clone URL (None: none)."""
        ...

    def find_open(self, branch: str, base: str) -> OpenRequest | None: ...

    def create(self, branch: str, base: str, title: str, body: str) -> OpenRequest: ...

    def update(self, request: OpenRequest, title: str, body: str) -> OpenRequest: ...


# Reads a file of the dbt project (path relative to it) as the change starts from; None: absent.
ReadFile = Callable[[str], str | None]
# Paths relative to the dbt project -> new text, or None to delete; and notes for the reviewer.
Changes = tuple[Mapping[str, str | None], list[str]]


@dataclass(frozen=True)
class Proposal:
    branch: str
    title: str
    body: str
    commit_message: str
    changes: Callable[[ReadFile], Changes]

    def description(self, notes: list[str]) -> str:
        if not notes:
            return self.body
        return self.body + "\n\n**Check by hand:**\n" + "".join(f"\n- {n}" for n in notes)


@dataclass(frozen=True)
class Outcome:
    action: Literal["created", "updated", "unchanged", "nothing to propose", "skipped"]
    url: str | None = None
    number: int | None = None
    commit: str | None = None
    pushed: bool = False
    # With "skipped": what was left alone and why, one line each (branch or path named).
    skipped: tuple[str, ...] = ()


def propose(
    host: CodeHost, proposal: Proposal, dbt_project_path: str, author: tuple[str, str] | None = None
) -> Outcome:
    """Push ``proposal``'s branch and open or update its request, doing only what changed."""
    prefix = check_relative(dbt_project_path)
    repository = host.repository()
    base = repository.default_branch
    try:
        with GitCheckout(
            repository.clone_url, base, host.git_authorization(), author or DEFAULT_AUTHOR
        ) as checkout:
            changes, notes = proposal.changes(
                lambda path: checkout.read(f"{prefix}/{check_relative(path)}")
            )
            published = checkout.publish(
                proposal.branch,
                {f"{prefix}/{check_relative(path)}": text for path, text in changes.items()},
                proposal.commit_message,
            )
    except GitError as error:
        raise ChangeRequestError(f"{host.request_kind} {proposal.branch}: {error}") from None
    if published.skipped:
        # Nothing was pushed: the request (if one is open) is not touched either, so it never
        # describes content its branch does not hold.
        return Outcome("skipped", skipped=published.skipped)
    commit, pushed = published.commit, published.pushed
    body = proposal.description(notes)
    existing = host.find_open(proposal.branch, base)
    if commit is None:
        # The base branch already holds this content: an open request has nothing left to do,
        # but closing it is left to people (it may hold their review).
        return Outcome("nothing to propose", existing.url if existing else None)
    if existing is None:
        opened = host.create(proposal.branch, base, proposal.title, body)
        return Outcome("created", opened.url, opened.number, commit, pushed)
    text_changed = (existing.title, existing.body) != (proposal.title, body)
    if text_changed:
        existing = host.update(existing, proposal.title, body)
    if text_changed or pushed:
        return Outcome("updated", existing.url, existing.number, commit, pushed)
    return Outcome("unchanged", existing.url, existing.number, commit, pushed)
