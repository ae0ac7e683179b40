"""Tampering with evidence in a real git repo is always found by ``verify``."""

from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.audit import VerifyReport, verify
from stategate.evidence.findings import FindingCode, VerificationError
from stategate.evidence.ledger.chain import make_entry, parse_line
from stategate.evidence.signing.canonical import canonical_json, sha256_bytes
from stategate.evidence.signing.dsse import parse_envelope
from stategate.evidence.signing.sign import sign_statement
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import (
    sign_as,
    statement,
    trust_entry,
    write_envelope,
    write_trust_file,
)
from stategate.evidence.trust.trustfile import Role
from tests.integration.ledger_support import (
    ARTIFACT,
    BACKUP,
    DRILL,
    NOW,
    RECORDS,
    SINCE,
    SMOKE,
    Platform,
    make_platform,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return make_platform(tmp_path)


def found(report: VerifyReport) -> set[tuple[str, FindingCode]]:
    return {(f.file, f.code) for f in report.findings}


def audit(platform: Platform, **kwargs: object) -> VerifyReport:
    return verify(EvidenceStore.open(platform.layout), artifacts=platform.artifacts, **kwargs)  # type: ignore[arg-type]


def test_intact_evidence_verifies(platform: Platform) -> None:
    report = audit(platform, base_ref="HEAD")
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == 3
    assert report.artifacts_checked == 2  # the backup and the drill name the dump
    assert report.artifacts_unreachable == 1  # the smoke names a module, not a file
    store = platform.store()
    assert [e.path for e in store.entries("restore-drill")] == [DRILL]
    for path in RECORDS:
        record = store.load_verified(path)
        assert record.signer.name == "ci-host"
        assert record.statement.predicate_type.startswith("https://stategate.dev/")


def test_edited_record(platform: Platform) -> None:
    path = platform.root / DRILL
    env = parse_envelope(path.read_bytes())
    doc = json.loads(env.payload)
    doc["predicate"]["result"] = "passed-with-flying-colours"
    forged = type(env)(env.payload_type, canonical_json(doc), env.signatures)
    path.write_bytes(forged.to_json())
    assert found(audit(platform)) == {
        (DRILL, FindingCode.RECORD_EDITED),
        (DRILL, FindingCode.BAD_SIGNATURE),
    }


def test_record_edited_without_touching_the_signed_payload(platform: Platform) -> None:
    path = platform.root / SMOKE
    path.write_bytes(path.read_bytes() + b"\n")
    assert found(audit(platform)) == {(SMOKE, FindingCode.RECORD_EDITED)}


def test_removed_record(platform: Platform) -> None:
    (platform.root / DRILL).unlink()
    report = audit(platform)
    assert found(report) == {(DRILL, FindingCode.RECORD_MISSING)}
    assert "ledger.jsonl:2" in report.findings[0].message


def test_removed_ledger_entry(platform: Platform) -> None:
    lines = platform.ledger_lines()
    platform.write_ledger([lines[0], lines[2]])
    assert found(audit(platform)) == {
        ("evidence/ledger.jsonl", FindingCode.ENTRY_REMOVED),
        (DRILL, FindingCode.UNLEDGERED_RECORD),
    }


def test_removed_record_and_entry_is_caught_against_the_base(platform: Platform) -> None:
    lines = platform.ledger_lines()
    platform.write_ledger(lines[:2])
    (platform.root / SMOKE).unlink()
    assert audit(platform).ok  # the chain alone cannot see a truncated tail ...
    report = audit(platform, base_ref="HEAD")  # ... the ledger at the base ref can
    assert found(report) == {("evidence/ledger.jsonl", FindingCode.LEDGER_REWRITTEN)}


def test_reordered_entries(platform: Platform) -> None:
    lines = platform.ledger_lines()
    platform.write_ledger([lines[0], lines[2], lines[1]])
    report = audit(platform)
    assert found(report) == {("evidence/ledger.jsonl", FindingCode.ENTRY_REORDERED)}
    assert [f.line for f in report.findings] == [2, 3]


def test_inserted_unledgered_record(platform: Platform) -> None:
    env = sign_statement(statement("backup"), platform.evidence_key, Role.EVIDENCE)
    sneaked = "evidence/app/postgres/backup-sneaked.json"
    write_envelope(platform.layout, sneaked, env)
    assert found(audit(platform)) == {(sneaked, FindingCode.UNLEDGERED_RECORD)}
    with pytest.raises(VerificationError, match=r"not in evidence/ledger\.jsonl"):
        platform.store().load_verified(sneaked)


def _rewrite_chain(platform: Platform, replace_sha: dict[str, str]) -> None:
    """What a careful attacker does: fix the ledger's sha256 and recompute every digest."""
    prev = "0" * 64
    out = []
    for raw in platform.ledger_lines():
        entry = parse_line(raw.rstrip(b"\n"))
        body = entry.body() | {"prev": prev}
        body["sha256"] = replace_sha.get(entry.path, entry.sha256)
        body["role"] = Role(body["role"])
        new = make_entry(**body)
        out.append(new.line())
        prev = new.digest
    platform.write_ledger(out)


def test_re_signed_record(platform: Platform) -> None:
    path = platform.root / BACKUP
    original = parse_envelope(path.read_bytes())
    doc = json.loads(original.payload)
    del doc["predicate"]["signer"]
    doc["predicate"]["module"] = "app/postgres"  # same claim, new signature by another host
    resigned = sign_statement(doc, platform.other_evidence_key, Role.EVIDENCE)
    path.write_bytes(resigned.to_json())
    _rewrite_chain(platform, {BACKUP: sha256_bytes(resigned.to_json())})
    assert found(audit(platform)) == {(BACKUP, FindingCode.RESIGNED)}
    assert found(audit(platform, base_ref="HEAD")) == {
        (BACKUP, FindingCode.RESIGNED),
        ("evidence/ledger.jsonl", FindingCode.LEDGER_REWRITTEN),
    }


def test_approval_signed_by_an_evidence_key(platform: Platform) -> None:
    rel = "evidence/_approvals/pg-16-3/approval-20260501T120000Z-forged.json"
    env = sign_statement(statement("approval"), platform.evidence_key, Role.OPERATOR)
    write_envelope(platform.layout, rel, env)
    platform.store().append(rel, require_trusted=False)
    report = audit(platform)
    assert found(report) == {(rel, FindingCode.WRONG_ROLE)}
    assert "trusted for evidence, not operator" in str(report.findings[0])
    with pytest.raises(VerificationError, match="wrong-role"):
        platform.store().load_verified(rel)


def test_evidence_signed_in_the_operator_role(platform: Platform) -> None:
    rel = "evidence/app/postgres/backup-by-operator.json"
    env = sign_as(statement("backup"), platform.operator_key, Role.OPERATOR)
    write_envelope(platform.layout, rel, env)
    platform.store().append(rel, require_trusted=False)
    assert found(audit(platform)) == {(rel, FindingCode.WRONG_ROLE)}


def test_record_signed_after_its_key_expired(platform: Platform) -> None:
    old = trust_entry(
        platform.evidence_key,
        Role.EVIDENCE,
        "ci-host",
        valid_after=SINCE,
        valid_before=NOW - timedelta(minutes=90),
    )
    others = [
        trust_entry(platform.other_evidence_key, Role.EVIDENCE, "other-host"),
        trust_entry(platform.operator_key, Role.OPERATOR, "alice"),
    ]
    write_trust_file(platform.layout, [old, *others])
    # the backup (3 h ago) and the drill (2 h ago) were signed before expiry; the smoke was not
    assert found(audit(platform)) == {(SMOKE, FindingCode.KEY_EXPIRED)}
    with pytest.raises(VerificationError) as err:
        write_signed_now(platform)
    assert "key-expired" in str(err.value)


def write_signed_now(platform: Platform) -> None:
    platform.store().write_signed(
        "evidence/app/postgres/smoke-late.json",
        statement("smoke"),
        platform.evidence_key,
        Role.EVIDENCE,
    )


def test_revoked_key(platform: Platform) -> None:
    write_trust_file(
        platform.layout,
        [
            trust_entry(platform.evidence_key, Role.EVIDENCE, "ci-host", revoked=True),
            trust_entry(platform.operator_key, Role.OPERATOR, "alice"),
        ],
    )
    assert found(audit(platform)) == {(p, FindingCode.KEY_REVOKED) for p in RECORDS}


def test_key_removed_from_the_trust_file(platform: Platform) -> None:
    write_trust_file(platform.layout, [trust_entry(platform.operator_key, Role.OPERATOR, "a")])
    assert found(audit(platform)) == {(p, FindingCode.UNKNOWN_KEY) for p in RECORDS}


def test_artifact_sha_mismatch(platform: Platform) -> None:
    artifact = platform.artifacts / ARTIFACT
    artifact.write_bytes(artifact.read_bytes()[:-10])  # truncated
    report = audit(platform)
    assert found(report) == {
        (BACKUP, FindingCode.ARTIFACT_MISMATCH),
        (DRILL, FindingCode.ARTIFACT_MISMATCH),
    }
    assert ARTIFACT in report.findings[0].message
    assert verify(EvidenceStore.open(platform.layout)).ok  # without artifacts, nothing to compare


def test_missing_artifact_is_unreachable_not_a_finding(platform: Platform) -> None:
    (platform.artifacts / ARTIFACT).unlink()
    report = audit(platform)
    assert report.ok
    assert report.artifacts_unreachable == 3


def test_symlinked_record_is_unsafe(platform: Platform, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes((platform.root / SMOKE).read_bytes())
    link = platform.root / "evidence/app/postgres/smoke-link.json"
    os.symlink(outside, link)
    assert found(audit(platform)) == {
        ("evidence/app/postgres/smoke-link.json", FindingCode.UNSAFE_PATH)
    }


def test_ledger_entry_escaping_the_repo_is_unsafe(platform: Platform) -> None:
    lines = platform.ledger_lines()
    last = parse_line(lines[-1].rstrip(b"\n"))
    escape = make_entry(
        **(
            last.body()
            | {
                "seq": 4,
                "prev": last.digest,
                "path": "../../etc/passwd.json",
                "role": Role.EVIDENCE,
            }
        )
    )
    platform.write_ledger([*lines, escape.line()])
    assert found(audit(platform)) == {("evidence/ledger.jsonl", FindingCode.UNSAFE_PATH)}


def test_malformed_record_is_a_finding_naming_the_file(platform: Platform) -> None:
    (platform.root / SMOKE).write_text("{ not an envelope")
    report = audit(platform)
    assert found(report) == {
        (SMOKE, FindingCode.RECORD_EDITED),
        (SMOKE, FindingCode.RECORD_MALFORMED),
    }


def test_write_signed_refuses_an_untrusted_key_and_writes_nothing(platform: Platform) -> None:
    rel = "evidence/app/postgres/backup-by-operator.json"
    with pytest.raises(VerificationError, match="trusted for operator, not evidence"):
        platform.store().write_signed(
            rel, statement("backup"), platform.operator_key, Role.EVIDENCE
        )
    assert not (platform.root / rel).exists()
    assert audit(platform).ok


def test_records_are_write_once(platform: Platform) -> None:
    before = (platform.root / SMOKE).read_bytes()
    with pytest.raises(InputError, match="already exists"):
        platform.store().write_signed(
            SMOKE, statement("smoke"), platform.evidence_key, Role.EVIDENCE
        )
    assert (platform.root / SMOKE).read_bytes() == before


def test_failed_ledger_append_leaves_no_record(platform: Platform) -> None:
    ledger = platform.root / "evidence/ledger.jsonl"
    # a complete (newline-terminated) line that is no entry: the chain cannot go on
    # (an unterminated fragment is a torn append instead: see tests/faults)
    ledger.write_bytes(ledger.read_bytes() + b'{"truncated\n')
    rel = "evidence/app/postgres/smoke-new.json"
    with pytest.raises(InputError, match="the ledger's chain is damaged"):
        platform.store().write_signed(rel, statement("smoke"), platform.evidence_key, Role.EVIDENCE)
    assert not (platform.root / rel).exists()


def test_record_paths_are_confined_to_the_evidence_folder(platform: Platform) -> None:
    for bad, reason in (
        ("../outside.json", "must not contain '..'"),
        ("/tmp/x.json", "must be relative"),
        ("compose/x.json", "a record must be a \\*.json file under evidence/"),
        ("evidence/x.txt", "a record must be a \\*.json file under evidence/"),
    ):
        with pytest.raises(InputError, match=reason):
            platform.store().write_signed(
                bad, statement("smoke"), platform.evidence_key, Role.EVIDENCE
            )


def test_concurrent_writers_keep_one_chain(platform: Platform) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            store = platform.store()
            for i in range(5):
                store.write_signed(
                    f"evidence/smoke/parallel/{n}-{i}.json",
                    statement("smoke", subject_name=f"s{n}-{i}"),
                    platform.evidence_key,
                    Role.EVIDENCE,
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = audit(platform, base_ref="HEAD")
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == 3 + 30
