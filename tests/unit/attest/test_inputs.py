from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.approvals.packet import read_packet
from stategate.evidence.layout import RepoLayout, safe_relpath
from stategate.workspace import open_policy

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def packet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "packets" / "p.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_packet_list_form(tmp_path: Path) -> None:
    path = packet(
        tmp_path,
        f"id: pg\nmodules:\n  - module: app/postgres\n    from: postgres:16.2@{A}\n"
        f"    to: postgres:16.3@{B}\n  - id: app/init\n    to: mc@{B}\n",
    )
    facts = read_packet(RepoLayout(tmp_path), path)
    assert facts.id == "pg" and facts.path == "packets/p.yaml"
    assert [(m.module, m.digests()) for m in facts.modules] == [
        ("app/postgres", (A, B)),
        ("app/init", (None, B)),
    ]


def test_packet_mapping_form_and_sha(tmp_path: Path) -> None:
    path = packet(
        tmp_path, f"packet_id: r\nmodules:\n  app/redis: {{from: 'r@{A}', to: 'r@{B}'}}\n"
    )
    first = read_packet(RepoLayout(tmp_path), path)
    path.write_text(path.read_text() + "# reviewed\n")
    second = read_packet(RepoLayout(tmp_path), path)
    assert first.modules == second.modules
    assert first.sha256 != second.sha256  # an approval binds the file's exact bytes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n", "must be a YAML mapping"),
        ("modules: []\n", "has no 'id'"),
        ("id: p\nmodules: []\n", "no modules"),
        ("id: p\nmodules: 3\n", "list or a mapping"),
        ("id: p\nmodules:\n  - module: m\n", "has no 'to'"),
        ("id: p\nmodules:\n  - module: m\n    to: x:latest\n", "not pinned by digest"),
        (f"id: p\nmodules:\n  - module: m\n    from: 5\n    to: x@{B}\n", "'from' must be"),
    ],
)
def test_bad_packets_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = packet(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        read_packet(RepoLayout(tmp_path), path)
    assert str(err.value).startswith("packets/p.yaml")


def test_packet_outside_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = packet(tmp_path, f"id: p\nmodules:\n  m: {{to: 'x@{B}'}}\n")
    with pytest.raises(InputError, match="outside the repo"):
        read_packet(RepoLayout(repo), outside)


def test_policy_defaults_and_errors(tmp_path: Path) -> None:
    default, _ = open_policy(tmp_path)
    assert default.file is None
    (tmp_path / "stategate.yaml").write_text("freshness:\n  approval_max_age_hours: 8\n")
    tightened, _ = open_policy(tmp_path)
    assert tightened.policy.freshness.approval_max_age_hours == 8
    assert tightened.digest != default.digest
    (tmp_path / "stategate.yaml").write_text("freshness:\n  approval_max_age: 8\n")
    with pytest.raises(InputError, match=r"stategate.yaml:2: freshness.approval_max_age"):
        open_policy(tmp_path)


def test_layout_follows_the_policy(tmp_path: Path) -> None:
    (tmp_path / "stategate.yaml").write_text(
        "evidence:\n  dir: attestations\n  trust_file: keys/trust.yaml\n"
    )
    _, layout = open_policy(tmp_path)
    assert (layout.ledger, layout.trust_file) == ("attestations/ledger.jsonl", "keys/trust.yaml")


def test_huge_packet_is_refused(tmp_path: Path) -> None:
    path = packet(tmp_path, "id: p\nnote: " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(InputError, match="too large") as err:
        read_packet(RepoLayout(tmp_path), path)
    assert str(err.value).startswith("packets/p.yaml")


def test_yaml_bomb_packet_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)
    ]
    path = packet(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(InputError, match="YAML bomb"):
        read_packet(RepoLayout(tmp_path), path)


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = packet(tmp_path, "id: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError, match="unsupported YAML tag"):
        read_packet(RepoLayout(tmp_path), path)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "invalid path"),
        ("/etc/x", "must be relative"),
        ("a/../b", "must not contain '..'"),
        ("a\\b", "invalid path"),
        ("a\x00b", "invalid path"),
        (".", "invalid path"),
    ],
)
def test_safe_relpath_refuses(bad: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        safe_relpath(bad)


def test_safe_relpath_normalises() -> None:
    assert safe_relpath("evidence//x/./y.json") == "evidence/x/y.json"
