from __future__ import annotations

import json

from stategate.evidence.findings import FindingCode
from stategate.evidence.ledger.chain import (
    GENESIS,
    LedgerEntry,
    check_chain,
    compare_with_base,
    make_entry,
)
from stategate.evidence.trust.trustfile import Role

SHOWN = "evidence/ledger.jsonl"


def chain(n: int) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        entry = make_entry(
            seq=seq,
            prev=prev,
            path=f"evidence/backups/{seq}.json",
            sha256=f"{seq:064x}",
            kind="backup",
            predicate_type="https://stategate.dev/backup/v1",
            keyid="SHA256:k",
            role=Role.EVIDENCE,
            signed_at="2026-05-01T12:00:00Z",
        )
        entries.append(entry)
        prev = entry.digest
    return entries


def data(entries: list[LedgerEntry]) -> bytes:
    return b"".join(e.line() for e in entries)


def codes(raw: bytes) -> list[tuple[FindingCode, int | None]]:
    return [(f.code, f.line) for f in check_chain(raw, shown=SHOWN).findings]


def test_intact_chain() -> None:
    check = check_chain(data(chain(4)), shown=SHOWN)
    assert check.findings == ()
    assert [e.seq for e in check.entries] == [1, 2, 3, 4]


def test_empty_ledger() -> None:
    assert check_chain(b"", shown=SHOWN).findings == ()


def test_edited_entry() -> None:
    entries = chain(3)
    doc = json.loads(entries[1].line())
    doc["sha256"] = "f" * 64  # point the entry at an edited record
    raw = entries[0].line() + json.dumps(doc).encode() + b"\n" + entries[2].line()
    assert codes(raw) == [(FindingCode.ENTRY_EDITED, 2)]


def test_edited_entry_with_recomputed_digest_breaks_the_next_link() -> None:
    entries = chain(3)
    body = entries[1].body() | {"sha256": "f" * 64}
    rewritten = make_entry(**{**body, "role": Role.EVIDENCE})
    raw = entries[0].line() + rewritten.line() + entries[2].line()
    assert codes(raw) == [(FindingCode.CHAIN_BROKEN, 3)]


def test_removed_entry() -> None:
    entries = chain(4)
    assert codes(data([entries[0], entries[2], entries[3]])) == [(FindingCode.ENTRY_REMOVED, 2)]


def test_removed_entry_and_renumbered() -> None:
    entries = chain(3)
    body = entries[2].body() | {"seq": 2}
    renumbered = make_entry(**{**body, "role": Role.EVIDENCE})
    assert codes(data([entries[0], renumbered])) == [(FindingCode.CHAIN_BROKEN, 2)]


def test_reordered_entries() -> None:
    entries = chain(4)
    found = codes(data([entries[0], entries[2], entries[1], entries[3]]))
    assert {code for code, _ in found} == {FindingCode.ENTRY_REORDERED}
    assert [line for _, line in found] == [2, 3]


def test_removed_first_entry() -> None:
    entries = chain(2)
    assert codes(data(entries[1:])) == [(FindingCode.ENTRY_REMOVED, 1)]


def test_duplicate_entry_for_one_record() -> None:
    entries = chain(2)
    body = entries[1].body() | {"path": entries[0].path}
    dup = make_entry(**{**body, "role": Role.EVIDENCE})
    assert codes(data([entries[0], dup])) == [(FindingCode.DUPLICATE_ENTRY, 2)]


def test_malformed_lines_are_findings_not_crashes() -> None:
    entries = chain(2)
    raw = entries[0].line() + b"{not json\n\n" + b'{"seq": 1}\n' + entries[1].line()
    found = codes(raw)
    assert found[:3] == [
        (FindingCode.LEDGER_MALFORMED, 2),
        (FindingCode.LEDGER_MALFORMED, 3),
        (FindingCode.LEDGER_MALFORMED, 4),
    ]
    assert len(found) == 3  # the entry after a damaged line is not blamed too


def test_base_must_be_a_prefix() -> None:
    entries = chain(3)
    base = data(entries[:2])
    assert compare_with_base(data(entries), base, shown=SHOWN, ref="main") == []
    assert [
        f.code for f in compare_with_base(data(entries[:1]), base, shown=SHOWN, ref="main")
    ] == [FindingCode.LEDGER_REWRITTEN]
    rewritten = chain(3)
    other = make_entry(**{**rewritten[1].body() | {"sha256": "e" * 64}, "role": Role.EVIDENCE})
    found = compare_with_base(data([rewritten[0], other]), base, shown=SHOWN, ref="main")
    assert [(f.code, f.line) for f in found] == [(FindingCode.LEDGER_REWRITTEN, 2)]
