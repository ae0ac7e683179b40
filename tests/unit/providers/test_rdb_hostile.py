"""The native RDB scanner against crafted snapshots: lengths that wrap, memory bombs,
empty values.

Each RDB here is written byte by byte (``REDIS0011``, entries, EOF, a zero CRC64 as
``rdbchecksum no`` writes it), read both from a file (whose length bounds every
declared length) and through a pipe (whose length is unknown), and its digests are
checked against the canonical form computed here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import stategate
from stategate.errors import ExternalError
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.providers.rdb import RDBScanner, scan_file

MIB = 1024 * 1024
T_STRING, T_LIST, T_SET, T_ZSET2, T_HASH, T_STREAM3 = 0, 1, 2, 5, 4, 21


def length(n: int) -> bytes:
    """rdbSaveLen: 6, 14, 32 or 64 bits."""
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | n >> 8, n & 0xFF])
    if n < 1 << 32:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def string(data: bytes) -> bytes:
    return length(len(data)) + data


def lzf_string(compressed: bytes, declared: int) -> bytes:
    """An LZF-encoded string: its compressed bytes and the length it declares."""
    return b"\xc3" + length(len(compressed)) + length(declared) + compressed


def lzf_run(n: int) -> bytes:
    """LZF for b"a" * n in its densest form: one literal, then 3-byte back references
    repeating 264 bytes each (88 output bytes per input byte)."""
    out = bytearray(b"\x00a")
    left = n - 1
    while left >= 3:
        run = min(left, 264)
        out += bytes([(run - 2) << 5, 0]) if run <= 8 else bytes([0xE0, run - 9, 0])
        left -= run
    if left:
        out += bytes([left - 1]) + b"a" * left
    return bytes(out)


def entry(kind: int, key: bytes, value: bytes) -> bytes:
    return bytes([kind]) + string(key) + value


def rdb(*entries: bytes) -> bytes:
    return b"REDIS0011" + b"".join(entries) + b"\xff" + bytes(8)


def digest(kind: str, *elements: bytes) -> str:
    """The canonical digest (elements already in canonical order)."""
    h = hashlib.sha256(kind.encode() + b"\n")
    for e in elements:
        h.update(len(e).to_bytes(8, "big") + e)
    return f"{kind}:persistent:{h.hexdigest()[:32]}"


def via_file(tmp_path: Path, data: bytes, memory_limit: int | None = None) -> list[FingerprintItem]:
    path = tmp_path / "dump.rdb"
    path.write_bytes(data)
    _, jsonl = scan_file(path) if memory_limit is None else scan_file(path, memory_limit)
    return list(Fingerprint.from_jsonl(jsonl).items)


def via_pipe(data: bytes, memory_limit: int | None = None) -> list[FingerprintItem]:
    lines: list[bytes] = []
    scanner = (
        RDBScanner(lines.append)
        if memory_limit is None
        else RDBScanner(lines.append, memory_limit=memory_limit)
    )
    with scanner:
        scanner.feed(data)
        scanner.finish()
    return list(Fingerprint.from_jsonl(b"".join(lines)).items)


def both(tmp_path: Path, data: bytes) -> list[FingerprintItem]:
    items = via_file(tmp_path, data)
    assert via_pipe(data) == items
    return items


# ------------------------------------------------------------ lengths that wrap


def test_a_hash_declaring_2_to_the_63_plus_1_entries_is_refused(tmp_path: Path) -> None:
    # 2 * (2^63 + 1) wraps to 2 in 64 bits: the old loop read one pair and accepted it
    bad = rdb(entry(T_HASH, b"h", length(2**63 + 1) + string(b"f") + string(b"v")))
    with pytest.raises(ExternalError, match=r"hash entries: 9223372036854775809 declared"):
        via_file(tmp_path, bad)
    with pytest.raises(ExternalError, match=r"hash entries: 9223372036854775809 declared"):
        via_pipe(bad)
    # the same bytes declaring the one pair they hold are a valid snapshot
    good = rdb(entry(T_HASH, b"h", length(1) + string(b"f") + string(b"v")))
    assert [i.digest for i in both(tmp_path, good)] == [digest("hash", b"f", b"v")]


@pytest.mark.parametrize(
    ("kind", "what"),
    [(T_LIST, "list elements"), (T_SET, "set members"), (T_ZSET2, "zset members")],
)
def test_counts_that_cannot_fit_are_refused_before_reading(
    tmp_path: Path, kind: int, what: str
) -> None:
    # 2^35 elements: below the absolute bound, but not in a file of a few bytes (the
    # file's length says so) nor in the memory limit (a pipe's length is unknown)
    bad = rdb(entry(kind, b"k", length(2**35) + string(b"a")))
    with pytest.raises(
        ExternalError, match=rf"{what}: 34359738368 declared, more than the \d+ bytes left"
    ):
        via_file(tmp_path, bad)
    with pytest.raises(
        ExternalError, match=rf"{what}: 34359738368 declared, more than .*memory limit"
    ):
        via_pipe(bad)


def test_a_string_longer_than_the_rest_of_the_file_is_refused_without_reading(
    tmp_path: Path,
) -> None:
    bad = rdb(entry(T_STRING, b"s", length(3 << 30) + b"short"))
    with pytest.raises(ExternalError, match=r"string bytes: 3221225472 declared, more than"):
        via_file(tmp_path, bad)
    # through a pipe it cannot be held within the limit either
    with pytest.raises(ExternalError, match=r"memory limit of 512 MiB"):
        via_pipe(bad)


def test_stream_counts_are_bounded(tmp_path: Path) -> None:
    # a stream of no nodes, 8 metadata lengths, then 2^62 consumer groups
    value = length(0) + length(0) * 8 + length(2**62)
    bad = rdb(entry(T_STREAM3, b"x", value))
    with pytest.raises(
        ExternalError, match=r"stream consumer groups: 4611686018427387904 declared"
    ):
        via_file(tmp_path, bad)
    with pytest.raises(ExternalError, match=r"stream consumer groups: .* \(corrupt\)"):
        via_pipe(bad)


# ------------------------------------------------------------------ LZF and memory


def test_the_densest_lzf_scans_and_a_denser_claim_is_corrupt(tmp_path: Path) -> None:
    n = 264 * 1000 + 1
    packed = lzf_run(n)
    assert n == 88 * len(packed) - 175  # as dense as LZF gets
    items = both(tmp_path, rdb(entry(T_STRING, b"s", lzf_string(packed, n))))
    assert [i.digest for i in items] == [digest("string", b"a" * n)]
    # a length LZF cannot produce from these bytes is refused before it is allocated
    claim = 88 * len(packed) + 1
    with pytest.raises(ExternalError, match="corrupt compressed string length"):
        both(tmp_path, rdb(entry(T_STRING, b"s", lzf_string(packed, claim))))


def lzf_list_bomb(elements: int, each: int) -> bytes:
    """A list of LZF strings of ``each`` bytes: ~each/88 bytes apiece in the RDB."""
    packed = lzf_string(lzf_run(each), each)
    return rdb(entry(T_LIST, b"bomb", length(elements) + packed * elements))


def test_an_lzf_bomb_is_refused_at_the_memory_limit(tmp_path: Path) -> None:
    # 1.2 MB of RDB that decodes to 100 MiB in one key
    bomb = lzf_list_bomb(100, MIB)
    assert len(bomb) < 1_300_000
    with pytest.raises(
        ExternalError, match=r"a key needs more than the scanner's memory limit of 64 MiB"
    ):
        via_file(tmp_path, bomb, memory_limit=64 * MIB)
    with pytest.raises(ExternalError, match=r"memory limit of 64 MiB"):
        via_pipe(bomb, memory_limit=64 * MIB)
    # the same key within the limit is scanned
    assert len(via_pipe(bomb, memory_limit=160 * MIB)) == 1


_CHILD = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from stategate.errors import ExternalError
    from stategate.providers.rdb import scan_file

    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    try:
        scan_file(Path(sys.argv[1]){extra})
        print("scanned")
    except ExternalError as exc:
        print(exc)
    # this interpreter's own peak: ru_maxrss would keep the parent's from before exec
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    """
)


def _scan_in_child(path: Path, address_space: int, extra: str = "") -> tuple[str, int]:
    """Scan ``path`` in a fresh interpreter whose address space is capped: its one line
    of outcome, and its peak resident size in bytes."""
    code = _CHILD.format(limit=address_space, extra=extra)
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome, peak_kib = done.stdout.strip().splitlines()
    return outcome, int(peak_kib) * 1024


def test_an_lzf_bomb_under_an_address_space_limit(tmp_path: Path) -> None:
    """5.7 MB declaring one 500 MiB list: refused by a 128 MiB limit inside a 1 GiB
    address space, with its peak resident size near the limit, not near 500 MiB."""
    path = tmp_path / "bomb.rdb"
    path.write_bytes(lzf_list_bomb(500, MIB))
    assert path.stat().st_size < 6_000_000
    outcome, peak = _scan_in_child(path, 1 << 30, extra=f", {128 * MIB}")
    assert "not a valid redis snapshot" in outcome and "memory limit of 128 MiB" in outcome
    assert peak < 128 * MIB + 100 * MIB  # the interpreter's own ~30 MB, and the limit


def test_one_lzf_string_declaring_more_than_the_default_limit_is_refused_at_once(
    tmp_path: Path,
) -> None:
    """7 MB declaring a 600 MiB string: refused by the default limit before anything is
    allocated for it (the old scanner tried, and under this cap ran out of memory)."""
    n = 600 * MIB
    path = tmp_path / "dump.rdb"
    path.write_bytes(rdb(entry(T_STRING, b"s", lzf_string(lzf_run(n), n))))
    outcome, peak = _scan_in_child(path, 768 * MIB)
    assert outcome.startswith("dump.rdb is not a valid redis snapshot: a key needs more than")
    assert "memory limit of 512 MiB" in outcome
    assert peak < 100 * MIB


# --------------------------------------------------------------- empty values


def test_empty_keys_values_and_collections(tmp_path: Path) -> None:
    data = rdb(
        entry(T_STRING, b"", string(b"")),  # the first key and value are empty
        entry(T_STRING, b"z", lzf_string(b"", 0)),
        entry(T_LIST, b"l0", length(0)),
        entry(T_SET, b"s0", length(0)),
        entry(T_SET, b"s1", length(1) + string(b"")),
        entry(T_HASH, b"h0", length(0)),
        entry(T_HASH, b"h1", length(1) + string(b"") + string(b"")),
        entry(T_ZSET2, b"z0", length(0)),
        entry(T_ZSET2, b"z1", length(1) + string(b"m") + bytes(8)),  # score +0.0
    )
    items = both(tmp_path, data)
    zset = hashlib.sha256(b"zset\n")
    zset.update((1).to_bytes(8, "big") + b"m" + bytes(8))
    assert {i.name: i.digest for i in items} == {
        "": digest("string", b""),
        "z": digest("string", b""),
        "l0": digest("list"),
        "s0": digest("set"),
        "s1": digest("set", b""),
        "h0": digest("hash"),
        "h1": digest("hash", b"", b""),
        "z0": digest("zset"),
        "z1": f"zset:persistent:{zset.hexdigest()[:32]}",
    }
    lines = [json.loads(line) for line in Fingerprint(items).to_jsonl().splitlines()]
    assert lines[0][:3] == ["db0", "", 1]


def test_a_negative_expiry_still_marks_the_key_expiring(tmp_path: Path) -> None:
    data = rdb(b"\xfc" + (2**64 - 5).to_bytes(8, "little") + entry(T_STRING, b"k", string(b"v")))
    (item,) = both(tmp_path, data)
    assert item.digest == digest("string", b"v").replace("persistent", "expiring")
    assert item.detail == "expires-ms:-5"


# ------------------------------------------------------------------- sanitizers

_SANITIZED_CHILD = textwrap.dedent(
    """
    import os, sys, threading
    import rdbscan


    def feed(w, data):
        try:
            with os.fdopen(w, "wb") as out:
                out.write(data)
        except BrokenPipeError:
            pass  # the scanner refused the snapshot before its end


    for name in sys.argv[1:]:
        data = open(name, "rb").read()
        for mode in ("file", "pipe"):
            if mode == "file":
                fd = os.open(name, os.O_RDONLY)
            else:
                fd, w = os.pipe()
                threading.Thread(target=feed, args=(w, data)).start()
            try:
                rdbscan.scan(fd, len, 8 << 20)  # the smallest limit: the bomb reaches it
            except rdbscan.RDBError:
                pass
            finally:
                os.close(fd)
    print("clean")
    """
)


def test_crafted_snapshots_under_address_and_undefined_behaviour_sanitizers(
    tmp_path: Path,
) -> None:
    """The scanner built with -fsanitize=address,undefined (halting on the first report)
    reads every crafted case: empty keys and values once passed NULL to memcpy and
    qsort_r, which UBSan reported."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc builds the native scanner (scripts/setup.sh installs it)"
    source = Path(stategate.__file__).parent / "native" / "rdbscan.c"
    module = tmp_path / f"rdbscan{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        [
            *(gcc, "-shared", "-fPIC", "-std=c11", "-O1", "-g", "-fno-omit-frame-pointer"),
            *("-fsanitize=address,undefined", "-fno-sanitize-recover=all"),
            *(f"-I{sysconfig.get_paths()['include']}", "-o", str(module), str(source), "-lcrypto"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    cases = {
        "empty": rdb(
            entry(T_STRING, b"", string(b"")),
            entry(T_STRING, b"z", lzf_string(b"", 0)),
            entry(T_SET, b"s0", length(0)),
            entry(T_SET, b"s1", length(1) + string(b"")),
            entry(T_HASH, b"h1", length(1) + string(b"") + string(b"")),
            entry(T_ZSET2, b"z1", length(1) + string(b"") + bytes(8)),
        ),
        "wrapping hash": rdb(entry(T_HASH, b"h", length(2**63 + 1) + string(b"f") + string(b"v"))),
        "dense lzf": rdb(entry(T_STRING, b"s", lzf_string(lzf_run(5000), 5000))),
        "lzf bomb": lzf_list_bomb(40, 400_000),
        "no bytes at all": b"",  # clang's UBSan found NULL + 0 in the CRC before any read
        "truncated": rdb(entry(T_STRING, b"s", length(1000) + b"short"))[:-9],
    }
    paths = []
    for name, data in cases.items():
        path = tmp_path / f"{name}.rdb"
        path.write_bytes(data)
        paths.append(str(path))
    runtime = [
        f"{subprocess.check_output([gcc, f'-print-file-name={lib}'], text=True).strip()}"
        for lib in ("libasan.so", "libubsan.so")
    ]
    env = dict(
        os.environ,
        LD_PRELOAD=":".join(runtime),
        ASAN_OPTIONS="detect_leaks=0",
        PYTHONPATH=str(tmp_path),
        PYTHONMALLOC="malloc",
    )
    done = subprocess.run(
        [sys.executable, "-c", _SANITIZED_CHILD, *paths],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert "runtime error" not in done.stderr and "ERROR: AddressSanitizer" not in done.stderr
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr


def test_a_long_key_is_escaped_block_by_block_as_python_would(tmp_path: Path) -> None:
    # 4-byte characters straddle the 4096-byte blocks (the "x" shifts them), stray
    # bytes escape to \udcXX (6 bytes each), quotes to \"
    key = b"x" + "\U0001f600".encode() * 1500 + b"\xff" * 3000 + b'"' * 2000 + b"\x01"
    path = tmp_path / "dump.rdb"
    path.write_bytes(rdb(entry(T_STRING, key, string(b"v"))))
    _, jsonl = scan_file(path)
    name = key.decode("utf-8", "surrogateescape")
    assert jsonl == (json.dumps(["db0", name, 1, digest("string", b"v"), ""]) + "\n").encode()
