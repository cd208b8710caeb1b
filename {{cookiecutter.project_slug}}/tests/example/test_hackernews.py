import pandas as pd

from {{ cookiecutter.project_slug }}.defs.ingestion.hackernews import (
    fetch_api_items,
    items_frame,
    load_sample_items,
)


def test_sample_is_rebased_to_now() -> None:
    items = load_sample_items(now=2_000_000_000)
    assert max(int(str(i["time"])) for i in items) == 2_000_000_000
    assert {i["type"] for i in items} == {"story", "comment"}
    assert len({i["id"] for i in items}) == len(items)


def test_items_frame_types_and_order() -> None:
    frame = items_frame(load_sample_items(now=1_800_000_000))
    assert list(frame.columns) == [
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
    assert pd.api.types.is_datetime64_any_dtype(frame["posted_at"])
    assert frame["id"].is_monotonic_increasing
    comments = frame[frame["type"] == "comment"]
    assert comments["parent"].notna().all()
    assert set(comments["parent"]) <= set(frame.loc[frame["type"] == "story", "id"])


class FakeResponse:
    def __init__(self, payload: object) -> None:
        self.payload = payload

    def json(self) -> object:
        return self.payload


class FakeSession:
    """Stands in for the network only; the parsing under test is the real code."""

    def __init__(self, items: dict[int, dict[str, object] | None]) -> None:
        self.items = items
        self.urls: list[str] = []

    def get(self, url: str, timeout: float) -> FakeResponse:
        self.urls.append(url)
        if url.endswith("maxitem.json"):
            return FakeResponse(max(self.items))
        return FakeResponse(self.items[int(url.rsplit("/", 1)[1].removesuffix(".json"))])


def test_fetch_api_items_skips_dead_and_deleted() -> None:
    session = FakeSession(
        {
            10: {"id": 10, "type": "story", "time": 1},
            9: {"id": 9, "type": "comment", "time": 1, "dead": True},
            8: None,
            7: {"id": 7, "type": "comment", "time": 1, "deleted": True},
            6: {"id": 6, "type": "comment", "time": 1},
        }
    )
    items = fetch_api_items(5, session)  # type: ignore[arg-type]
    assert [i["id"] for i in items] == [10, 6]
    assert len(session.urls) == 6
