"""When is a BI report stale? Not run for a long time, or barely used for long enough.

Defaults follow the source pattern: stale when not run in 100 days, or when it has fewer than 5
runs and fewer than 5 views and is older than 60 days. Usage the tool does not report (None)
never makes anything stale: unknown is not unused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The kinds of BI object people run or look at (datasets are only built on).
REPORT_KINDS = ("dashboard", "chart", "saved_query", "report")


@dataclass(frozen=True)
class StalenessRules:
    max_days_without_run: int = 100
    min_runs: int = 5
    min_views: int = 5
    min_age_days: int = 60

    def __post_init__(self) -> None:
        for name in ("max_days_without_run", "min_runs", "min_views", "min_age_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: {getattr(self, name)} must not be negative")


def staleness_reason(
    node: Mapping[str, Any], now: datetime, rules: StalenessRules = StalenessRules()
) -> str | None:
    """Why a BI object (platform graph node attributes) is stale, or None if it is not."""
    if node.get("kind") not in REPORT_KINDS or node.get("archived"):
        return None
    last_run: datetime | None = node.get("last_run_at")
    reference: datetime | None = node.get("created_at") or node.get("changed_at")
    age = (now - reference).days if reference else None
    if last_run is not None:
        idle = (now - last_run).days
        if idle > rules.max_days_without_run:
            return f"not run in {idle} days (limit {rules.max_days_without_run})"
    elif age is not None and age > rules.max_days_without_run:
        return f"never run in its {age} days (limit {rules.max_days_without_run})"
    runs, views = node.get("run_count"), node.get("view_count")
    if (
        runs is not None
        and views is not None
        and age is not None
        and runs < rules.min_runs
        and views < rules.min_views
        and age > rules.min_age_days
    ):
        return (
            f"{runs} runs and {views} views in {age} days "
            f"(fewer than {rules.min_runs} runs and {rules.min_views} views after "
            f"{rules.min_age_days} days)"
        )
    return None
