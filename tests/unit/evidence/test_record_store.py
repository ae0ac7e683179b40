from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.record import (
    BackupPredicate,
    SourceInfo,
    Subject,
    Tool,
    statement,
)
from stategate.evidence.store import (
    artifacts_root,
    find_backup,
    latest_record,
    list_records,
    module_path,
    new_id,
    read_record,
    write_record,
)


def _backup(module: str, rid: str, result: str = "pass") -> BackupPredicate:
    moment = datetime(2026, 5, 26, 17, 54, tzinfo=UTC)
    return BackupPredicate(
        module=module,
        provider="redis",
        id=rid,
        result=result,  # type: ignore[arg-type]
        started=moment,
        finished=moment,
        tool=Tool(version="0.1.0"),
        policy_digest="sha256:x",
        source=SourceInfo(address="127.0.0.1:6379"),
        backup_id=rid,
        location=f"{module}/{rid}",
    )


def test_statement_layout_and_naming(tmp_path: Path) -> None:
    rid = "20260526T175400Z-abc123"
    stmt = statement(
        [Subject(name="a/b/dump.rdb", digest={"sha256": "0" * 64})], _backup("platform/redis", rid)
    )
    path = write_record(tmp_path, stmt)
    assert path == tmp_path / "platform" / "redis" / f"backup-{rid}.json"
    raw = json.loads(path.read_text())
    assert raw["_type"] == "https://in-toto.io/Statement/v1"
    assert raw["predicateType"] == "https://stategate.dev/backup/v1"
    assert raw["subject"][0] == {"name": "a/b/dump.rdb", "digest": {"sha256": "0" * 64}}
    assert raw["predicate"]["module"] == "platform/redis"
    assert read_record(path).statement == stmt
    with pytest.raises(InputError, match="already exists"):
        write_record(tmp_path, stmt)


def test_ids_sort_by_time() -> None:
    early = new_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_id(datetime(2026, 1, 2, tzinfo=UTC))
    assert early.startswith("20260101T000000Z-") and early < late


@pytest.mark.parametrize("bad", ["postgres", "a/b/c", "../x", "a/..", "/a/b", "a/.hidden"])
def test_module_ids_that_could_escape_are_refused(bad: str) -> None:
    with pytest.raises(InputError):
        module_path(bad)


def test_latest_and_find_backup(tmp_path: Path) -> None:
    ids = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"]
    for rid, result in zip(ids, ["pass", "pass", "fail"], strict=True):
        stmt = statement(
            [Subject(name="x", digest={"sha256": "1" * 64})], _backup("p/r", rid, result)
        )
        write_record(tmp_path, stmt)
    (tmp_path / "p" / "r" / "notes.json").write_text("{}")  # not a record: ignored
    assert [r.statement.predicate.id for r in list_records(tmp_path, "p/r")] == ids
    latest = latest_record(tmp_path, "p/r", "backup")
    assert latest is not None and latest.statement.predicate.id == ids[1]
    assert find_backup(tmp_path, "p/r", None).statement.predicate.id == ids[1]
    assert find_backup(tmp_path, "p/r", f"backup-{ids[0]}.json").statement.predicate.id == ids[0]
    with pytest.raises(InputError, match="did not pass"):
        find_backup(tmp_path, "p/r", ids[2])


def test_tampered_record_is_a_clear_error(tmp_path: Path) -> None:
    rid = "20260101T000000Z-aaaaaa"
    path = write_record(
        tmp_path, statement([Subject(name="x", digest={"sha256": "1" * 64})], _backup("p/r", rid))
    )
    raw = json.loads(path.read_text())
    raw["predicate"]["result"] = "maybe"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="invalid evidence record"):
        read_record(path)


def test_artifacts_root_must_be_outside_the_repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATEGATE_ARTIFACTS", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(InputError, match="inside the platform repo"):
        artifacts_root(repo, "backups")
    assert artifacts_root(repo, str(tmp_path / "out")) == (tmp_path / "out").resolve()
    monkeypatch.setenv("STATEGATE_ARTIFACTS", str(tmp_path / "env"))
    assert artifacts_root(repo, str(tmp_path / "out")) == (tmp_path / "env").resolve()
    assert artifacts_root(repo, None, tmp_path / "cli") == (tmp_path / "cli").resolve()
