"""Where the change-request opener must not write, for GitHub and GitLab alike.

The branch and file logic is shared (``change_requests.propose`` and ``git_checkout``); each
provider's test file runs every case in ``CASES`` against its own API stand-in, so both code
hosts are held to the same rules. The remote is a real bare repository; a "person" is a real
clone pushing real commits under another identity, the way a teammate would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from stand_ins import PERSON, StandIn, branch_file, branch_head, git, push_commit

from {{ cookiecutter.project_slug }}.defs.platform_health.lib.change_requests import (
    EXPOSURES_BRANCH,
    CodeHost,
    Proposal,
    propose,
)
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.git_checkout import (
    CHANGE_TRAILER,
    GitCheckout,
    RemoteBranch,
)

EXPOSURES = "models/marts/_bi_exposures.yml"
IN_REPOSITORY = f"dbt_project/{EXPOSURES}"


@dataclass(frozen=True)
class Harness:
    host: Callable[[], CodeHost]  # a fresh client against the provider's stand-in
    stand_in: StandIn
    remote: Path  # the bare repository the stand-in's clone URL points at
    tmp_path: Path

    def writes(self) -> list[tuple[str, str]]:
        """Requests that would change the code host (open or edit a pull/merge request)."""
        return [call for call in self.stand_in.calls() if call[0] != "GET"]


def proposal(text: str) -> Proposal:
    return Proposal(
        branch=EXPOSURES_BRANCH,
        title="Platform health: update dbt exposures",
        body="Exposures from the BI tool.",
        commit_message="Regenerate exposures",
        changes=lambda read: ({EXPOSURES: text}, []),
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its text: what "nothing outside was written" compares."""
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def a_persons_branch_of_the_same_name_is_left_alone(h: Harness) -> None:
    theirs = push_commit(
        h.remote,
        EXPOSURES_BRANCH,
        files={IN_REPOSITORY: "version: 2\nexposures: [] # Jane's work in progress\n"},
    )
    outcome = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert (outcome.action, outcome.pushed, outcome.commit) == ("skipped", False, None)
    assert branch_head(h.remote, EXPOSURES_BRANCH) == theirs
    assert branch_file(h.remote, EXPOSURES_BRANCH, IN_REPOSITORY) == (
        "version: 2\nexposures: [] # Jane's work in progress\n"
    )
    (line,) = outcome.skipped
    assert line.startswith(f"{EXPOSURES_BRANCH}: left as it is:")
    assert theirs[:12] in line and f"{PERSON[0]} <{PERSON[1]}>" in line
    assert "not made by platform health" in line
    assert h.writes() == []  # no request opened for a branch that is not the bot's


def a_copied_trailer_does_not_make_a_persons_commit_the_bots(h: Harness) -> None:
    # The trailer alone proves nothing: a person's commit carrying it (a cherry-pick, an amend)
    # is still theirs, by its committer.
    theirs = push_commit(
        h.remote,
        EXPOSURES_BRANCH,
        files={IN_REPOSITORY: "mine\n"},
        message=f"Amended by hand\n\n{CHANGE_TRAILER}: {EXPOSURES_BRANCH}",
    )
    outcome = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert outcome.action == "skipped"
    assert branch_head(h.remote, EXPOSURES_BRANCH) == theirs


def a_branch_with_nothing_beyond_the_base_is_left_alone(h: Harness) -> None:
    # A person's fresh branch at main's head: no commit of its own, none of them the bot's.
    main = branch_head(h.remote, "main")
    git("branch", EXPOSURES_BRANCH, "main", cwd=h.remote)
    outcome = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert outcome.action == "skipped"
    assert main is not None and main[:12] in outcome.skipped[0]
    assert branch_head(h.remote, EXPOSURES_BRANCH) == main


def the_bots_own_branch_is_updated_and_a_persons_commit_on_it_kept(h: Harness) -> None:
    first = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert (first.action, first.pushed) == ("created", True)
    # main moves on meanwhile (someone merged their work): the next run rebuilds on it.
    merged = push_commit(h.remote, "main", files={"README.md": "merged meanwhile\n"})
    second = propose(h.host(), proposal("version: 2\nexposures: [] # v2\n"), "dbt_project")
    assert (second.action, second.pushed) == ("updated", True)
    head = branch_head(h.remote, EXPOSURES_BRANCH)
    assert head == second.commit
    assert git("rev-parse", f"{head}^", cwd=h.remote) == merged  # one bot commit on main
    assert branch_file(h.remote, EXPOSURES_BRANCH, "README.md") == "merged meanwhile\n"
    assert branch_file(h.remote, EXPOSURES_BRANCH, IN_REPOSITORY) == (
        "version: 2\nexposures: [] # v2\n"
    )
    # A person then pushes a fix onto the bot's branch: from now on it is theirs too.
    fix = push_commit(h.remote, EXPOSURES_BRANCH, files={IN_REPOSITORY: "fixed by Jane\n"})
    h.stand_in.requests.clear()
    third = propose(h.host(), proposal("version: 2\nexposures: [] # v3\n"), "dbt_project")
    assert third.action == "skipped" and fix[:12] in third.skipped[0]
    assert branch_head(h.remote, EXPOSURES_BRANCH) == fix
    assert git("rev-parse", f"{fix}^", cwd=h.remote) == head  # the bot's commit is kept below
    assert h.writes() == []  # its request is not edited to describe content it lacks


class PushedMidRun(GitCheckout):
    """A checkout during whose run a person pushes to the branch: right after the ownership
    check, before the push (the window ``--force-with-lease`` closes)."""

    pushed: str | None = None

    def remote_branch(self, branch: str) -> RemoteBranch | None:
        found = super().remote_branch(branch)
        PushedMidRun.pushed = push_commit(
            Path(self.clone_url.removeprefix("file://")), branch, files={IN_REPOSITORY: "late\n"}
        )
        return found


def a_commit_pushed_while_the_bot_pushes_is_kept(h: Harness) -> None:
    created = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert created.action == "created"
    with PushedMidRun(h.remote.as_uri(), "main") as checkout:
        published = checkout.publish(
            EXPOSURES_BRANCH, {IN_REPOSITORY: "version: 2\nexposures: [] # v2\n"}, "Regenerate"
        )
    assert published.commit is None and not published.pushed
    (line,) = published.skipped
    assert f"{EXPOSURES_BRANCH}: left as it is: it moved on the remote" in line
    assert branch_head(h.remote, EXPOSURES_BRANCH) == PushedMidRun.pushed
    assert branch_file(h.remote, EXPOSURES_BRANCH, IN_REPOSITORY) == "late\n"


def _outside(h: Harness) -> Path:
    outside = h.tmp_path / "outside"
    outside.mkdir()
    (outside / "_bi_exposures.yml").write_text("outside the checkout\n")
    (outside / "secret.txt").write_text("not for the repository\n")
    return outside


def a_symlinked_exposures_file_is_not_written_through(h: Harness) -> None:
    outside = _outside(h)
    before = snapshot(outside)
    push_commit(h.remote, "main", symlinks={IN_REPOSITORY: outside / "_bi_exposures.yml"})
    outcome = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert snapshot(outside) == before
    assert outcome.action == "skipped"
    assert outcome.skipped[0] == (
        f"refused {IN_REPOSITORY}: it is a symlink (to {outside / '_bi_exposures.yml'}); "
        "platform health never follows one"
    )
    assert branch_head(h.remote, EXPOSURES_BRANCH) is None and h.writes() == []


def a_symlinked_folder_is_not_written_through(h: Harness) -> None:
    outside = _outside(h)
    before = snapshot(outside)
    push_commit(h.remote, "main", symlinks={"dbt_project/models/marts": outside})
    outcome = propose(h.host(), proposal("version: 2\nexposures: []\n"), "dbt_project")
    assert snapshot(outside) == before
    assert outcome.action == "skipped"
    assert outcome.skipped[0].startswith(
        f"refused {IN_REPOSITORY}: dbt_project/models/marts is a symlink (to {outside})"
    )
    assert branch_head(h.remote, EXPOSURES_BRANCH) is None and h.writes() == []


def a_symlinked_file_is_not_read_through(h: Harness) -> None:
    outside = _outside(h)
    push_commit(
        h.remote, "main", symlinks={"dbt_project/models/marts/_marts.yml": outside / "secret.txt"}
    )
    seen: list[str | None] = []

    def changes(read: Callable[[str], str | None]) -> tuple[dict[str, str | None], list[str]]:
        seen.append(read("models/marts/_marts.yml"))
        return {EXPOSURES: f"version: 2\n# {seen[0]}\n"}, []

    reading = Proposal(EXPOSURES_BRANCH, "t", "b", "m", changes=changes)
    outcome = propose(h.host(), reading, "dbt_project")
    assert seen == [None]  # the secret never reached the proposal
    assert outcome.action == "skipped"
    assert "refused dbt_project/models/marts/_marts.yml: it is a symlink" in outcome.skipped[0]
    assert outcome.skipped[-1] == f"{EXPOSURES_BRANCH}: nothing committed"
    assert branch_head(h.remote, EXPOSURES_BRANCH) is None and h.writes() == []


def a_persons_commit_on_the_branch_is_reported_by_the_asset(
    remote: Path, branch: str, key: dg.AssetKey, run: Callable[[], dg.ExecuteInProcessResult]
) -> None:
    """After the asset opened its request: a person commits on the branch, the next run leaves
    the branch as it is, succeeds, and says what it skipped in its metadata."""
    theirs = push_commit(remote, branch, files={"dbt_project/README.md": "kept by Jane\n"})
    result = run()
    assert result.success
    (materialization,) = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == key
    ]
    assert materialization.metadata["action"].value == "skipped"
    skipped = materialization.metadata["skipped"].value
    assert isinstance(skipped, str) and f"- {branch}: left as it is:" in skipped
    assert theirs[:12] in skipped
    assert branch_head(remote, branch) == theirs


CASES = [
    a_persons_branch_of_the_same_name_is_left_alone,
    a_copied_trailer_does_not_make_a_persons_commit_the_bots,
    a_branch_with_nothing_beyond_the_base_is_left_alone,
    the_bots_own_branch_is_updated_and_a_persons_commit_on_it_kept,
    a_commit_pushed_while_the_bot_pushes_is_kept,
    a_symlinked_exposures_file_is_not_written_through,
    a_symlinked_folder_is_not_written_through,
    a_symlinked_file_is_not_read_through,
]
