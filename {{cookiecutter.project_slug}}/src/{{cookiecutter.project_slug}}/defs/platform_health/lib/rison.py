"""Rison, the URL-friendly JSON Superset's REST API takes in ``?q=``.

Only what the Superset adapter sends: objects, lists, strings, integers and booleans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Rison "id" characters: strings made only of these (not starting with a digit or '-') need
# no quotes.
_ID = re.compile(r"[A-Za-z_./~][A-Za-z0-9_./~-]*")


def dumps(value: Any) -> str:
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if value is None:
        return "!n"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _ID.fullmatch(value):
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, Mapping):
        return "(" + ",".join(f"{dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + ")"
    if isinstance(value, Sequence):
        return "!(" + ",".join(dumps(item) for item in value) + ")"
    raise TypeError(f"rison: cannot encode {type(value).__name__}")
