"""ci/dagster_plus.py, the script CI runs for its Dagster+ steps: the parts that need no network.

(The template's own tests run every CI command against a local stand-in for Dagster+.)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "ci" / "dagster_plus.py"


@pytest.fixture(scope="module")
def ci() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_dagster_plus", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTION", "GITLAB_CI", "DAGSTER_CLOUD_URL", "GITLAB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_outside_ci_every_command_fails_with_one_line(
    ci: ModuleType, no_ci: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["branch-deployment"], ["launch", "clone_prod"], ["close"]):
        assert ci.main(command) == 1
        err = capsys.readouterr().err
        assert (
            err
            == "error: not running in GitHub Actions or GitLab CI (neither GITHUB_ACTION nor GITLAB_CI set)\n"
        )


def test_missing_setting_is_named(ci: ModuleType, no_ci: None) -> None:
    with pytest.raises(ci.CiError, match=r"^DAGSTER_CLOUD_URL is not set"):
        ci.dagster_plus_url()


def test_urls_follow_dagster_cloud_url(ci: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_CLOUD_URL", "https://acme.eu.dagster.cloud/")
    assert ci.deployment_url("pr-7") == "https://acme.eu.dagster.cloud/pr-7"
    assert ci.run_url("pr-7", "abc") == "https://acme.eu.dagster.cloud/pr-7/runs/abc"


def test_outputs_round_trip(
    ci: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `--output` writes (a GitHub step output / GitLab dotenv file) `comment` reads back."""
    for key in ci.OUTPUT_KEYS:
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "values.env"
    ci.write_outputs(
        str(out), {"DAGSTER_PLUS_DEPLOYMENT": "pr-7", "DAGSTER_PLUS_RUN_STATUS": "FAILURE"}
    )
    ci.write_outputs(None, {"IGNORED": "x"})
    out.write_text(out.read_text() + "UNRELATED=1\n")
    assert ci.read_values(str(out)) == {
        "DAGSTER_PLUS_DEPLOYMENT": "pr-7",
        "DAGSTER_PLUS_RUN_STATUS": "FAILURE",
    }


def test_comment_body_links_the_deployment_and_the_run(ci: ModuleType) -> None:
    values = {
        "DAGSTER_PLUS_DEPLOYMENT": "pr-7",
        "DAGSTER_PLUS_DEPLOYMENT_URL": "https://acme.dagster.cloud/pr-7",
        "DAGSTER_PLUS_RUN_ID": "0123456789abcdef",
        "DAGSTER_PLUS_RUN_URL": "https://acme.dagster.cloud/pr-7/runs/0123456789abcdef",
        "DAGSTER_PLUS_RUN_STATUS": "FAILURE",
    }
    body = ci.comment_body(values, "f" * 40, "https://ci.example.com/run/1")
    assert body.startswith(ci.COMMENT_MARKER)  # how the next run finds the comment to update
    assert "[`pr-7`](https://acme.dagster.cloud/pr-7)" in body
    assert (
        "**FAILURE** ([run `01234567`](https://acme.dagster.cloud/pr-7/runs/0123456789abcdef))"
        in body
    )
    assert "`ffffffffffff`" in body and "(https://ci.example.com/run/1)" in body
    without_run = ci.comment_body({"DAGSTER_PLUS_DEPLOYMENT": "pr-7"}, "f" * 40, "u")
    assert "not launched" in without_run


def test_comment_needs_a_deployment(
    ci: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTION", "run")
    monkeypatch.delenv("DAGSTER_PLUS_DEPLOYMENT", raising=False)
    assert ci.main(["comment"]) == 1
    assert "no DAGSTER_PLUS_DEPLOYMENT value" in capsys.readouterr().err


def test_github_close_requires_a_closed_pull_request(
    ci: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_ACTION", "run")
    request = ci.ChangeRequest(
        repo_name="acme/repo",
        branch_name="feature",
        commit_hash="f" * 40,
        timestamp=0.0,
        number="7",
        url="",
        branch_url="",
        author_name="",
        author_email="",
        commit_message="",
        status="MERGED",
    )
    assert ci.closed_status(request, str(tmp_path)) == "MERGED"
    with pytest.raises(ci.CiError, match="is OPEN, not closed"):
        ci.closed_status(ci.ChangeRequest(**{**request.__dict__, "status": "OPEN"}), str(tmp_path))


def test_script_runs_on_its_own(no_ci: None, tmp_path: Path) -> None:
    """CI runs it as a plain script (`python ci/dagster_plus.py`), not as part of the package."""
    help_text = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    for command in ("branch-deployment", "launch", "close", "comment"):
        assert command in help_text


@pytest.mark.parametrize(
    ("action", "labels", "keep"),
    [
        ("opened", [], False),
        ("reopened", [], False),
        ("synchronize", [], True),
        ("synchronize", ["docs", "fresh-clone"], False),
    ],
)
def test_github_clone_lifecycle_keeps_the_clone_on_later_pushes(
    ci: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    action: str,
    labels: list[str],
    keep: bool,
) -> None:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"action": action, "pull_request": {"labels": [{"name": n} for n in labels]}})
    )
    monkeypatch.delenv("FRESH_CLONE", raising=False)
    monkeypatch.setenv("GITHUB_ACTION", "run")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    config = ci.clone_run_config("fresh-clone")
    assert config == {"ops": {"clone_production_database": {"config": {"keep_existing": keep}}}}
    # Without the option (reclone_on_every_push), clone_prod always re-clones.
    assert ci.clone_run_config(None) == {}


@pytest.mark.parametrize(
    ("labels", "fresh", "keep"),
    [("", "", True), ("docs,fresh-clone", "", False), ("docs", "1", False)],
)
def test_gitlab_clone_lifecycle_follows_the_label_and_the_manual_job(
    ci: ModuleType, monkeypatch: pytest.MonkeyPatch, labels: str, fresh: str, keep: bool
) -> None:
    monkeypatch.delenv("GITHUB_ACTION", raising=False)
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("CI_MERGE_REQUEST_LABELS", labels)
    monkeypatch.setenv("FRESH_CLONE", fresh)
    config = ci.clone_run_config("fresh-clone")
    assert config["ops"]["clone_production_database"]["config"]["keep_existing"] is keep


def test_set_image_deploys_only_a_digest_from_its_registry(
    ci: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tag can be pushed over after CI pushed it; a digest cannot."""
    monkeypatch.setenv("DAGSTER_BUILD_STATEDIR", str(tmp_path / "no-session"))
    digest = "sha256:" + "a" * 64
    with pytest.raises(ci.CiError, match="is not pinned by digest"):
        ci.record_image("registry.example.com/acme/prod:prod-abc", "registry.example.com/acme/prod")
    with pytest.raises(ci.CiError, match="not in the registry this job may deploy from"):
        ci.record_image(
            f"registry.example.com/acme/prod-branches@{digest}", "registry.example.com/acme/prod"
        )
    with pytest.raises(ci.CiError, match="no deploy session"):
        ci.record_image(
            f"registry.example.com/acme/prod@{digest}", "registry.example.com/acme/prod"
        )


def test_gitlab_refuses_a_second_merge_request_from_one_branch(
    ci: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTION", raising=False)
    monkeypatch.setenv("GITLAB_CI", "true")
    request = ci.ChangeRequest("acme_data", "feature", "abc", 0.0, "7", "", "", "", "", "", "OPEN")
    monkeypatch.setenv("CI_OPEN_MERGE_REQUESTS", "acme/acme_data!7")
    assert ci.other_open_change_requests(request) == []
    monkeypatch.setenv("CI_OPEN_MERGE_REQUESTS", "acme/acme_data!7,acme/acme_data!9")
    assert ci.other_open_change_requests(request) == ["acme/acme_data!9"]
    assert "(acme/acme_data!9)" in ci.shared_branch_message(request, ["acme/acme_data!9"])


def test_set_image_looks_for_the_session_where_dg_keeps_it(
    ci: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned dg CLI's default session folder, also when TMPDIR points elsewhere."""
    import tempfile

    from dagster_dg_cli.cli.plus.deploy.commands import DEFAULT_STATEDIR_PATH

    monkeypatch.delenv("DAGSTER_BUILD_STATEDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert ci.statedir() == Path(DEFAULT_STATEDIR_PATH)
    monkeypatch.setenv("DAGSTER_BUILD_STATEDIR", str(tmp_path / "session"))
    assert ci.statedir() == tmp_path / "session"
