import pytest

from {{ cookiecutter.project_slug }}.utils.identifiers import (
    InvalidIdentifierError,
    quote_identifier,
    validate_identifier,
)


@pytest.mark.parametrize(
    ("value", "expected"), [("production", "PRODUCTION"), ("_x$1", "_X$1"), ("A" * 255, "A" * 255)]
)
def test_valid_identifiers_are_upper_cased(value: str, expected: str) -> None:
    assert validate_identifier(value) == expected
    assert quote_identifier(value) == f'"{expected}"'


@pytest.mark.parametrize("value", ["", "1abc", "a-b", 'a"b', "a b", "a;drop", "A" * 256, "été"])
def test_invalid_identifiers_name_the_field(value: str) -> None:
    with pytest.raises(
        InvalidIdentifierError, match=r"^clone database: .* is not a valid Snowflake identifier"
    ):
        validate_identifier(value, "clone database")
