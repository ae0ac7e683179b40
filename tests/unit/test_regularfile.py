"""The one bounded, regular-file-only reader every user file goes through."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.regularfile import read_regular, resolve_inside


def test_reads_a_regular_file_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_bytes(b"x: 1\n")
    (tmp_path / "link.yml").symlink_to("a.yml")  # a symlink that stays inside is fine
    assert read_regular(tmp_path / "a.yml", 100, shown="a.yml", root=tmp_path) == b"x: 1\n"
    assert read_regular(tmp_path / "link.yml", 100, shown="link.yml", root=tmp_path) == b"x: 1\n"


def test_missing_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "absent", 100, shown="absent", root=tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")  # no writer: a blocking open or read would never return
    with pytest.raises(InputError, match="f: is a FIFO, not a regular file"):
        read_regular(tmp_path / "f", 100, shown="f", root=tmp_path)


def test_device_is_refused(tmp_path: Path) -> None:
    # without a root (an operator-named file) symlinks are followed, and fstat says device
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="zero: is a device"):
        read_regular(tmp_path / "zero", 100, shown="zero")


def test_device_node_inside_the_root_is_refused(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "zero", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    with pytest.raises(InputError, match="zero: is a device"):
        read_regular(tmp_path / "zero", 100, shown="zero", root=tmp_path)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret").write_text("s3cret")
    (repo / "a.yml").symlink_to("../secret")
    with pytest.raises(InputError, match=r"a\.yml: resolves outside the repository"):
        read_regular(repo / "a.yml", 100, shown="a.yml", root=repo)
    with pytest.raises(InputError, match="outside"):
        resolve_inside(repo / "a.yml", repo, shown="a.yml")


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    (tmp_path / "self").symlink_to("self")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    for name in ("self", "a"):
        with pytest.raises(InputError, match="symlink loop"):
            read_regular(tmp_path / name, 100, shown=name, root=tmp_path)


def test_size_limit_from_fstat_and_from_reading(tmp_path: Path) -> None:
    with open(tmp_path / "big", "wb") as handle:
        handle.truncate(1 << 40)  # sparse: refused from its size, never read
    with pytest.raises(InputError, match="too large: 1099511627776 bytes"):
        read_regular(tmp_path / "big", 1000, shown="big", root=tmp_path)
    # /proc files report size 0 and still have content: the read itself is bounded
    with pytest.raises(InputError, match="status: file is too large"):
        read_regular(Path("/proc/self/status"), 10, shown="status")


def test_directory_and_nul_in_name(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(InputError, match="d: is a directory"):
        read_regular(tmp_path / "d", 100, shown="d", root=tmp_path)
    with pytest.raises(InputError, match="invalid file name"):
        read_regular(Path(str(tmp_path) + "/a\x00b"), 100, shown="a")
