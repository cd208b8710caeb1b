"""Snowflake identifiers: validated before they go anywhere near SQL, then quoted.

Only unquoted-style identifiers (``[A-Za-z_][A-Za-z0-9_$]*``) are accepted, upper-cased the way
Snowflake resolves them, and emitted double-quoted. A name that does not match never reaches a
statement, so no answer, environment variable or pull request id can inject SQL.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")


class InvalidIdentifierError(ValueError):
    """A name that is not a safe Snowflake identifier."""


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` upper-cased, or raise naming ``what`` and the allowed form."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidIdentifierError(
            f"{what}: {value!r} is not a valid Snowflake identifier "
            "(a letter or '_', then letters, digits, '_' or '$'; at most 255 characters)"
        )
    return value.upper()


def quote_identifier(value: str, what: str = "identifier") -> str:
    """Validate ``value`` and return it double-quoted, ready to put in SQL."""
    return f'"{validate_identifier(value, what)}"'
