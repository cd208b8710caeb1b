"""The Mode adapter against a local stand-in for Mode's API (no public Mode server exists).

The stand-in is modelled on Mode's API reference: HAL responses (items under ``_embedded``, the
next page at ``_links.next.href``), report objects with ``last_run_at``, ``runs_count``,
``view_count`` and ``archived``, queries with ``raw_query`` (Liquid parameters included), and
``PATCH /api/<workspace>/reports/<token>/archive``. Errors answer as Mode does: a status with a
JSON ``{"id": ..., "message": ...}`` body.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from stand_ins import Reply, Request, StandIn, closed_port_url, serve

from {{ cookiecutter.project_slug }}.defs.platform_health.lib.mode import ModeAdapter
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BIError, BIObject

WORKSPACE = "acme"
API = f"/api/{WORKSPACE}"
LIQUID_FORM = "{" + "% form %" + "}\nmin_score:\n  type: number\n{" + "% endform %" + "}"


def report(token: str, **fields: Any) -> dict[str, Any]:
    return {
        "token": token,
        "id": abs(hash(token)) % 10_000,
        "name": f"Report {token}",
        "created_at": "2025-01-10T08:00:00.000Z",
        "updated_at": "2025-02-01T08:00:00.000Z",
        "last_run_at": "2026-05-30T08:00:00.000Z",
        "runs_count": "12",
        "view_count": "30",
        "archived": False,
        "account_username": "ana",
        "_links": {
            "self": {"href": f"{API}/reports/{token}", "templated": False},
            "web": {
                "href": f"https://app.mode.com/{WORKSPACE}/reports/{token}",
                "templated": False,
            },
        },
        **fields,
    }


def hal(name: str, items: list[dict[str, Any]], next_href: str | None = None) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": "", "templated": False}}
    if next_href:
        links["next"] = {"href": next_href, "templated": False}
    return {"_links": links, "_embedded": {name: items}}


QUERIES = {
    "r1": [{"token": "q1", "raw_query": "select * from analytics.story_rankings"}],
    "r2": [
        {"token": "q2", "raw_query": "select * from analytics.author_activity"},
        {
            "token": "q3",
            "raw_query": "select * from staging.stg_stories where score > 1\n" + LIQUID_FORM,  # noqa: S608
        },
        {"token": "q4", "raw_query": ""},
    ],
    "r3": [],
}


def mode_routes(archived: list[str]) -> dict[tuple[str, str], Any]:
    def spaces(request: Request) -> Reply:
        assert request.query == {"filter": ["all"]}
        return Reply(
            body=hal(
                "spaces", [{"token": "s1", "name": "Marketing"}, {"token": "s2", "name": "Ops"}]
            )
        )

    def s1_reports(request: Request) -> Reply:
        if request.query.get("page") == ["2"]:
            return Reply(body=hal("reports", [report("r2")]))
        return Reply(body=hal("reports", [report("r1")], f"{API}/spaces/s1/reports?page=2"))

    def s2_reports(request: Request) -> Reply:
        return Reply(
            body=hal(
                "reports",
                [report("r3", last_run_at=None, runs_count="0", view_count="1", archived=True)],
            )
        )

    def archive(request: Request) -> Reply:
        archived.append(request.path.split("/")[-2])
        return Reply(body=report(request.path.split("/")[-2], archived=True))

    routes: dict[tuple[str, str], Any] = {
        ("GET", f"{API}/spaces"): spaces,
        ("GET", f"{API}/spaces/s1/reports"): s1_reports,
        ("GET", f"{API}/spaces/s2/reports"): s2_reports,
        ("PATCH", f"{API}/reports/r1/archive"): archive,
    }
    for token, queries in QUERIES.items():
        routes[("GET", f"{API}/reports/{token}/queries")] = lambda _r, q=queries: Reply(
            body=hal("queries", q)
        )
    return routes


@pytest.fixture
def archived() -> list[str]:
    return []


@pytest.fixture
def mode(archived: list[str]) -> Iterator[StandIn]:
    with serve(mode_routes(archived)) as stand_in:
        yield stand_in


def adapter(stand_in: StandIn) -> ModeAdapter:
    return ModeAdapter(WORKSPACE, "token", "secret", url=stand_in.url)


def test_lists_every_report_across_spaces_and_pages(mode: StandIn) -> None:
    objects = adapter(mode).list_objects()
    assert [o.node_id for o in objects] == ["mode:report:r1", "mode:report:r2", "mode:report:r3"]
    r1, r2, r3 = objects
    assert r1.url == f"https://app.mode.com/{WORKSPACE}/reports/r1"
    assert r1.created_at == datetime(2025, 1, 10, 8, tzinfo=UTC)
    assert r1.last_run_at == datetime(2026, 5, 30, 8, tzinfo=UTC)
    assert (r1.run_count, r1.view_count, r1.archived, r1.owners) == (12, 30, False, ("ana",))
    assert [q.sql for q in r2.queries] == [
        QUERIES["r2"][0]["raw_query"],
        QUERIES["r2"][1]["raw_query"],
    ]
    assert (r3.last_run_at, r3.run_count, r3.view_count, r3.archived) == (None, 0, 1, True)
    assert mode.calls() == [
        ("GET", f"{API}/spaces"),
        ("GET", f"{API}/spaces/s1/reports"),
        ("GET", f"{API}/reports/r1/queries"),
        ("GET", f"{API}/spaces/s1/reports"),
        ("GET", f"{API}/reports/r2/queries"),
        ("GET", f"{API}/spaces/s2/reports"),
        ("GET", f"{API}/reports/r3/queries"),
    ]
    # HTTP basic auth with the API token and secret, HAL requested.
    assert mode.requests[0].headers["authorization"] == "Basic dG9rZW46c2VjcmV0"
    assert mode.requests[0].headers["accept"] == "application/hal+json"


def test_archive_patches_the_report(mode: StandIn, archived: list[str]) -> None:
    obj = BIObject("mode:report:r1", "mode", "report", "Report r1")
    assert adapter(mode).archive(obj) == "archived"
    assert archived == ["r1"]
    assert mode.calls() == [("PATCH", f"{API}/reports/r1/archive")]


def test_archive_that_did_not_archive_is_an_error() -> None:
    routes = {("PATCH", f"{API}/reports/r9/archive"): lambda _r: Reply(body=report("r9"))}
    with serve(routes) as stand_in, pytest.raises(BIError, match="did not archive"):
        adapter(stand_in).archive(BIObject("mode:report:r9", "mode", "report", "r9"))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(401, {"id": "unauthorized", "message": "Unauthorized"}),
            "401 Unauthorized: check MODE_API_TOKEN / MODE_API_SECRET",
        ),
        (Reply(500, {"id": "internal", "message": "boom"}), "answered 500"),
        (Reply(200, raw=b"<html>maintenance</html>"), "malformed JSON: '<html>maintenance</html>'"),
        (Reply(200, {"_embedded": {"spaces": "not a list"}}), "malformed response"),
    ],
)
def test_api_failures_are_one_clear_error(reply: Reply, message: str) -> None:
    with (
        serve({("GET", f"{API}/spaces"): lambda _r: reply}) as stand_in,
        pytest.raises(BIError) as raised,
    ):
        adapter(stand_in).list_objects()
    assert message in str(raised.value)
    assert str(raised.value).startswith("mode")
    assert "\n" not in str(raised.value)


def test_api_down_is_one_clear_error() -> None:
    url = closed_port_url()
    with pytest.raises(BIError, match=f"mode at {url}/ is unreachable"):
        ModeAdapter(WORKSPACE, "token", "secret", url=url).list_objects()


def test_pagination_that_loops_is_refused() -> None:
    looping = {
        ("GET", f"{API}/spaces"): lambda _r: Reply(
            body=hal("spaces", [], f"{API}/spaces?filter=all")
        )
    }
    with serve(looping) as stand_in, pytest.raises(BIError, match="pagination"):
        adapter(stand_in).list_objects()


def test_bad_workspace_is_refused() -> None:
    with pytest.raises(BIError, match="workspace"):
        ModeAdapter("a/b", "token", "secret")
