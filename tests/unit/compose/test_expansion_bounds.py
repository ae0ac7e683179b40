"""Interpolation and .env expansion are bounded: bombs and deep nesting are input errors."""

from __future__ import annotations

import pytest

from stategate.compose.diagnostics import Diagnostics
from stategate.compose.envfile import parse_env
from stategate.compose.interpolate import (
    MAX_NESTING,
    MAX_VALUE_CHARS,
    ExpansionBudget,
    InterpolationError,
    interpolate_tree,
    substitute,
)
from stategate.errors import InputError
from stategate.yamlfile import Loc, loads


def test_env_file_exponential_chain_is_refused_naming_file_and_line() -> None:
    lines = ["A0=" + "x" * 64] + [f"A{i}=${{A{i - 1}}}${{A{i - 1}}}" for i in range(1, 40)]
    with pytest.raises(InputError, match=r"^\.env:16: a value expands to more than") as err:
        parse_env("\n".join(lines), ".env")
    assert err.value.file == ".env"


def test_env_file_total_is_bounded() -> None:
    # each value is under the per-value limit; together they pass the file's total
    big = "v" * (MAX_VALUE_CHARS // 2)
    lines = [f"A={big}"] + [f"B{i}=${{A}}" for i in range(40)]
    with pytest.raises(InputError, match="in total"):
        parse_env("\n".join(lines), ".env")


def test_short_chains_still_expand() -> None:
    env = parse_env("A=x\nB=${A}${A}\nC=${B}-${B:-no}\n", ".env")
    assert env["C"] == "xx-xx"


def test_nested_defaults_stop_at_the_limit() -> None:
    ok = "${A:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(ok, {}).text == "x"
    deep = "${A:-" * (MAX_NESTING + 2) + "x" + "}" * (MAX_NESTING + 2)
    with pytest.raises(InterpolationError, match="nested deeper"):
        substitute(deep, {})


def test_a_value_referencing_a_big_variable_many_times_is_refused() -> None:
    env = {"V": "v" * (MAX_VALUE_CHARS // 4)}
    with pytest.raises(InterpolationError, match="expands to more than"):
        substitute("${V}" * 8, env)


def test_tree_interpolation_names_file_and_line_and_shares_a_budget() -> None:
    doc = loads("services:\n  a:\n    image: ${V}\n    command: ${V}${V}\n", "compose.yml")
    env = {"V": "v" * 1000}
    budget = ExpansionBudget(2500)
    with pytest.raises(InputError, match=r"^compose.yml:4: variables expand to more than 2500"):
        interpolate_tree(doc, env, Diagnostics(), Loc("compose.yml", 1), budget)
