from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.findings import VerificationError
from stategate.evidence.layout import RepoLayout
from stategate.evidence.records.predicates import (
    BackupPredicate,
    SourceInfo,
    Statement,
    Subject,
    Tool,
    statement,
)
from stategate.evidence.records.typed import (
    artifacts_root,
    find_backup,
    latest_record,
    list_records,
    module_path,
    new_id,
    read_record,
    scan_records,
    write_record,
)
from stategate.evidence.signing.dsse import parse_envelope
from stategate.evidence.store import EvidenceStore, read_record_file
from stategate.evidence.testing import sign_as, trust_entry, write_envelope, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role

KEY = SigningKey.generate()
OPERATOR = SigningKey.generate()
STRANGER = SigningKey.generate()


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    write_trust_file(
        tmp_path,
        [trust_entry(KEY, Role.EVIDENCE, "ci-host"), trust_entry(OPERATOR, Role.OPERATOR, "alice")],
    )
    return EvidenceStore.open(RepoLayout(tmp_path))


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


def _stmt(module: str, rid: str, result: str = "pass") -> Statement:
    return statement(
        [Subject(name=f"{module}/{rid}/dump.rdb", digest={"sha256": "1" * 64})],
        _backup(module, rid, result),
    )


def test_statement_layout_naming_and_signature(store: EvidenceStore) -> None:
    rid = "20260526T175400Z-abc123"
    written = write_record(store, _stmt("platform/redis", rid), KEY)
    assert written.rel == f"evidence/platform/redis/backup-{rid}.json"
    assert written.path == store.layout.root / written.rel
    envelope = parse_envelope(written.path.read_bytes())
    raw = json.loads(envelope.payload)
    assert raw["_type"] == "https://in-toto.io/Statement/v1"
    assert raw["predicateType"] == "https://stategate.dev/backup/v1"
    assert raw["subject"][0]["digest"] == {"sha256": "1" * 64}
    assert raw["predicate"]["module"] == "platform/redis"
    assert raw["predicate"]["signer"] == {
        "keyid": KEY.keyid,
        "role": "evidence",
        "signed_at": raw["predicate"]["signer"]["signed_at"],
    }
    again = read_record(EvidenceStore.open(RepoLayout(store.layout.root)), written.rel)
    assert again.statement == written.statement and again.sha256 == written.sha256
    assert again.signer.name == "ci-host"
    ledger = store.layout.path(store.layout.ledger).read_text().splitlines()
    assert json.loads(ledger[0])["path"] == written.rel
    with pytest.raises(InputError, match="already exists"):
        write_record(store, _stmt("platform/redis", rid), KEY)


def test_untrusted_keys_cannot_write(store: EvidenceStore) -> None:
    with pytest.raises(VerificationError, match="unknown-key"):
        write_record(store, _stmt("p/r", "20260101T000000Z-aaaaaa"), STRANGER)
    with pytest.raises(VerificationError, match="wrong-role"):
        write_record(store, _stmt("p/r", "20260101T000000Z-aaaaaa"), OPERATOR)
    assert not (store.layout.root / "evidence" / "p").exists()


def test_ids_sort_by_time() -> None:
    early = new_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = new_id(datetime(2026, 1, 2, tzinfo=UTC))
    assert early.startswith("20260101T000000Z-") and early < late


@pytest.mark.parametrize("bad", ["postgres", "a/b/c", "../x", "a/..", "/a/b", "a/.hidden"])
def test_module_ids_that_could_escape_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match=r"not a module id \(<project>/<service>\)"):
        module_path(bad)


IDS = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"]


def _three(store: EvidenceStore) -> None:
    for rid, result in zip(IDS, ["pass", "pass", "fail"], strict=True):
        write_record(store, _stmt("p/r", rid, result), KEY)


def test_latest_and_find_backup(store: EvidenceStore) -> None:
    _three(store)
    (store.layout.root / "evidence" / "p" / "r" / "notes.json").write_text("{}")  # not named
    assert [r.statement.predicate.id for r in list_records(store, "p/r")] == IDS
    latest = latest_record(store, "p/r", "backup")
    assert latest is not None and latest.statement.predicate.id == IDS[1]
    assert find_backup(store, "p/r", None).statement.predicate.id == IDS[1]
    assert find_backup(store, "p/r", f"backup-{IDS[0]}.json").statement.predicate.id == IDS[0]
    with pytest.raises(InputError, match="did not pass"):
        find_backup(store, "p/r", IDS[2])
    with pytest.raises(InputError, match="no backup 20990101T000000Z-abcdef"):
        find_backup(store, "p/r", "20990101T000000Z-abcdef")
    with pytest.raises(InputError, match="not a backup id"):
        find_backup(store, "p/r", "../../x")


def test_an_edited_byte_makes_a_record_not_count(store: EvidenceStore) -> None:
    _three(store)
    path = store.layout.root / "evidence" / "p" / "r" / f"backup-{IDS[1]}.json"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    fresh = EvidenceStore.open(RepoLayout(store.layout.root))
    assert find_backup(fresh, "p/r", None).statement.predicate.id == IDS[0]
    scan = scan_records(fresh, "p/r", "backup")
    assert [r.rel for r in scan.rejected] == [f"evidence/p/r/backup-{IDS[1]}.json"]
    assert "record-edited" in scan.rejected[0].reason
    with pytest.raises(VerificationError, match="record-edited"):
        find_backup(fresh, "p/r", IDS[1])


def test_a_plain_statement_is_not_a_record(store: EvidenceStore) -> None:
    """The unsigned format of earlier versions does not count."""
    rid = IDS[0]
    path = store.layout.root / "evidence" / "p" / "r" / f"backup-{rid}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_stmt("p/r", rid).to_json_obj()))
    with pytest.raises(InputError, match=r"no passing backup.*do not count"):
        find_backup(store, "p/r", None)
    with pytest.raises(VerificationError, match="record-malformed"):
        find_backup(store, "p/r", rid)


def test_records_signed_outside_the_evidence_role_or_unledgered_do_not_count(
    store: EvidenceStore,
) -> None:
    layout = store.layout
    # an operator key claiming the evidence role, ledgered anyway
    forged = layout.record_path("p/r", "backup", IDS[1])
    write_envelope(
        layout, forged, sign_as(_stmt("p/r", IDS[1]).to_json_obj(), OPERATOR, Role.EVIDENCE)
    )
    store.append(forged, require_trusted=False)
    # a valid signature, but never ledgered
    loose = layout.record_path("p/r", "backup", IDS[2])
    write_envelope(layout, loose, sign_as(_stmt("p/r", IDS[2]).to_json_obj(), KEY, Role.EVIDENCE))
    write_record(store, _stmt("p/r", IDS[0]), KEY)
    fresh = EvidenceStore.open(RepoLayout(layout.root))
    assert [r.rel for r in list_records(fresh, "p/r")] == [
        layout.record_path("p/r", "backup", IDS[0])
    ]
    reasons = {r.rel: r.reason for r in scan_records(fresh, "p/r").rejected}
    assert "wrong-role" in reasons[forged]
    assert "unledgered-record" in reasons[loose]
    with pytest.raises(VerificationError, match="wrong-role"):
        find_backup(fresh, "p/r", IDS[1])
    with pytest.raises(VerificationError, match="unledgered-record"):
        find_backup(fresh, "p/r", IDS[2])


def test_a_record_moved_to_another_module_does_not_count(store: EvidenceStore) -> None:
    written = write_record(store, _stmt("p/r", IDS[0]), KEY)
    moved = store.layout.record_path("p/other", "backup", IDS[0])
    target = store.layout.path(moved)
    target.parent.mkdir(parents=True)
    target.write_bytes(written.path.read_bytes())
    store.append(moved)  # validly signed and ledgered, but not where its content belongs
    with pytest.raises(VerificationError, match="belongs at evidence/p/r/"):
        read_record(EvidenceStore.open(RepoLayout(store.layout.root)), moved)
    assert list_records(EvidenceStore.open(RepoLayout(store.layout.root)), "p/other") == []


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


def test_records_go_only_through_real_folders(store: EvidenceStore) -> None:
    # a folder of the evidence tree that is a symlink, even to a folder inside the
    # repo: the ledger would name one path while the bytes live at another
    root = store.layout.root
    (root / "elsewhere").mkdir()
    (root / "evidence").mkdir(exist_ok=True)
    (root / "evidence/linked").symlink_to(root / "elsewhere", target_is_directory=True)
    rid = "20260526T175400Z-abc123"
    with pytest.raises(InputError) as caught:
        write_record(store, _stmt("linked/redis", rid), KEY)
    assert str(caught.value) == (
        f"evidence/linked/redis/backup-{rid}.json: evidence/linked is a symlink; "
        "records are written and read only through real folders"
    )
    assert list((root / "elsewhere").rglob("*")) == []
    assert not store.layout.path(store.layout.ledger).exists()
    # a record written through the real folder is not readable through the link
    real = write_record(store, _stmt("elsewhere/redis", rid), KEY)
    (root / "evidence/elsewhere").rename(root / "evidence/moved")
    (root / "evidence/elsewhere").symlink_to(root / "evidence/moved", target_is_directory=True)
    with pytest.raises(VerificationError, match="unledgered-record"):
        read_record(store, real.rel)  # the link resolves to a path nothing ledgered
    with pytest.raises(InputError, match="evidence/elsewhere is a symlink"):
        read_record_file(store.layout, real.rel)  # and the raw reader refuses the link
