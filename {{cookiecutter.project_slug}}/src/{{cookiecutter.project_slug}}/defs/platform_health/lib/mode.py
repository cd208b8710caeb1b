"""Mode through its REST API (``/api/<workspace>``, HAL responses, HTTP basic auth).

Reports live in spaces ("Collections" in Mode's UI). A report's queries carry their raw SQL
(with Mode's Liquid parameters, stripped before parsing); the report object itself carries its
last run, run count, view count and whether it is archived. Lists follow HAL: items under
``_embedded.<name>``, the next page at ``_links.next.href`` when there is one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import requests

from .http import JsonApi, expect, parse_timestamp
from .model import BIError, BIObject, BIQuery, required_variable

TOOL = "mode"
DEFAULT_URL = "https://app.mode.com"
MAX_PAGES = 10_000


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def from_environment(environ: Mapping[str, str]) -> ModeAdapter:
    """The adapter ``bi_tool: mode`` runs with (lib/config.py lists the variables)."""
    why = "platform health reads Mode (bi_tool=mode)"
    return ModeAdapter(
        required_variable(environ, "MODE_WORKSPACE", why),
        required_variable(environ, "MODE_API_TOKEN", why),
        required_variable(environ, "MODE_API_SECRET", why),
        url=environ.get("MODE_URL", "") or DEFAULT_URL,
    )


class ModeAdapter:
    tool = TOOL

    def __init__(
        self,
        workspace: str,
        token: str,
        secret: str,
        url: str = DEFAULT_URL,
        session: requests.Session | None = None,
    ) -> None:
        if not workspace or "/" in workspace:
            raise BIError(f"{TOOL}: workspace {workspace!r} is not a Mode workspace name")
        session = session or requests.Session()
        session.auth = (token, secret)
        session.headers["Accept"] = "application/hal+json"
        self.api = JsonApi(TOOL, url, "MODE_API_TOKEN / MODE_API_SECRET", session)
        self.workspace = workspace

    def _embedded(self, path: str, name: str) -> Iterator[dict[str, Any]]:
        """Every ``_embedded.<name>`` item of ``path`` and the pages after it."""
        seen: set[str] = set()
        next_path: str | None = path
        while next_path:
            if next_path in seen or len(seen) >= MAX_PAGES:
                raise BIError(f"{TOOL}: pagination of {path} loops at {next_path}")
            seen.add(next_path)
            body = expect(self.api.request("GET", next_path), dict, f"{path} response", TOOL)
            embedded = expect(body.get("_embedded", {}), dict, f"{path}'s _embedded", TOOL)
            for item in expect(embedded.get(name, []), list, f"{path}'s _embedded.{name}", TOOL):
                yield expect(item, dict, f"an item of {path}", TOOL)
            link = (body.get("_links") or {}).get("next") or {}
            next_path = link.get("href") if isinstance(link, dict) else None

    def list_objects(self) -> list[BIObject]:
        objects = []
        base = f"/api/{self.workspace}"
        for space in self._embedded(f"{base}/spaces?filter=all", "spaces"):
            for report in self._embedded(f"{base}/spaces/{space['token']}/reports", "reports"):
                objects.append(self._report(base, report))
        return sorted(objects, key=lambda o: o.node_id)

    def _report(self, base: str, report: dict[str, Any]) -> BIObject:
        token = expect(report.get("token"), str, "a report's token", TOOL)
        node = f"{TOOL}:report:{token}"
        queries = tuple(
            BIQuery(f"{node}:query:{q.get('token')}", str(q.get("raw_query") or ""))
            for q in self._embedded(f"{base}/reports/{token}/queries", "queries")
            if q.get("raw_query")
        )
        web = ((report.get("_links") or {}).get("web") or {}).get("href")
        return BIObject(
            node_id=node,
            tool=TOOL,
            kind="report",
            name=str(report.get("name") or token),
            url=str(web) if web else self.api.url(f"/{self.workspace}/reports/{token}"),
            owners=tuple(str(o) for o in [report.get("account_username")] if o),
            created_at=parse_timestamp(report.get("created_at")),
            changed_at=parse_timestamp(report.get("updated_at")),
            last_run_at=parse_timestamp(report.get("last_run_at")),
            run_count=_count(report.get("runs_count")),
            view_count=_count(report.get("view_count")),
            archived=bool(report.get("archived")),
            queries=queries,
        )

    def archive(self, obj: BIObject) -> str:
        prefix = f"{TOOL}:report:"
        if not obj.node_id.startswith(prefix):
            raise BIError(f"{TOOL}: {obj.node_id} is not a Mode report")
        token = obj.node_id.removeprefix(prefix)
        body = self.api.request("PATCH", f"/api/{self.workspace}/reports/{token}/archive")
        if not isinstance(body, dict) or body.get("archived") is not True:
            raise BIError(f"{TOOL}: archiving report {token} did not archive it")
        return "archived"
