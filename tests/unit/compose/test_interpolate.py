from __future__ import annotations

import pytest

from stategate.compose.envfile import parse_env
from stategate.compose.interpolate import MissingRequiredError, substitute

ENV = {"SET": "v", "EMPTY": "", "TAG": "16.4"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "v"),
        ("$SET/x", "v/x"),
        ("$$SET", "$SET"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${SET:+r}", "r"),
        ("${EMPTY:+r}", ""),
        ("${EMPTY+r}", "r"),
        ("${UNSET:-${TAG}-alpine}", "16.4-alpine"),
        ("postgres:${TAG}", "postgres:16.4"),
    ],
)
def test_substitution_forms(text: str, expected: str) -> None:
    result = substitute(text, ENV)
    assert result.text == expected
    assert not result.unresolved


def test_unset_variables_are_empty_and_reported() -> None:
    result = substitute("postgres:${PGTAG}", ENV)
    assert result.text == "postgres:"
    assert result.unresolved == ["PGTAG"]


def test_required_variable_reports_its_message() -> None:
    with pytest.raises(MissingRequiredError) as caught:
        substitute("${PW:?set it in the vault}", ENV)
    assert str(caught.value) == "required variable PW is missing a value: set it in the vault"


def test_env_file_quotes_comments_export_and_references() -> None:
    env = parse_env('# c\nexport A=1\nB=\'x y\'\nC="q\\"z"\nD=${A}-2 # comment\nE=\n', ".env")
    assert env == {"A": "1", "B": "x y", "C": 'q"z', "D": "1-2", "E": ""}
