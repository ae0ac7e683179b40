"""What the ledger reports, exactly: each finding's code, line and words, and appends.

The chain tests (test_ledger_chain.py) show that each kind of tampering is found;
these pin what the operator is told about it (the message is the whole interface of
a finding) and the append path's edge cases. Written against surviving mutants.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stategate.errors import ExternalError, InputError
from stategate.evidence.findings import Finding, FindingCode
from stategate.evidence.ledger.chain import (
    GENESIS,
    LedgerEntry,
    NewEntry,
    append_entry,
    check_chain,
    compare_with_base,
    make_entry,
    read_ledger,
)
from stategate.evidence.trust.trustfile import Role

SHOWN = "evidence/ledger.jsonl"


def entry(seq: int, prev: str, name: str | None = None) -> LedgerEntry:
    return make_entry(
        seq=seq,
        prev=prev,
        path=f"evidence/backups/{name or seq}.json",
        sha256=f"{seq:064x}",
        kind="backup",
        predicate_type="https://stategate.dev/backup/v1",
        keyid="SHA256:k",
        role=Role.EVIDENCE,
        signed_at="2026-05-01T12:00:00Z",
    )


def chain(n: int) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        entries.append(entry(seq, prev))
        prev = entries[-1].digest
    return entries


def new(name: str) -> NewEntry:
    return NewEntry(
        path=f"evidence/backups/{name}.json",
        sha256="c" * 64,
        kind="backup",
        predicate_type="https://stategate.dev/backup/v1",
        keyid="SHA256:k",
        role=Role.EVIDENCE,
        signed_at="2026-05-01T12:00:00Z",
    )


def findings(raw: bytes) -> list[Finding]:
    return list(check_chain(raw, shown=SHOWN).findings)


def malformed(message: str, line: int) -> Finding:
    return Finding(SHOWN, FindingCode.LEDGER_MALFORMED, message, line)


def test_malformed_lines_say_what_is_wrong_with_them() -> None:
    good = chain(1)[0].line()
    bad_digest = json.loads(good)
    bad_digest["prev"] = "not-hex"
    raw = (
        good
        + b"[1]\n"  # not an object: pydantic gives no field location
        + b'{"seq": 2}\n'  # the first missing field is named
        + b"not json\n"
        + b"   \n"
        + json.dumps(bad_digest).encode()
        + b"\n"
    )
    assert findings(raw) == [
        malformed(
            "not a ledger entry: entry: Input should be a valid dictionary or instance of LedgerEntry",
            2,
        ),
        malformed("not a ledger entry: path: Field required", 3),
        malformed("not a ledger entry: Expecting value: line 1 column 1 (char 0)", 4),
        malformed("blank line", 5),
        malformed("not a ledger entry: prev is not a sha256 hex digest", 6),
    ]


def test_lines_keep_their_bytes_and_numbers() -> None:
    entries = chain(2)
    raw = entries[0].line() + b"junk\n" + entries[1].line()
    check = check_chain(raw, shown=SHOWN)
    assert [(line.number, line.raw) for line in check.lines] == [
        (1, entries[0].line().rstrip(b"\n")),
        (2, b"junk"),
        (3, entries[1].line().rstrip(b"\n")),
    ]
    assert check.lines[1].entry is None


def test_checking_goes_on_after_a_malformed_line() -> None:
    one, two = chain(2)
    raw = one.line() + b"junk\n" + two.line() + two.line()
    assert [(f.code, f.line) for f in findings(raw)] == [
        (FindingCode.LEDGER_MALFORMED, 2),
        (FindingCode.ENTRY_REORDERED, 4),
        (FindingCode.DUPLICATE_ENTRY, 4),
    ]


def test_edited_entry_is_named_with_its_path() -> None:
    one, two = chain(2)
    doc = json.loads(two.line())
    doc["kind"] = "restore-drill"
    raw = one.line() + json.dumps(doc).encode() + b"\n"
    assert findings(raw) == [
        Finding(
            SHOWN,
            FindingCode.ENTRY_EDITED,
            "entry for evidence/backups/2.json was edited: its digest does not match its content",
            2,
        )
    ]


def test_a_forked_chain_reports_the_second_entry_of_a_seq_only() -> None:
    # two entries both claim seq 2 after seq 1: the first is in order, the second is not
    one = chain(1)[0]
    a, b = entry(2, one.digest, "a"), entry(2, one.digest, "b")
    assert findings(one.line() + a.line() + b.line()) == [
        Finding(
            SHOWN,
            FindingCode.ENTRY_REORDERED,
            "entry seq 2 (evidence/backups/b.json) is out of order "
            "(expected seq 3 here): entries were reordered",
            3,
        )
    ]


def test_removed_entries_are_counted_one_or_a_range() -> None:
    entries = chain(5)
    one_gone = entries[0].line() + entries[2].line()
    assert findings(one_gone)[0] == Finding(
        SHOWN,
        FindingCode.ENTRY_REMOVED,
        "entry seq 2 before evidence/backups/3.json is missing: entries were removed",
        2,
    )
    three_gone = entries[0].line() + entries[4].line()
    assert findings(three_gone)[0] == Finding(
        SHOWN,
        FindingCode.ENTRY_REMOVED,
        "entry seq 2-4 before evidence/backups/5.json is missing: entries were removed",
        2,
    )


def test_broken_link_and_duplicate_are_explained() -> None:
    one, _ = chain(2)
    stray = entry(2, "e" * 64)
    assert findings(one.line() + stray.line() + one.line()) == [
        Finding(
            SHOWN,
            FindingCode.CHAIN_BROKEN,
            "entry for evidence/backups/2.json does not chain to entry seq 1 "
            "(an entry was removed, inserted or rewritten)",
            2,
        ),
        Finding(
            SHOWN,
            FindingCode.ENTRY_REORDERED,
            "entry seq 1 (evidence/backups/1.json) is out of order "
            "(expected seq 3 here): entries were reordered",
            3,
        ),
        Finding(
            SHOWN,
            FindingCode.DUPLICATE_ENTRY,
            "evidence/backups/1.json is already ledgered at line 1",
            3,
        ),
    ]


def test_base_comparison_words_and_the_equal_case() -> None:
    entries = chain(3)
    base = b"".join(e.line() for e in entries)
    assert compare_with_base(base, base, shown=SHOWN, ref="main") == []
    shorter = b"".join(e.line() for e in entries[:2])
    assert compare_with_base(shorter, base, shown=SHOWN, ref="main") == [
        Finding(
            SHOWN,
            FindingCode.LEDGER_REWRITTEN,
            "ledger is shorter than at main: entries from line 3 on were removed",
            3,
        )
    ]
    rewritten = entries[0].line() + entries[2].line() + entries[1].line()
    assert compare_with_base(rewritten, base, shown=SHOWN, ref="main") == [
        Finding(
            SHOWN,
            FindingCode.LEDGER_REWRITTEN,
            "line differs from the ledger at main: history was rewritten",
            2,
        )
    ]


def test_append_creates_missing_parent_directories(tmp_path: Path) -> None:
    ledger = tmp_path / "repo" / "evidence" / "ledger.jsonl"
    first = append_entry(ledger, new("a"), shown=SHOWN)
    assert (first.seq, first.prev) == (1, GENESIS)
    assert check_chain(ledger.read_bytes(), shown=SHOWN).findings == ()


def test_append_after_a_final_line_without_newline(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    one = chain(1)[0]
    ledger.write_bytes(one.line().rstrip(b"\n"))
    second = append_entry(ledger, new("b"), shown=SHOWN)
    assert (second.seq, second.prev) == (2, one.digest)
    assert ledger.read_bytes() == one.line() + second.line()


def test_a_last_line_without_newline_is_still_checked() -> None:
    one, two = chain(2)
    check = check_chain(one.line() + two.line().rstrip(b"\n"), shown=SHOWN)
    assert check.entries == (one, two)
    assert check.findings == ()


def test_append_refuses_a_damaged_line_in_the_middle(tmp_path: Path) -> None:
    # the new entry would chain onto damage and look sound: nothing is appended
    ledger = tmp_path / "ledger.jsonl"
    one, two = chain(2)
    damaged = one.line() + b"junk\n" + two.line()
    ledger.write_bytes(damaged)
    with pytest.raises(InputError) as caught:
        append_entry(ledger, new("c"), shown=SHOWN)
    assert str(caught.value).startswith(
        f"{SHOWN}:2: the ledger's chain is damaged (ledger-malformed: not a ledger entry"
    )
    assert str(caught.value).endswith("nothing was recorded; run 'stategate evidence verify'")
    assert ledger.read_bytes() == damaged


@pytest.mark.parametrize("damage", ["edited", "removed", "reordered"])
def test_append_refuses_a_chain_that_does_not_verify(tmp_path: Path, damage: str) -> None:
    ledger = tmp_path / "ledger.jsonl"
    entries = list(chain(3))
    if damage == "edited":
        entries[1] = entries[1].model_copy(update={"sha256": "0" * 64})
    elif damage == "removed":
        del entries[1]
    else:
        entries[1], entries[2] = entries[2], entries[1]
    ledger.write_bytes(b"".join(e.line() for e in entries))
    before = ledger.read_bytes()
    with pytest.raises(InputError, match="the ledger's chain is damaged"):
        append_entry(ledger, new("c"), shown=SHOWN)
    assert ledger.read_bytes() == before


def test_append_refuses_a_damaged_last_line(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(chain(1)[0].line() + b"junk\n")
    with pytest.raises(InputError) as caught:
        append_entry(ledger, new("c"), shown=SHOWN)
    assert str(caught.value) == (
        f"{SHOWN}:2: the ledger's chain is damaged (ledger-malformed: not a ledger entry: "
        "Expecting value: line 1 column 1 (char 0)); nothing was recorded; "
        "run 'stategate evidence verify'"
    )


def test_append_refuses_a_path_already_ledgered(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    entries = chain(2)
    ledger.write_bytes(b"".join(e.line() for e in entries))
    with pytest.raises(InputError) as caught:
        append_entry(ledger, new("1"), shown=SHOWN)
    assert str(caught.value) == f"{SHOWN}:1: evidence/backups/1.json is already ledgered"


def test_append_failure_names_the_ledger_and_the_reason(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.mkdir()  # cannot be opened for appending
    with pytest.raises(ExternalError) as caught:
        append_entry(ledger, new("a"), shown=SHOWN)
    assert str(caught.value) == f"{SHOWN}: cannot open the ledger: Is a directory"


def test_an_absent_ledger_reads_as_empty(tmp_path: Path) -> None:
    assert read_ledger(tmp_path / "none.jsonl", shown=SHOWN) == b""


def test_creating_the_ledger_makes_its_directory_entry_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr("stategate.evidence.ledger.chain.fsync_dir", synced.append)
    ledger = tmp_path / "evidence" / "ledger.jsonl"
    append_entry(ledger, new("a"), shown=SHOWN)
    assert synced == [ledger.parent]  # a new file's name is durable only once its folder is
    append_entry(ledger, new("b"), shown=SHOWN)
    assert synced == [ledger.parent]  # appending to an existing file needs no folder sync
