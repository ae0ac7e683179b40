"""Edges of the credential scan that the mutation run showed were not pinned."""

from __future__ import annotations

from stategate.diff.scan import _assigned_credential as assigned


def test_an_assignment_only_the_line_start_pattern_sees_is_found() -> None:
    # a key longer than the inline pattern allows: only the whole-line pattern reads it
    line = "A" * 130 + "_PASSWORD=Xk9mP2vLq7Zt9"
    assert assigned(line) == "A" * 130 + "_PASSWORD"


def test_yaml_anchors_are_not_values_and_do_not_end_the_search() -> None:
    assert assigned("DB_PASSWORD: &Xk9mP2vLq7Zt9") is None
    assert assigned("DB_PASSWORD: &anchor API_TOKEN=Xk9mP2vLq7Zt9") == "API_TOKEN"


def test_prose_values_lose_trailing_punctuation_before_they_are_judged() -> None:
    # seven characters and a full stop: too short once the sentence's stop is removed
    assert assigned("the password is Xk9mP2v.") is None
    # the sentence's stop is not part of the value; an X is
    assert assigned("the password is Xk9mP2vLX") is None  # low entropy: repeated X
    assert assigned("the password is Xk9mP2vLq7Zt.") == "password"


def test_prose_needs_a_digit_or_mixed_case_not_both() -> None:
    assert assigned("connect with password xk9mp2vlq7zt4 to the db") == "password"
    assert assigned("connect with password xkQmpRvlqWztA to the db") == "password"
