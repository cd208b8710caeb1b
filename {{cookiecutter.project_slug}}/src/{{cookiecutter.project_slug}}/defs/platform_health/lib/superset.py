"""Apache Superset through its REST API (``/api/v1``): datasets, charts, dashboards, saved queries.

Usage comes from Superset's own records, the ones its "Recents" use: the action log's
``mount_dashboard`` / ``mount_explorer`` events (a dashboard or a chart opened) and SQL Lab's
query history (a saved query's SQL run successfully on its database). Superset keeps one count
for both, so views and runs are the same number here. A chart is also seen whenever a dashboard
holding it is. Superset's API gives exact change times but only humanized creation times, so an
object's age is measured from its last change.

Superset has no archive: the nearest equivalent for a stale dashboard is unpublishing it (it
leaves other users' lists and stays a consumer, so nothing reading it is proposed for removal);
stale charts and saved queries are recorded for people to review.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from . import rison
from .http import JsonApi, expect, parse_timestamp
from .model import BIError, BIObject, BIQuery, required_variable

TOOL = "superset"
PAGE_SIZE = 100
DATASET_COLUMNS = ["id", "table_name", "schema", "sql", "kind", "database.id", "changed_on_utc"]
CHART_COLUMNS = [
    "id",
    "slice_name",
    "datasource_id",
    "datasource_type",
    "dashboards.id",
    "changed_on_utc",
    "owners.email",
    "url",
]
DASHBOARD_COLUMNS = [
    "id",
    "dashboard_title",
    "published",
    "changed_on_utc",
    "owners.email",
    "url",
]
SAVED_QUERY_COLUMNS = ["id", "label", "sql", "schema", "database.id", "changed_on", "created_on"]
# The frontend's events for "a dashboard was opened" and "a chart was opened in Explore".
DASHBOARD_VIEW_EVENT = "mount_dashboard"
CHART_VIEW_EVENT = "mount_explorer"


def _node(kind: str, object_id: Any) -> str:
    return f"{TOOL}:{kind}:{object_id}"


def _normalized_sql(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip().lower()


def from_environment(environ: Mapping[str, str]) -> SupersetAdapter:
    """The adapter ``bi_tool: superset`` runs with (lib/config.py lists the variables)."""
    why = "platform health reads Superset (bi_tool=superset)"
    return SupersetAdapter(
        required_variable(environ, "SUPERSET_URL", why),
        required_variable(environ, "SUPERSET_USERNAME", why),
        required_variable(environ, "SUPERSET_PASSWORD", why),
        provider=environ.get("SUPERSET_AUTH_PROVIDER", "db") or "db",
    )


class SupersetAdapter:
    """Reads every object and its usage; ``lookback_days`` bounds how much log is read."""

    tool = TOOL

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        provider: str = "db",
        lookback_days: int = 365,
        session: requests.Session | None = None,
        now: datetime | None = None,
    ) -> None:
        self.api = JsonApi(TOOL, url, "SUPERSET_USERNAME / SUPERSET_PASSWORD", session)
        self._credentials = {"username": username, "password": password, "provider": provider}
        self._lookback_days = lookback_days
        self._now = now
        self._logged_in = False

    # --- session -----------------------------------------------------------------------------

    def _login(self) -> None:
        """JWT login, then a CSRF token for writes (Superset checks both)."""
        if self._logged_in:
            return
        body = self.api.request(
            "POST", "/api/v1/security/login", json={**self._credentials, "refresh": False}
        )
        token = expect(body, dict, "login response", TOOL).get("access_token")
        expect(token, str, "login response's access_token", TOOL)
        self.api.session.headers["Authorization"] = f"Bearer {token}"
        csrf = self.api.request("GET", "/api/v1/security/csrf_token/")
        self.api.session.headers["X-CSRFToken"] = expect(
            expect(csrf, dict, "csrf_token response", TOOL).get("result"),
            str,
            "csrf_token result",
            TOOL,
        )
        self.api.session.headers["Referer"] = self.api.base_url
        self._logged_in = True

    def _list(self, resource: str, columns: list[str], **query: Any) -> Iterator[dict[str, Any]]:
        """Every row of ``GET /api/v1/<resource>/``, page by page."""
        seen = 0
        for page in range(100_000):
            q = rison.dumps({"columns": columns, **query, "page": page, "page_size": PAGE_SIZE})
            body = expect(
                self.api.request("GET", f"/api/v1/{resource}/", params={"q": q}),
                dict,
                f"{resource} list",
                TOOL,
            )
            rows = expect(body.get("result"), list, f"{resource} list's result", TOOL)
            total = body.get("count")
            for row in rows:
                yield expect(row, dict, f"a {resource} row", TOOL)
            seen += len(rows)
            if not rows or (isinstance(total, int) and seen >= total):
                return
        raise BIError(f"{TOOL}: {resource} list did not end")

    # --- usage -------------------------------------------------------------------------------

    def _since(self) -> datetime:
        return (self._now or datetime.now(UTC)) - timedelta(days=self._lookback_days)

    def _view_events(self) -> tuple[Counter[int], Counter[int], dict[str, datetime]]:
        """(views per dashboard id, views per chart id, last view per node id) from the log."""
        dashboards: Counter[int] = Counter()
        charts: Counter[int] = Counter()
        last: dict[str, datetime] = {}
        since = self._since().replace(tzinfo=None).isoformat(timespec="seconds")
        filters = [
            {"col": "action", "opr": "eq", "value": "log"},
            {"col": "dttm", "opr": "gt", "value": since},
        ]
        columns = ["dashboard_id", "slice_id", "dttm", "json"]
        for row in self._list("log", columns, filters=filters):
            try:
                event = json.loads(row.get("json") or "{}").get("event_name")
            except (ValueError, AttributeError):
                continue
            when = parse_timestamp(row.get("dttm"))
            if event == DASHBOARD_VIEW_EVENT and row.get("dashboard_id") is not None:
                key, node = int(row["dashboard_id"]), _node("dashboard", row["dashboard_id"])
                dashboards[key] += 1
            elif event == CHART_VIEW_EVENT and row.get("slice_id") is not None:
                key, node = int(row["slice_id"]), _node("chart", row["slice_id"])
                charts[key] += 1
            else:
                continue
            if when and (node not in last or when > last[node]):
                last[node] = when
        return dashboards, charts, last

    def _query_runs(self) -> dict[tuple[int, str], list[datetime]]:
        """Successful SQL Lab runs by (database id, normalized SQL)."""
        runs: dict[tuple[int, str], list[datetime]] = {}
        since_ms = int(self._since().timestamp() * 1000)
        filters = [
            {"col": "status", "opr": "eq", "value": "success"},
            {"col": "start_time", "opr": "gt", "value": since_ms},
        ]
        columns = ["sql", "database.id", "start_time", "status"]
        for row in self._list("query", columns, filters=filters):
            database = (row.get("database") or {}).get("id")
            if database is None or not row.get("sql") or row.get("status") != "success":
                continue
            started = datetime.fromtimestamp(float(row["start_time"]) / 1000, UTC)
            runs.setdefault((int(database), _normalized_sql(row["sql"])), []).append(started)
        return runs

    # --- objects -----------------------------------------------------------------------------

    def list_objects(self) -> list[BIObject]:
        self._login()
        dashboard_views, chart_views, last_view = self._view_events()
        query_runs = self._query_runs()
        objects = [self._dataset(row) for row in self._list("dataset", DATASET_COLUMNS)]
        dashboards = list(self._list("dashboard", DASHBOARD_COLUMNS))
        charts = list(self._list("chart", CHART_COLUMNS))
        charts_on: dict[int, list[int]] = {}
        for chart in charts:
            for dashboard in chart.get("dashboards") or []:
                charts_on.setdefault(int(dashboard["id"]), []).append(int(chart["id"]))
        for row in dashboards:
            node = _node("dashboard", row["id"])
            views = dashboard_views[int(row["id"])]
            objects.append(
                BIObject(
                    node_id=node,
                    tool=TOOL,
                    kind="dashboard",
                    name=str(row.get("dashboard_title") or node),
                    url=self.api.url(row["url"]) if row.get("url") else None,
                    owners=self._owners(row),
                    changed_at=parse_timestamp(row.get("changed_on_utc")),
                    last_run_at=last_view.get(node),
                    run_count=views,
                    view_count=views,
                    reads_from=tuple(
                        _node("chart", c) for c in sorted(charts_on.get(row["id"], []))
                    ),
                )
            )
        for row in charts:
            node = _node("chart", row["id"])
            on = [int(d["id"]) for d in row.get("dashboards") or []]
            views = chart_views[int(row["id"])] + sum(dashboard_views[d] for d in on)
            seen = [
                last_view[n] for n in [node, *(_node("dashboard", d) for d in on)] if n in last_view
            ]
            reads = (
                (_node("dataset", row["datasource_id"]),)
                if row.get("datasource_type") == "table" and row.get("datasource_id") is not None
                else ()
            )
            objects.append(
                BIObject(
                    node_id=node,
                    tool=TOOL,
                    kind="chart",
                    name=str(row.get("slice_name") or node),
                    url=self.api.url(row["url"]) if row.get("url") else None,
                    owners=self._owners(row),
                    changed_at=parse_timestamp(row.get("changed_on_utc")),
                    last_run_at=max(seen) if seen else None,
                    run_count=views,
                    view_count=views,
                    reads_from=reads,
                )
            )
        for row in self._list("saved_query", SAVED_QUERY_COLUMNS):
            node = _node("saved_query", row["id"])
            database = (row.get("database") or {}).get("id")
            sql = str(row.get("sql") or "")
            runs = query_runs.get((int(database), _normalized_sql(sql)), []) if database else []
            objects.append(
                BIObject(
                    node_id=node,
                    tool=TOOL,
                    kind="saved_query",
                    name=str(row.get("label") or node),
                    url=self.api.url(f"/sqllab/?savedQueryId={row['id']}"),
                    changed_at=parse_timestamp(row.get("changed_on")),
                    last_run_at=max(runs) if runs else None,
                    run_count=len(runs),
                    view_count=len(runs),
                    queries=(BIQuery(node, sql, row.get("schema") or None),) if sql else (),
                )
            )
        return sorted(objects, key=lambda o: o.node_id)

    def _dataset(self, row: dict[str, Any]) -> BIObject:
        node = _node("dataset", row["id"])
        schema = row.get("schema") or None
        sql = row.get("sql")
        virtual = bool(sql and sql.strip())
        table = str(row.get("table_name") or "")
        return BIObject(
            node_id=node,
            tool=TOOL,
            kind="dataset",
            name=table or node,
            url=self.api.url(f"/explore/?datasource_type=table&datasource_id={row['id']}"),
            changed_at=parse_timestamp(row.get("changed_on_utc")),
            queries=(BIQuery(node, str(sql), schema),) if virtual else (),
            tables=() if virtual or not table else (f"{schema}.{table}" if schema else table,),
        )

    @staticmethod
    def _owners(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(sorted(o["email"] for o in row.get("owners") or [] if o.get("email")))

    # --- actions -----------------------------------------------------------------------------

    def archive(self, obj: BIObject) -> str:
        """Unpublish a dashboard; charts and saved queries have no equivalent (recorded only)."""
        match = re.fullmatch(rf"{TOOL}:dashboard:(\d+)", obj.node_id)
        if not match:
            return f"no archive in Superset for a {obj.kind}: listed for review, left as it is"
        self._login()
        self.api.request("PUT", f"/api/v1/dashboard/{match.group(1)}", json={"published": False})
        return "unpublished (hidden from other users' dashboard lists)"
