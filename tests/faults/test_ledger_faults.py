"""Ledger appends under faults: many writers at once, a writer killed at seeded
points, a torn last line, a short write, and a writer that waits too long.

The ledger must stay one valid hash chain, every ledgered record must verify,
and the next append must work.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.evidence.audit import verify
from stategate.evidence.findings import FindingCode, VerificationError
from stategate.evidence.ledger import chain as ledger_module
from stategate.evidence.ledger.chain import check_chain
from stategate.evidence.ledger.commit import PENDING_NAME
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import statement
from stategate.evidence.trust.trustfile import Role
from tests.integration.conftest import key_file
from tests.integration.ledger_support import RECORDS, Platform, make_platform

from .conftest import seeds, wait_until

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent("""
    import pathlib, sys
    from stategate.evidence.trust.keys import load_signing_key
    from stategate.evidence.layout import RepoLayout
    from stategate.evidence.store import EvidenceStore
    from stategate.evidence.testing import statement
    from stategate.evidence.trust.trustfile import Role
    root, key_path, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    key = load_signing_key(pathlib.Path(key_path))
    store = EvidenceStore.open(RepoLayout(pathlib.Path(root)))
    i = 0
    while count < 0 or i < count:
        rel = f"evidence/smoke/{name}/{i}.json"
        store.write_signed(rel, statement("smoke", subject_name=f"{name}-{i}"), key, Role.EVIDENCE)
        i += 1
""")


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return make_platform(tmp_path)


def _writer(platform: Platform, name: str, count: int, **kwargs: object) -> subprocess.Popen[bytes]:
    key = key_file(platform.evidence_key, platform.root.parent / "keys" / "evidence.key")
    argv = [sys.executable, "-c", WRITER, str(platform.root), str(key), name, str(count)]
    return subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload, no-any-return]


def _ledger(platform: Platform) -> bytes:
    return platform.layout.path(platform.layout.ledger).read_bytes()


def _assert_one_valid_chain(platform: Platform, entries: int) -> None:
    chain = check_chain(_ledger(platform), shown="ledger")
    assert chain.findings == ()
    assert [e.seq for e in chain.entries] == list(range(1, entries + 1))
    report = verify(EvidenceStore.open(platform.layout), artifacts=platform.artifacts)
    assert report.ok, [str(f) for f in report.findings]
    assert report.records == entries


def test_many_writers_at_once_keep_one_chain(platform: Platform) -> None:
    """8 processes x 15 records, all at once: every append lands, one chain."""
    writers = [_writer(platform, f"w{n}", 15) for n in range(8)]
    for child in writers:
        assert child.wait(timeout=300) == 0
    _assert_one_valid_chain(platform, len(RECORDS) + 8 * 15)


@pytest.mark.parametrize("seed", seeds())
def test_writer_killed_at_a_seeded_point(platform: Platform, seed: int) -> None:
    """Two writers race; one is SIGKILLed once the ledger reaches a seeded length.
    Whatever it was doing, the chain stays valid, every record file is ledgered, and
    every ledgered record verifies, except at most the victim's last one when the kill
    fell between its ledger line and its move into place: the next write completes it."""
    target = len(RECORDS) + random.Random(seed).randrange(4, 40)
    other = _writer(platform, "other", 30)
    victim = _writer(platform, "victim", -1)
    try:
        wait_until(lambda: _ledger(platform).count(b"\n") >= target, "the seeded ledger length")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert other.wait(timeout=300) == 0
    chain = check_chain(_ledger(platform), shown="ledger")
    assert chain.findings == ()
    report = verify(EvidenceStore.open(platform.layout), artifacts=platform.artifacts)
    assert all(f.code is FindingCode.RECORD_MISSING for f in report.findings), report.findings
    assert len(report.findings) <= 1
    assert all("/victim/" in f.file for f in report.findings)
    # the next write completes or discards what the victim left, and chains on
    platform.store().write_signed(
        "evidence/smoke/after/0.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
    )
    assert not (platform.root / "evidence" / PENDING_NAME).exists()
    _assert_one_valid_chain(platform, len(chain.entries) + 1)


KILL_AT = {
    # SIGKILL itself at an exact point of write_signed (a test-only patch in a child)
    "before-ledger-line": "st.EvidenceStore._append = die",
    "after-ledger-line": "st.publish = die",
}


@pytest.mark.parametrize("point", sorted(KILL_AT))
def test_writer_killed_around_its_commit_point(platform: Platform, point: str) -> None:
    """Killed before its ledger line: no record file, nothing ledgered. Killed after it:
    the record is ledgered but not in place (it does not count yet); the next write
    puts it in place (sha256 checked against the ledger) and it counts."""
    script = (
        "import os, signal\nimport stategate.evidence.store as st\n"
        "def die(*a, **k):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        + KILL_AT[point]
        + "\n"
        + WRITER
    )
    key = key_file(platform.evidence_key, platform.root.parent / "keys" / "evidence.key")
    done = subprocess.run(
        [sys.executable, "-c", script, str(platform.root), str(key), "killed", "1"], timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    rel = "evidence/smoke/killed/0.json"
    assert not (platform.root / rel).exists()  # no record file either way
    assert (platform.root / "evidence" / PENDING_NAME).exists()
    chain = check_chain(_ledger(platform), shown="ledger")
    ledgered = point == "after-ledger-line"
    assert (rel in chain.by_path()) is ledgered
    with pytest.raises(VerificationError):
        platform.store().load_verified(rel)
    platform.store().write_signed(
        "evidence/smoke/after/0.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
    )
    assert not (platform.root / "evidence" / PENDING_NAME).exists()
    assert (platform.root / rel).exists() is ledgered
    if ledgered:
        platform.store().load_verified(rel)
    _assert_one_valid_chain(platform, len(RECORDS) + ledgered + 1)


def test_torn_last_line_does_not_count_and_is_repaired(platform: Platform) -> None:
    """A writer killed mid-line (or a full disk) leaves an unterminated fragment: it names
    nothing, every record still counts, and the next append removes it."""
    ledger = platform.layout.path(platform.layout.ledger)
    whole = ledger.read_bytes()
    last = whole.splitlines(keepends=True)[-1]
    ledger.write_bytes(whole + last[: len(last) // 2])  # half of a plausible next entry
    assert check_chain(ledger.read_bytes(), shown="ledger").findings == ()
    for rel in RECORDS:
        platform.store().load_verified(rel)
    platform.store().write_signed(
        "evidence/smoke/after/0.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
    )
    assert ledger.read_bytes().startswith(whole)
    _assert_one_valid_chain(platform, len(RECORDS) + 1)


def test_short_write_is_rolled_back(platform: Platform) -> None:
    """The ledger may grow by only 100 bytes (RLIMIT_FSIZE: EFBIG, a real short write,
    standing in for a disk that fills mid-line): the append fails naming the ledger, the
    ledger is exactly as before, the record is removed, and the next append works."""
    for i in range(6):  # a ledger longer than a record, so the record itself still fits
        platform.store().write_signed(
            f"evidence/smoke/pad/{i}.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
        )
    before = _ledger(platform)
    limit = len(before) + 100
    script = (
        textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    """)
        + WRITER
    )
    key = key_file(platform.evidence_key, platform.root.parent / "keys" / "evidence.key")
    done = subprocess.run(
        [sys.executable, "-c", script, str(platform.root), str(key), "short", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "evidence/ledger.jsonl: cannot append: File too large" in done.stderr
    assert _ledger(platform) == before
    assert not (platform.root / "evidence/smoke/short/0.json").exists()
    platform.store().write_signed(
        "evidence/smoke/after/0.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
    )
    _assert_one_valid_chain(platform, len(RECORDS) + 6 + 1)


def test_a_writer_that_waits_too_long_fails_clearly(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the ledger's lock throughout: the bounded wait ends in an
    error naming the ledger, and nothing was written (the lock comes before the record)."""
    monkeypatch.setattr(ledger_module, "LOCK_WAIT_SECONDS", 0.2)
    fd = os.open(platform.layout.path(platform.layout.ledger), os.O_RDWR)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            "fcntl.flock(int(sys.argv[1]), fcntl.LOCK_EX); print('held', flush=True)\n"
            "time.sleep(600)",
            str(fd),
        ],
        pass_fds=(fd,),
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        before = _ledger(platform)
        rel = "evidence/smoke/late/0.json"
        with pytest.raises(ExternalError, match="ledger is locked") as caught:
            platform.store().write_signed(
                rel, statement("smoke"), platform.evidence_key, Role.EVIDENCE
            )
        assert caught.value.file == "evidence/ledger.jsonl"
        assert not (platform.root / rel).exists()
        assert _ledger(platform) == before
    finally:
        holder.kill()
        holder.wait()
        os.close(fd)
    # the holder is gone (its lock with it): the same write now works
    platform.store().write_signed(
        "evidence/smoke/late/0.json", statement("smoke"), platform.evidence_key, Role.EVIDENCE
    )
    _assert_one_valid_chain(platform, len(RECORDS) + 1)
