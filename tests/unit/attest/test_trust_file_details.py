"""Trust file details that decide validity: how times are read, and how keys are added.

A time in the trust file decides whether a signature counts, so every written form
(timestamp with or without zone, bare date, string) must mean the same instant on
every machine; adding a key must keep the keys already trusted, byte for byte where
it can. Complements test_trust.py (written against surviving mutants).
"""

from __future__ import annotations

import locale
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.testing import trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import (
    TRUST_HEADER,
    Role,
    TrustEntry,
    add_trusted_key,
    load_trust,
    parse_trust,
)

KEY = SigningKey.generate()
MIDNIGHT = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with the machine's local zone 9 hours ahead of UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def valid_before(value: object) -> datetime | None:
    row = {"name": "ci", "role": "evidence", "public_key": KEY.public.openssh}
    roots = parse_trust({"version": 1, "keys": [{**row, "valid_before": value}]}, shown="t")
    return roots.keys[0].valid_before


@pytest.mark.usefixtures("tokyo")
@pytest.mark.parametrize(
    "written",
    [
        datetime(2026, 6, 1),  # a YAML timestamp without zone: UTC, not local time
        datetime(2026, 6, 1, 9, tzinfo=timezone(timedelta(hours=9))),
        date(2026, 6, 1),  # a bare date: midnight UTC
        "2026-06-01T00:00:00Z",
        "2026-06-01T02:00:00+02:00",
        "2026-06-01T00:00:00",  # a string without zone: UTC too
        "2026-06-01",
    ],
)
def test_every_written_form_is_the_same_utc_instant(written: object) -> None:
    got = valid_before(written)
    assert got == MIDNIGHT
    assert got is not None and got.utcoffset() == timedelta(0)


def test_a_time_that_is_not_one_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        valid_before("next tuesday")
    assert caught.value.message.startswith("invalid trust file: keys.0.valid_before: ")


def test_missing_file_is_labelled_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "none.yaml"
    assert load_trust(path).source == str(path)
    assert load_trust(path, shown="trust/x.yaml").source == "trust/x.yaml"
    with pytest.raises(InputError) as caught:
        load_trust(path, missing_ok=False)
    assert (caught.value.file, caught.value.message) == (
        str(path),
        "trust file not found (create one with 'stategate keys init')",
    )


def test_a_new_trust_file_is_the_header_and_one_readable_block(tmp_path: Path) -> None:
    key = SigningKey.generate()
    entry = trust_entry(
        key,
        Role.OPERATOR,
        "alice",
        valid_after=datetime(2026, 5, 1, tzinfo=UTC),
        valid_before=datetime(2027, 5, 1, 12, 30, tzinfo=UTC),
        revoked=datetime(2026, 12, 24, tzinfo=UTC),
    )
    path = tmp_path / "trust.yaml"
    assert add_trusted_key(path, entry) is True
    assert path.read_text(encoding="utf-8") == TRUST_HEADER + (
        "  - name: alice\n"
        "    role: operator\n"
        f"    keyid: {key.keyid}\n"
        f"    public_key: {key.public.openssh}\n"
        "    valid_after: '2026-05-01T00:00:00Z'\n"
        "    valid_before: '2027-05-01T12:30:00Z'\n"
        "    revoked: '2026-12-24T00:00:00Z'\n"
    )


def test_a_block_without_keyid_or_times(tmp_path: Path) -> None:
    key = SigningKey.generate()
    entry = TrustEntry(name="ci", role=Role.EVIDENCE, public_key=key.public.openssh)
    path = tmp_path / "trust.yaml"
    add_trusted_key(path, entry)
    assert path.read_text(encoding="utf-8") == TRUST_HEADER + (
        f"  - name: ci\n    role: evidence\n    public_key: {key.public.openssh}\n"
        "    revoked: false\n"
    )
    assert load_trust(path).keys[0].keyid == key.keyid


def test_appending_keeps_the_file_as_written(tmp_path: Path) -> None:
    keys = [SigningKey.generate() for _ in range(3)]
    path = tmp_path / "trust.yaml"
    add_trusted_key(path, trust_entry(keys[0], Role.EVIDENCE, "ci"))
    add_trusted_key(path, trust_entry(keys[1], Role.EVIDENCE, "ci2"))
    before = path.read_text(encoding="utf-8")
    assert add_trusted_key(path, trust_entry(keys[2], Role.OPERATOR, "alice")) is True
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)
    assert after[len(before) :].startswith("  - name: alice\n")
    assert [k.name for k in load_trust(path).keys] == ["ci", "ci2", "alice"]


def test_appending_to_a_file_without_final_newline(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    path = tmp_path / "trust.yaml"
    add_trusted_key(path, trust_entry(first, Role.EVIDENCE, "ci"))
    text = path.read_text(encoding="utf-8").rstrip("\n") + "  # the build host"
    path.write_text(text, encoding="utf-8")
    assert add_trusted_key(path, trust_entry(second, Role.OPERATOR, "alice")) is True
    assert path.read_text(encoding="utf-8").startswith(text + "\n  - name: alice\n")


def test_rerendering_keeps_every_key(tmp_path: Path) -> None:
    keys = [SigningKey.generate() for _ in range(3)]
    write_trust_file(
        tmp_path,
        [trust_entry(keys[0], Role.EVIDENCE, "ci"), trust_entry(keys[1], Role.EVIDENCE, "ci2")],
    )
    path = tmp_path / "trust" / "allowed_signers.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\nversion: 1\n" in text
    path.write_text(text.replace("\nversion: 1\n", "\n") + "version: 1\n", encoding="utf-8")
    # "keys" is no longer the last block: appending would not land inside it
    assert add_trusted_key(path, trust_entry(keys[2], Role.OPERATOR, "alice")) is False
    text = path.read_text(encoding="utf-8")
    assert text.startswith(TRUST_HEADER + "  - name: ci\n")
    assert [(k.name, k.keyid) for k in load_trust(path).keys] == [
        ("ci", keys[0].keyid),
        ("ci2", keys[1].keyid),
        ("alice", keys[2].keyid),
    ]


def row(key: SigningKey, role: str = "evidence", **extra: object) -> dict[str, object]:
    return {"name": "ci", "role": role, "public_key": key.public.openssh, **extra}


def test_validity_boundaries_are_half_open() -> None:
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    roots = parse_trust({"keys": [row(KEY, valid_after=start, valid_before=end)]}, shown="t")
    tick = timedelta(microseconds=1)
    states = [
        roots.check(KEY.keyid, Role.EVIDENCE, at).state.value
        for at in (start - tick, start, end - tick, end)
    ]
    assert states == ["key-not-yet-valid", "valid", "valid", "key-expired"]
    retired = parse_trust({"keys": [row(KEY, revoked=end)]}, shown="t")
    assert retired.check(KEY.keyid, Role.EVIDENCE, end - tick).state.value == "valid"
    assert retired.check(KEY.keyid, Role.EVIDENCE, end).state.value == "key-revoked"


def test_wrong_role_reports_the_entry_it_found() -> None:
    roots = parse_trust({"keys": [row(KEY, "evidence")]}, shown="t")
    check = roots.check(KEY.keyid, Role.OPERATOR, MIDNIGHT)
    assert check.state.value == "wrong-role"
    assert check.key is not None and check.key.name == "ci"
    assert check.roles == (Role.EVIDENCE,)


def test_empty_document_and_labels() -> None:
    empty = parse_trust(None, shown="trust/x.yaml")
    assert (empty.keys, empty.source) == ((), "trust/x.yaml")
    full = parse_trust({"keys": [row(KEY)]}, shown="trust/x.yaml")
    assert full.source == "trust/x.yaml"
    assert trust_entry(KEY, Role.EVIDENCE, "ci").keyid == KEY.keyid


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1], "invalid trust file: document: Input should be a valid dictionary"),
        (
            {"keys": [row(KEY), row(KEY)]},
            f"invalid trust file: keys.1: key {KEY.keyid} listed twice for role evidence",
        ),
        (
            {"keys": [row(KEY, keyid="SHA256:other")]},
            f"invalid trust file: keys.0.keyid SHA256:other does not match its public_key "
            f"({KEY.keyid})",
        ),
        ({"keys": [row(KEY, public_key="ssh-ed25519")]}, "invalid trust file: keys.0.public_key: "),
    ],
)
def test_invalid_documents_name_the_file(raw: object, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_trust(raw, shown="trust/x.yaml")
    assert caught.value.file == "trust/x.yaml"
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize("shown", [None, "trust/allowed_signers.yaml"])
def test_adding_to_a_broken_file_names_it(tmp_path: Path, shown: str | None) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text("version: 1\nkeys:\n  - name: ci\n    role: nobody\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        add_trusted_key(path, trust_entry(KEY, Role.EVIDENCE, "ci2"), shown=shown)
    assert caught.value.file == (shown or str(path))
    assert caught.value.message.startswith("invalid trust file: keys.0.role: ")


def test_adding_a_key_already_trusted_for_the_role_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trust.yaml"
    add_trusted_key(path, trust_entry(KEY, Role.EVIDENCE, "ci"), shown="trust/x.yaml")
    before = path.read_text(encoding="utf-8")
    with pytest.raises(InputError) as caught:
        add_trusted_key(path, trust_entry(KEY, Role.EVIDENCE, "ci again"), shown="trust/x.yaml")
    assert caught.value.file == "trust/x.yaml"
    assert caught.value.message == (
        f"invalid trust file: keys.1: key {KEY.keyid} listed twice for role evidence"
    )
    assert path.read_text(encoding="utf-8") == before


@pytest.fixture
def ascii_locale() -> Iterator[None]:
    """A machine whose locale is plain C (ASCII), as a bare container may have."""
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


@pytest.mark.usefixtures("ascii_locale")
def test_adding_a_key_keeps_non_ascii_names_whatever_the_locale(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    path = tmp_path / "trust.yaml"
    hand_written = (  # by hand, in UTF-8 (stategate itself writes escapes)
        f"version: 1\nkeys:\n  - name: Zoë\n    role: operator\n"
        f"    public_key: {first.public.openssh}\n"
    )
    path.write_bytes(hand_written.encode("utf-8"))
    assert add_trusted_key(path, trust_entry(second, Role.OPERATOR, "Łukasz")) is True
    assert path.read_bytes().startswith(hand_written.encode("utf-8"))
    assert [k.name for k in load_trust(path).keys] == ["Zoë", "Łukasz"]


def test_a_long_name_stays_on_its_line(tmp_path: Path) -> None:
    name = "the build host in the second rack of the basement, kept for the yearly restore drills"
    path = tmp_path / "trust.yaml"
    add_trusted_key(path, trust_entry(SigningKey.generate(), Role.EVIDENCE, name))
    assert f"  - name: {name}\n" in path.read_text(encoding="utf-8")
