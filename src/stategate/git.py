"""The one git gateway: parsed results, never raw text, for the rest of stategate.

Both sides of a pull request are read from git objects (``ls-tree`` and one
``cat-file --batch`` process per revision), not from the work tree, so the
check judges exactly what the base and head commits contain.
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stategate import execute
from stategate.errors import ExternalError, InputError
from stategate.source import MAX_FILE_BYTES, clean_rel

BLOB_CACHE_BYTES = 64 * 1024 * 1024
_PIPELINE = 64  # blobs per pipelined cat-file exchange (keeps pipes from filling)


@dataclass(frozen=True)
class ChangedPath:
    status: str  # A, M, D, R (renamed), C, T
    path: str
    old_path: str | None = None


@dataclass(frozen=True)
class AddedLine:
    path: str
    line: int
    text: str


MAX_ADDED_BYTES = 16 * 1024 * 1024  # added text the secret scan reads; the rest is refused
MAX_ADDED_LINES = 250_000


@dataclass
class AddedText:
    lines: list[AddedLine]
    unscanned: AddedLine | None = None  # where the scan stopped (None: everything read)


class Git:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        # blob contents by object id, shared by every tree read from this repo: both sides
        # of a pull request hold mostly the same blobs (bounded: BLOB_CACHE_BYTES)
        self.blobs: dict[str, bytes] = {}
        self._blob_bytes = 0

    def keep(self, sha: str, data: bytes) -> bool:
        """Keep a blob's bytes for the next read of the same object id, within the bound."""
        if sha in self.blobs:
            return True
        if self._blob_bytes + len(data) > BLOB_CACHE_BYTES:
            return False
        self.blobs[sha] = data
        self._blob_bytes += len(data)
        return True

    def run(self, *args: str, check: bool = True) -> str:
        done = execute.run(
            ["git", "-C", str(self.repo), "-c", "core.quotepath=off", *args], check=False
        )
        if check and done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise InputError(f"git {args[0]}: {err[-1] if err else 'failed'}", file=str(self.repo))
        return done.text()

    def is_repo(self) -> bool:
        return self.run("rev-parse", "--git-dir", check=False).strip() != ""

    def rev_parse(self, rev: str) -> str:
        out = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip()
        if not out:
            raise InputError(f"unknown revision {rev!r}", file=str(self.repo))
        return out

    def default_branch(self) -> str | None:
        ref = self.run("symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False).strip()
        if ref:
            return ref.removeprefix("refs/remotes/")
        for name in ("main", "master", "origin/main", "origin/master"):
            if self.run("rev-parse", "--verify", "--quiet", name, check=False).strip():
                return name
        return None

    def branch_tips(self) -> dict[str, str]:
        """Branch name -> commit of every local and remote-tracking branch (none outside a
        git repository; ``origin/HEAD`` and other symbolic refs left out)."""
        if not self.is_repo():
            return {}
        out = self.run(
            "for-each-ref",
            "--format=%(refname:short)%09%(objectname)%09%(symref)",
            "refs/heads",
            "refs/remotes",
        )
        tips: dict[str, str] = {}
        for line in out.splitlines():
            name, commit, symref = ([*line.split("\t"), "", ""])[:3]
            if name and commit and not symref:
                tips[name] = commit
        return tips

    def merge_base(self, a: str, b: str) -> str:
        out = self.run("merge-base", a, b, check=False).strip()
        if not out:
            raise InputError(f"no merge base between {a} and {b}", file=str(self.repo))
        return out

    def changed_paths(self, base: str, head: str) -> list[ChangedPath]:
        out = self.run("diff", "--name-status", "-z", "-M", "--no-ext-diff", base, head)
        fields = out.split("\0")
        changes: list[ChangedPath] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i][0]
            if status in ("R", "C"):
                changes.append(ChangedPath(status, fields[i + 2], fields[i + 1]))
                i += 3
            else:
                changes.append(ChangedPath(status, fields[i + 1]))
                i += 2
        return changes

    def added_lines(self, base: str, head: str, *, max_bytes: int = MAX_ADDED_BYTES) -> AddedText:
        """Lines the diff adds (with their line numbers on the head side), up to
        ``max_bytes`` of added text; the first line past it is ``unscanned``."""
        out = self.run("diff", "-U0", "--no-color", "--no-ext-diff", "-M", base, head)
        added = AddedText([])
        path: str | None = None
        line = 0
        total = 0
        start = 0
        while start < len(out):
            end = out.find("\n", start)
            end = len(out) if end < 0 else end
            raw = out[start:end]
            start = end + 1
            if raw.startswith("+++ "):
                target = raw[4:]
                path = target[2:] if target.startswith("b/") else None
            elif raw.startswith("@@"):
                # @@ -a,b +c,d @@
                plus = raw.split("+", 1)[1].split(" ", 1)[0]
                line = int(plus.split(",", 1)[0])
            elif raw.startswith("+") and path is not None:
                total += len(raw)
                if total > max_bytes or len(added.lines) >= MAX_ADDED_LINES:
                    added.unscanned = AddedLine(path, line, "")
                    break
                added.lines.append(AddedLine(path, line, raw[1:]))
                line += 1
        return added

    def tree(self, rev: str) -> GitTree:
        return GitTree(self, self.rev_parse(rev))


class GitTree:
    """A :class:`~stategate.source.Source` over one commit's tree."""

    def __init__(self, git: Git, commit: str) -> None:
        self.git = git
        self.commit = commit
        self.label = f"{git.repo}@{commit[:12]}"
        self.root_name = git.repo.resolve().name
        self._blobs: dict[str, tuple[str, str]] = {}  # path -> (mode, sha)
        self._sizes: dict[str, int] = {}
        out = git.run("ls-tree", "-r", "-z", "-l", "--full-tree", commit)
        for entry in out.split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            mode, kind, sha, size = meta.split()
            if kind == "blob":
                self._blobs[path] = (mode, sha)
                self._sizes[path] = int(size) if size.isdigit() else 0
        self._batch: subprocess.Popen[bytes] | None = None
        self._cache: dict[str, bytes] = {}

    def list_files(self) -> list[str]:
        return sorted(self._blobs)

    def is_file(self, rel: str) -> bool:
        try:
            return clean_rel(rel) in self._blobs
        except InputError:
            return False

    def read_bytes(self, rel: str) -> bytes:
        path = clean_rel(rel)
        if path not in self._blobs:
            raise FileNotFoundError(rel)
        mode, sha = self._blobs[path]
        if mode == "120000":
            raise InputError("is a symlink in git; stategate does not follow symlinks", file=rel)
        if self._sizes[path] > MAX_FILE_BYTES:  # refused before a byte is read
            raise InputError(
                f"file is {self._sizes[path]} bytes, over the {MAX_FILE_BYTES}-byte limit",
                file=rel,
            )
        return self._cat(sha, rel)

    def prefetch(self, paths: list[str]) -> None:
        """Read many blobs in one pipelined exchange instead of one round trip each."""
        wanted: list[str] = []
        shas: set[str] = set()
        for p in paths:
            if (
                p in self._blobs
                and p not in self._cache
                and self._sizes[p] <= MAX_FILE_BYTES
                and self._blobs[p][0] != "120000"
                and self._blobs[p][1] not in self.git.blobs
                and self._blobs[p][1] not in shas
            ):
                wanted.append(p)
                shas.add(self._blobs[p][1])
        for start in range(0, len(wanted), _PIPELINE):
            chunk = wanted[start : start + _PIPELINE]
            proc = self._process()
            assert proc.stdin is not None
            proc.stdin.write(b"".join(self._blobs[p][1].encode() + b"\n" for p in chunk))
            proc.stdin.flush()
            for path in chunk:
                data = self._read_one(path)
                if not self.git.keep(self._blobs[path][1], data):
                    self._cache[path] = data

    def _cat(self, sha: str, rel: str) -> bytes:
        data = self.git.blobs.get(sha)
        if data is None:
            data = self._cache.pop(clean_rel(rel), None)
        fetched = data is None
        if data is None:
            proc = self._process()
            assert proc.stdin is not None
            proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.flush()
            data = self._read_one(rel)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(
                f"file is {len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit", file=rel
            )
        if fetched:
            self.git.keep(sha, data)
        return data

    def _process(self) -> subprocess.Popen[bytes]:
        if self._batch is None:
            self._batch = execute.popen(
                ["git", "-C", str(self.git.repo), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._batch

    def _read_one(self, rel: str) -> bytes:
        proc = self._process()
        assert proc.stdout is not None
        header = proc.stdout.readline().decode().split()
        if len(header) != 3:
            raise ExternalError(f"git cat-file could not read {rel}")
        data = _read_exact(proc.stdout, int(header[2]))
        proc.stdout.read(1)  # trailing newline
        return data

    def close(self) -> None:
        if self._batch is not None:
            if self._batch.stdin:
                self._batch.stdin.close()
            self._batch.wait(timeout=10)
            self._batch = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown; nothing to report
            self.close()


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            raise ExternalError("git cat-file ended early")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
