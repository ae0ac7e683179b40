from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.yamlfile import MAX_FILE_BYTES, load_file, loads


def test_yaml_1_2_scalars_stay_strings() -> None:
    doc = loads("a: yes\nb: 22:22\nc: on\nd: 0o17\ne: 1.5\nf: ~\ng: true\n", "x.yml")
    assert doc == {"a": "yes", "b": "22:22", "c": "on", "d": 15, "e": 1.5, "f": None, "g": True}


def test_every_key_and_item_keeps_its_line() -> None:
    doc = loads("services:\n  db:\n    ports:\n      - 80:80\n      - 443:443\n", "c.yml")
    assert doc["services"].key_loc("db").line == 2
    assert doc["services"]["db"]["ports"].item_loc(1).line == 5
    assert str(doc["services"].key_loc("db")) == "c.yml:2"


def test_merge_keys_explicit_wins_and_lines_point_at_the_anchor() -> None:
    text = "x: &b\n  image: a\n  restart: always\ns:\n  <<: *b\n  image: c\n"
    doc = loads(text, "m.yml")
    assert doc["s"] == {"image": "c", "restart": "always"}
    assert doc["s"].key_loc("restart").line == 3


def test_merge_key_list_first_wins() -> None:
    doc = loads("a: &a {k: 1}\nb: &b {k: 2, j: 3}\nc:\n  <<: [*a, *b]\n", "m.yml")
    assert doc["c"] == {"k": 1, "j": 3}


def test_reset_and_override_tags_are_recorded() -> None:
    doc = loads("s:\n  ports: !reset []\n  environment: !override {A: 1}\n", "o.yml")
    assert doc["s"].directives == {"ports": "reset", "environment": "override"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: !!python/object/apply:os.system [ls]\n", "unsupported YAML tag"),
        ("a: !custom x\n", "unsupported YAML tag"),
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: [1\n", "invalid YAML"),
        ("a: &x [*x]\n", "recursive YAML alias"),
    ],
)
def test_hostile_or_broken_yaml_is_a_clear_error(text: str, needle: str) -> None:
    with pytest.raises(InputError) as err:
        loads(text, "bad.yml")
    assert needle in str(err.value)
    assert str(err.value).startswith("bad.yml")


def test_yaml_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(InputError, match="YAML bomb"):
        loads("\n".join(lines) + "\n", "bomb.yml")


def test_non_utf8_and_oversize_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"a: caf\xe9\n")
    with pytest.raises(InputError, match="not valid UTF-8"):
        load_file(latin, "latin.yml")
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(InputError, match="limit"):
        load_file(big, "big.yml")


def test_absurd_nesting_is_a_clear_error_not_a_crash() -> None:
    with pytest.raises(InputError, match="nested deeper than"):
        loads("a: " + "[" * 500 + "]" * 500 + "\n", "deep.yml")
