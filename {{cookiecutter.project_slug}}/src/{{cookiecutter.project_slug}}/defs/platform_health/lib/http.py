"""A small JSON-over-HTTP client whose every failure is one clear :class:`BIError` line.

BI tools fail in a handful of ways: unreachable, credentials refused (401/403), an error status,
or a body that is not the JSON promised. Each becomes a message naming the tool, the request
and what to check, so the asset fails with it before anything is changed anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests

from .model import BIError

DEFAULT_TIMEOUT_SECONDS = 30.0


class JsonApi:
    """``request()`` returns parsed JSON or raises :class:`BIError`."""

    def __init__(
        self,
        tool: str,
        base_url: str,
        credentials_hint: str,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not re.match(r"https?://", base_url):
            raise BIError(f"{tool}: {base_url!r} is not an http(s) URL")
        self.tool = tool
        self.base_url = base_url.rstrip("/") + "/"
        self.credentials_hint = credentials_hint
        self.session = session or requests.Session()
        self.timeout = timeout

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        what = f"{method} {path.split('?')[0]}"
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                json=json,
                data=data,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise BIError(
                f"{self.tool} at {self.base_url} is unreachable ({what}: {type(error).__name__})"
            ) from None
        if response.status_code in (401, 403):
            raise BIError(
                f"{self.tool}: {what} answered {response.status_code} {response.reason}: "
                f"check {self.credentials_hint}"
            )
        if not response.ok:
            body = " ".join(response.text.split())[:200]
            raise BIError(f"{self.tool}: {what} answered {response.status_code}: {body}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            start = " ".join(response.text.split())[:60]
            raise BIError(f"{self.tool}: {what} answered malformed JSON: {start!r}") from None


def expect(value: Any, kind: type, where: str, tool: str) -> Any:
    """``value`` if it is a ``kind``, else a :class:`BIError` saying the response is malformed."""
    if not isinstance(value, kind):
        raise BIError(f"{tool}: malformed response: {where} is not a {kind.__name__}")
    return value


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 (naive means UTC, as Superset's and Mode's are) -> aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value).replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):  # "+0000" -> "+00:00"
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
