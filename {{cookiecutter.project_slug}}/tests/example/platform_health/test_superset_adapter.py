"""The Superset adapter's failures, against a local stand-in answering as Superset does.

Its success path runs against a real Apache Superset in the template's own test suite (installed
from PyPI, objects created through its REST API); here: a Superset that is down, refuses the
login, or answers something that is not the JSON its API documents. Each is one clear line, and
nothing is written to Superset.
"""

from typing import Any

import pytest
from stand_ins import Reply, closed_port_url, serve

from {{ cookiecutter.project_slug }}.defs.platform_health.lib import rison
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.model import BIError, BIObject
from {{ cookiecutter.project_slug }}.defs.platform_health.lib.superset import SupersetAdapter

LOGIN = ("POST", "/api/v1/security/login")
CSRF = ("GET", "/api/v1/security/csrf_token/")


def adapter(url: str) -> SupersetAdapter:
    return SupersetAdapter(url, "admin", "wrong")


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            {LOGIN: lambda _r: Reply(401, {"message": "Not authorized"})},
            "superset: POST /api/v1/security/login answered 401 Unauthorized: check SUPERSET_USERNAME / SUPERSET_PASSWORD",
        ),
        (
            {LOGIN: lambda _r: Reply(200, raw=b"<!doctype html>")},
            "superset: POST /api/v1/security/login answered malformed JSON: '<!doctype html>'",
        ),
        (
            {LOGIN: lambda _r: Reply(200, {"token": "x"})},
            "superset: malformed response: login response's access_token is not a str",
        ),
        (
            {
                LOGIN: lambda _r: Reply(200, {"access_token": "jwt"}),
                CSRF: lambda _r: Reply(200, {"result": "csrf"}),
                ("GET", "/api/v1/log/"): lambda _r: Reply(500, {"message": "Internal error"}),
            },
            "superset: GET /api/v1/log/ answered 500",
        ),
        (
            {
                LOGIN: lambda _r: Reply(200, {"access_token": "jwt"}),
                CSRF: lambda _r: Reply(200, {"result": "csrf"}),
                ("GET", "/api/v1/log/"): lambda _r: Reply(200, {"result": "nope", "count": 1}),
            },
            "superset: malformed response: log list's result is not a list",
        ),
    ],
)
def test_failures_are_one_clear_line(routes: dict[tuple[str, str], Any], message: str) -> None:
    with serve(routes) as stand_in, pytest.raises(BIError) as raised:
        adapter(stand_in.url).list_objects()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert not [call for call in stand_in.calls() if call[0] in ("PUT", "PATCH", "DELETE")]


def test_superset_down_is_one_clear_line() -> None:
    url = closed_port_url()
    with pytest.raises(BIError, match=f"superset at {url}/ is unreachable"):
        adapter(url).list_objects()


def test_not_an_http_url_is_refused() -> None:
    with pytest.raises(BIError, match="is not an http"):
        SupersetAdapter("superset.example.com", "a", "b")


def test_only_dashboards_have_an_archive_equivalent() -> None:
    chart = BIObject("superset:chart:3", "superset", "chart", "c")
    assert adapter("http://127.0.0.1:9").archive(chart).startswith("no archive in Superset")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ({"columns": ["id", "dashboards.id"], "page": 0}, "(columns:!(id,dashboards.id),page:0)"),
        (
            {"col": "dttm", "opr": "gt", "value": "2026-01-01T00:00:00"},
            "(col:dttm,opr:gt,value:'2026-01-01T00:00:00')",
        ),
        ("it's 100%!", "'it!'s 100%!!'"),
        ([True, False, None, -1], "!(!t,!f,!n,-1)"),
    ],
)
def test_rison_encoding(value: object, encoded: str) -> None:
    assert rison.dumps(value) == encoded
