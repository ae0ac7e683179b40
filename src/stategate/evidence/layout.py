"""Where the trust layer's files live in the platform repo, and path safety."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stategate.errors import InputError
from stategate.evidence.trust.trustfile import DEFAULT_TRUST_FILE
from stategate.policy.schema import Policy
from stategate.regularfile import resolve_inside

LEDGER_NAME = "ledger.jsonl"
RECORD_SUFFIX = ".json"  # every *.json under the evidence folder is a signed record

# One naming scheme for every record: <evidence dir>/<scope>/<kind>-<id>.json.
# A module's records (backup, restore-drill, smoke) have the scope <project>/<service>;
# records about something else have a scope starting with "_", which no compose
# project name can start with, so they never mix with a module's records.
PLATFORM_SCOPE = "_platform"  # the whole platform: DR drills
APPROVALS_SCOPE = "_approvals"  # approvals, one folder per packet: _approvals/<packet id>


def record_file_name(kind: str, record_id: str) -> str:
    """``backup-20260527T100000Z-1a2b3c.json``: the kind, then an id that starts with UTC time."""
    return f"{kind}-{record_id}{RECORD_SUFFIX}"


@dataclass(frozen=True)
class RepoLayout:
    """The platform repo and the trust layer's paths inside it (POSIX, repo-relative)."""

    root: Path
    evidence_dir: str = "evidence"
    trust_file: str = DEFAULT_TRUST_FILE

    @classmethod
    def from_policy(cls, root: str | os.PathLike[str], policy: Policy) -> RepoLayout:
        return cls(Path(root), policy.evidence.dir.strip("/"), policy.evidence.trust_file)

    @property
    def ledger(self) -> str:
        return f"{self.evidence_dir}/{LEDGER_NAME}"

    def path(self, rel: str) -> Path:
        return self.root / rel

    def record_path(self, scope: str, kind: str, record_id: str) -> str:
        """The repo-relative path of a record (the one naming scheme, see above)."""
        return self.record_rel(f"{self.evidence_dir}/{scope}/{record_file_name(kind, record_id)}")

    def is_record(self, rel: str) -> bool:
        return rel.startswith(self.evidence_dir + "/") and rel.endswith(RECORD_SUFFIX)

    def record_rel(self, rel: str) -> str:
        """Validate a record path: repo-relative, inside the evidence folder, ``*.json``."""
        clean = safe_relpath(rel)
        if not self.is_record(clean):
            raise InputError(
                f"a record must be a *{RECORD_SUFFIX} file under {self.evidence_dir}/", file=rel
            )
        self.inside(clean)
        return clean

    def real_folders(self, rel: str) -> None:
        """Refuse ``rel`` when a folder on its way from the repo root is a symlink: a
        record is written and read only through real folders, so the path the ledger
        names is where the bytes are (even a link that stays inside the repo would let
        one file answer for two ledgered paths)."""
        folder = self.root
        for part in PurePosixPath(rel).parts[:-1]:
            folder = folder / part
            if folder.is_symlink():
                raise InputError(
                    f"{folder.relative_to(self.root).as_posix()} is a symlink; records are "
                    "written and read only through real folders",
                    file=rel,
                )

    def inside(self, rel: str) -> Path:
        """The absolute path of ``rel``, refusing one that resolves outside the repo."""
        return resolve_inside(self.root / rel, self.root, shown=rel)

    def to_rel(self, user_path: str | os.PathLike[str]) -> str:
        """A path given by a user (absolute, cwd- or repo-relative) as a repo-relative path."""
        given = Path(user_path)
        if given.is_absolute():
            candidate = given
        elif given.exists() and not (self.root / given).exists():
            candidate = Path.cwd() / given
        else:
            candidate = self.root / given
        root = Path(os.path.realpath(self.root))
        try:
            return Path(os.path.realpath(candidate)).relative_to(root).as_posix()
        except ValueError as exc:
            raise InputError("path is outside the repo", file=str(user_path)) from exc


def safe_relpath(text: str) -> str:
    """``text`` as a normalised POSIX relative path, refusing absolute paths and ``..``."""
    if not text or "\x00" in text or "\\" in text:
        raise InputError("invalid path", file=repr(text))
    path = PurePosixPath(text)
    if path.is_absolute() or any(part == ".." for part in path.parts):
        raise InputError("path must be relative and must not contain '..'", file=text)
    clean = path.as_posix()
    if clean in ("", "."):
        raise InputError("invalid path", file=text)
    return clean
