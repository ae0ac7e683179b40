"""The in-place major upgrade an operator will run, rehearsed in a sandbox: ``pg_upgrade``
from a cluster of the source major (initialised like production) to one of the target.

:func:`initdb_flags` (pure) derives what the new cluster must match, as ``pg_upgrade``
requires: data checksums, encoding, locale and provider, WAL segment size. The old
cluster's ``pg_controldata`` gives checksums, WAL segment and block size; its
``template1`` gives encoding and locale. :class:`UpgradeSandbox` runs the clusters and
the tools (all through :mod:`stategate.execute`), on Unix sockets only, in one private
folder removed on exit.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from stategate import execute
from stategate.errors import ExternalError
from stategate.providers.access import PostgresAccess
from stategate.sandbox.leftovers import remove_sandbox, sweep_orphans
from stategate.sandbox.ports import free_port
from stategate.sandbox.servers import _make_private_dir, postgres_run_user

# what `initdb` needs to know about the old cluster, by name (values as text)
CHECKSUMS = "data_checksums"  # "on" | "off"
ENCODING = "encoding"
COLLATE = "lc_collate"
CTYPE = "lc_ctype"
PROVIDER = "locale_provider"  # "libc" | "icu" | "builtin"
LOCALE = "locale"  # the ICU or builtin locale, when the provider is not libc
WAL_SEGMENT = "wal_segment_bytes"
BLOCK_SIZE = "block_size"

_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}
DEFAULT_WAL_SEGMENT = 16 * 1024 * 1024


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str  # the first reported problem, or what passed


def settings_from(
    controldata: Mapping[str, str], template1: Mapping[str, object]
) -> dict[str, str]:
    """The old cluster's settings that the new one must match (pure).

    ``controldata``: ``pg_controldata``'s fields; ``template1``: its ``pg_database`` row
    (as ``to_jsonb``, with ``encoding_name``), whose locale columns differ between majors.
    """
    checksum_version = controldata.get("Data page checksum version", "0").strip()
    return settings_of(
        template1,
        checksums=checksum_version not in ("", "0"),
        wal_segment_bytes=int(controldata.get("Bytes per WAL segment", DEFAULT_WAL_SEGMENT)),
        block_size=int(controldata.get("Database block size", 8192)),
    )


def settings_of(
    template1: Mapping[str, object], *, checksums: bool, wal_segment_bytes: int, block_size: int
) -> dict[str, str]:
    """The settings by name, from ``template1``'s row and the cluster-wide ones (pure)."""
    provider = _PROVIDERS.get(str(template1.get("datlocprovider") or "c"), "libc")
    settings = {
        CHECKSUMS: "on" if checksums else "off",
        ENCODING: str(template1.get("encoding_name") or "UTF8"),
        COLLATE: str(template1.get("datcollate") or "C"),
        CTYPE: str(template1.get("datctype") or "C"),
        PROVIDER: provider,
        WAL_SEGMENT: str(wal_segment_bytes),
        BLOCK_SIZE: str(block_size),
    }
    locale = template1.get("datlocale") or template1.get("daticulocale")
    if provider != "libc" and locale:
        settings[LOCALE] = str(locale)
    return settings


def initdb_flags(settings: Mapping[str, str], target_major: int, superuser: str) -> list[str]:
    """The ``initdb`` flags of a new cluster of ``target_major`` that ``pg_upgrade`` accepts
    for an old cluster with ``settings`` (pure)."""
    flags = ["-U", superuser, "-E", settings.get(ENCODING, "UTF8")]
    provider = settings.get(PROVIDER, "libc")
    if provider == "icu":
        flags += ["--locale-provider=icu", f"--icu-locale={settings.get(LOCALE, 'und')}"]
    elif provider == "builtin":
        flags += ["--locale-provider=builtin", f"--builtin-locale={settings.get(LOCALE, 'C')}"]
    flags += [
        f"--lc-collate={settings.get(COLLATE, 'C')}",
        f"--lc-ctype={settings.get(CTYPE, 'C')}",
    ]
    if settings.get(CHECKSUMS) == "on":
        flags.append("--data-checksums")
    elif target_major >= 18:  # 18's initdb enables checksums unless told not to
        flags.append("--no-data-checksums")
    segment = int(settings.get(WAL_SEGMENT, str(DEFAULT_WAL_SEGMENT)))
    if segment != DEFAULT_WAL_SEGMENT:
        flags.append(f"--wal-segsize={segment // (1024 * 1024)}")
    return flags


def parse_controldata(text: str) -> dict[str, str]:
    """``pg_controldata``'s ``Name:   value`` lines as a mapping (pure)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def first_problem(output: str) -> str:
    """What ``pg_upgrade``'s output says failed, in one line (pure): the failed check and
    the first sentence of its explanation, else the first line that reports an error."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    lines = [line for line in lines if line != "Failure, exiting" and set(line) != {"-"}]
    for number, line in enumerate(lines):
        _before, sep, check = line.partition("failed check:")
        if sep:
            why = next((x for x in lines[number + 1 :] if x.startswith("Your installation")), "")
            return f"{check.strip()}: {why}" if why else check.strip()
    for line in lines:
        wrong = re.search(r"\b(fatal|failure|error|not compatible|does not|mismatch)", line, re.I)
        if wrong and not line.lower().startswith("checking"):
            return line
    return lines[-1] if lines else "pg_upgrade failed without output"


class UpgradeSandbox:
    """Two clusters (``old`` of the source major, ``new`` of the target) in one private
    folder, and ``pg_upgrade`` between them. Every cluster is stopped and the folder
    removed on exit, whatever happened."""

    def __init__(self, old_bin: Path, new_bin: Path, superuser: str) -> None:
        self.old_bin, self.new_bin, self.superuser = old_bin, new_bin, superuser
        self.user = postgres_run_user()
        self.root: Path | None = None
        self._running: dict[str, Path] = {}  # "old"/"new" -> the bin folder it runs from

    def __enter__(self) -> UpgradeSandbox:
        sweep_orphans()
        self.root = _make_private_dir("stategate-pg-", self.user)
        for folder in ("sock", "work"):
            (self.root / folder).mkdir()
            self._own(self.root / folder)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name, bin_dir in list(self._running.items()):
            self._pg_ctl(bin_dir, name, "stop", "-m", "immediate", check=False)
        self._running.clear()
        if self.root is not None:
            remove_sandbox(self.root)
            self.root = None

    def _own(self, path: Path) -> None:
        if self.user:
            info = pwd.getpwnam(self.user)
            os.chown(path, info.pw_uid, info.pw_gid)

    def data(self, name: str) -> Path:
        assert self.root is not None
        return self.root / name

    def initdb(self, name: str, flags: Sequence[str]) -> None:
        """A fresh cluster ``name`` (replacing one there) from the matching bin folder."""
        bin_dir = self.old_bin if name == "old" else self.new_bin
        data = self.data(name)
        if data.exists():
            shutil.rmtree(data)
        execute.run(
            [str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "--no-sync", *flags],
            user=self.user,
            timeout=300,
        )
        (data / "postgresql.auto.conf").write_text(
            "listen_addresses = ''\nfsync = 'off'\nsynchronous_commit = 'off'\n"
            "full_page_writes = 'off'\nmax_connections = '40'\n"
        )

    def start(self, name: str) -> PostgresAccess:
        """Start cluster ``name`` on a free port, Unix socket only."""
        assert self.root is not None
        bin_dir = self.old_bin if name == "old" else self.new_bin
        port = free_port()
        options = f"-p {port} -k {self.root / 'sock'}"
        self._pg_ctl(
            bin_dir,
            name,
            "start",
            "-w",
            "-t",
            "120",
            "-o",
            options,
            "-l",
            str(self.root / f"{name}.log"),
        )
        self._running[name] = bin_dir
        access = PostgresAccess(str(self.root / "sock"), port, self.superuser, None)
        return replace(access, tools=bin_dir)

    def stop(self, name: str) -> None:
        """A clean shutdown (``pg_upgrade`` refuses a cluster that was not shut down)."""
        bin_dir = self._running.pop(name)
        self._pg_ctl(bin_dir, name, "stop", "-m", "fast", "-w", "-t", "120")

    def controldata(self, name: str) -> dict[str, str]:
        bin_dir = self.old_bin if name == "old" else self.new_bin
        done = execute.run(
            [str(bin_dir / "pg_controldata"), "-D", str(self.data(name))],
            user=self.user,
            env={"LC_ALL": "C"},
            timeout=60,
        )
        return parse_controldata(done.text())

    def pg_upgrade(self, *, check: bool, link: bool = True) -> CheckResult:
        """The target's ``pg_upgrade`` from ``old`` to ``new`` (both stopped)."""
        assert self.root is not None
        argv = [
            str(self.new_bin / "pg_upgrade"),
            "-b",
            str(self.old_bin),
            "-B",
            str(self.new_bin),
            "-d",
            str(self.data("old")),
            "-D",
            str(self.data("new")),
            "-U",
            self.superuser,
            "-p",
            str(free_port()),
            "-P",
            str(free_port()),
            "-s",
            str(self.root / "sock"),
        ]
        if check:
            argv.append("--check")
        elif link:
            argv.append("--link")
        done = execute.run(argv, user=self.user, cwd=self.root / "work", check=False, timeout=None)
        output = done.text() + done.stderr.decode("utf-8", "replace")
        if done.returncode != 0:
            return CheckResult(False, first_problem(output))
        return CheckResult(True, "Clusters are compatible" if check else "Upgrade Complete")

    def _pg_ctl(self, bin_dir: Path, name: str, *args: str, check: bool = True) -> None:
        done = execute.run(
            [str(bin_dir / "pg_ctl"), "-D", str(self.data(name)), *args],
            user=self.user,
            check=False,
            timeout=180,
        )
        if check and done.returncode != 0:
            raise ExternalError(
                f"pg_ctl {args[0]} of the {name} cluster failed: "
                + (done.stderr.decode("utf-8", "replace").strip() or done.text().strip())
            )
