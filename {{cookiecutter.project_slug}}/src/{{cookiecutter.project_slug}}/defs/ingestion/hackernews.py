"""Hacker News ingestion: ``items``, and the ``comments`` and ``stories`` filtered from it.

``items`` reads a bundled sample by default (offline, deterministic, what the tests use) and the
live Hacker News API when a run is configured with ``source: api``. The sample's timestamps are
shifted so that its newest item is "now": the dev data window and daily partitions then always
find data, whatever the date.
"""

import json
import time
from collections.abc import Callable
from importlib import resources
from typing import Literal

import dagster as dg
import requests

from ... import settings
from ...utils.automation import on_change
from ...utils.frames import DataFrame

KEY_PREFIX = [settings.PRODUCTION_DATABASE.lower(), settings.RAW_SCHEMA.lower()]
HACKERNEWS_API = "https://hacker-news.firebaseio.com/v0"
# The API's "by" and "time" are reserved words in Snowflake: renamed on the way in.
# Bump when the ingestion's logic changes: after the deploy, automation re-ingests and rebuilds
# everything downstream (docs/automation.md). The schedules own the daily runs.
CODE_VERSION = "1"
RENAMED = {"by": "author", "time": "posted_at"}
COLUMNS = [
    "id",
    "type",
    "author",
    "posted_at",
    "title",
    "text",
    "url",
    "score",
    "parent",
    "descendants",
]


class ItemsConfig(dg.Config):
    source: Literal["sample", "api"] = "sample"
    """``sample`` (bundled, offline) or ``api`` (the live Hacker News API)."""
    max_items: int = 500
    """With ``source: api``: how many of the newest items to fetch."""


def load_sample_items(now: float | None = None) -> list[dict[str, object]]:
    raw = resources.files(__package__).joinpath("data/hackernews_sample.json").read_text()
    items: list[dict[str, object]] = json.loads(raw)
    shift = int(now if now is not None else time.time()) - max(int(str(i["time"])) for i in items)
    return [{**item, "time": int(str(item["time"])) + shift} for item in items]


def fetch_api_items(max_items: int, session: requests.Session) -> list[dict[str, object]]:
    newest = int(session.get(f"{HACKERNEWS_API}/maxitem.json", timeout=10).json())
    items = []
    for item_id in range(newest, max(newest - max_items, 0), -1):
        item = session.get(f"{HACKERNEWS_API}/item/{item_id}.json", timeout=10).json()
        if item and not item.get("deleted") and not item.get("dead"):
            items.append(item)
    return items


def ingestion_asset(function: Callable[..., DataFrame]) -> dg.AssetsDefinition:
    """An ingestion asset: its place, its code version and its automation condition."""
    return dg.asset(
        key_prefix=KEY_PREFIX,
        group_name="hackernews",
        kinds={"python"},
        code_version=CODE_VERSION,
        automation_condition=on_change(),
    )(function)


def items_frame(items: list[dict[str, object]]) -> DataFrame:
    import pandas as pd  # at run time only (utils/frames.py)

    frame = pd.DataFrame(items).rename(columns=RENAMED).reindex(columns=COLUMNS)
    frame["posted_at"] = pd.to_datetime(frame["posted_at"], unit="s", utc=True).dt.tz_localize(None)
    for column in ("id", "score", "parent", "descendants"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    for column in ("type", "author", "title", "text", "url"):
        frame[column] = frame[column].astype("string")
    return frame.sort_values("id", ignore_index=True)


@ingestion_asset
def items(context: dg.AssetExecutionContext, config: ItemsConfig) -> DataFrame:
    """Every Hacker News item (stories, comments, jobs, polls) of the window ingested."""
    if config.source == "api":
        with requests.Session() as session:
            raw = fetch_api_items(config.max_items, session)
    else:
        raw = load_sample_items()
    frame = items_frame(raw)
    context.add_output_metadata({"dagster/row_count": len(frame), "source": config.source})
    return frame


def _of_type(frame: DataFrame, item_type: str) -> DataFrame:
    return frame[frame["type"] == item_type].reset_index(drop=True)


@ingestion_asset
def comments(context: dg.AssetExecutionContext, items: DataFrame) -> DataFrame:
    """Hacker News comments."""
    frame = _of_type(items, "comment")
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


@ingestion_asset
def stories(context: dg.AssetExecutionContext, items: DataFrame) -> DataFrame:
    """Hacker News stories."""
    frame = _of_type(items, "story")
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame
