"""Where evidence records and artifacts live, and how they are named and found.

Records: ``<repo>/<evidence dir>/<project>/<service>/<kind>-<id>.json`` with
``<id>`` = ``<UTC yyyymmddThhmmssZ>-<6 hex>``, so names sort by time and never
collide. Artifacts: ``<artifacts root>/<project>/<service>/<backup id>/``,
outside git.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from stategate.errors import InputError
from stategate.evidence.artifact import write_file_atomic
from stategate.evidence.record import Kind, Result, Statement

ID_RE = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
RECORD_RE = re.compile(rf"^(backup|restore-drill|smoke)-({ID_RE})\.json$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ARTIFACTS_ENV = "STATEGATE_ARTIFACTS"


def new_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def module_path(module_id: str) -> Path:
    """``project/service`` as a relative path; refuses ids that could escape."""
    parts = module_id.split("/")
    if len(parts) != 2 or not all(_SEGMENT.match(p) for p in parts):
        raise InputError(f"not a module id (<project>/<service>): {module_id!r}")
    return Path(*parts)


def record_name(kind: Kind, record_id: str) -> str:
    return f"{kind}-{record_id}.json"


def write_record(evidence_dir: Path, stmt: Statement) -> Path:
    """Write one record atomically; the single point signing will wrap."""
    pred = stmt.predicate
    path = evidence_dir / module_path(pred.module) / record_name(pred.kind, pred.id)
    if path.exists():
        raise InputError(f"evidence record already exists: {path}")
    write_file_atomic(path, stmt.to_json())
    return path


@dataclass(frozen=True)
class StoredRecord:
    path: Path
    statement: Statement

    @property
    def kind(self) -> Kind:
        return self.statement.predicate.kind

    @property
    def result(self) -> Result:
        return self.statement.predicate.result


def read_record(path: Path) -> StoredRecord:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read evidence record: {exc.strerror}", file=str(path)) from exc
    try:
        return StoredRecord(path, Statement.model_validate_json(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"invalid evidence record: {where}: {first['msg']}", file=str(path)
        ) from exc


def list_records(
    evidence_dir: Path, module_id: str | None = None, kind: Kind | None = None
) -> list[StoredRecord]:
    """Records oldest first (by id, which starts with the UTC time)."""
    roots = [evidence_dir / module_path(module_id)] if module_id else [evidence_dir]
    found: list[tuple[str, Path]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                match = RECORD_RE.match(name)
                if match and (kind is None or match.group(1) == kind):
                    found.append((match.group(2), Path(dirpath) / name))
    found.sort()
    records = [read_record(path) for _id, path in found]
    if module_id:
        records = [r for r in records if r.statement.predicate.module == module_id]
    return records


def latest_record(
    evidence_dir: Path, module_id: str, kind: Kind, result: Result | None = "pass"
) -> StoredRecord | None:
    """The newest record of a kind for a module (by default: the newest passing one)."""
    records = [
        r
        for r in list_records(evidence_dir, module_id, kind)
        if result is None or r.result == result
    ]
    return records[-1] if records else None


def find_backup(evidence_dir: Path, module_id: str, backup_id: str | None) -> StoredRecord:
    """The passing backup record to drill: by id, or the newest one."""
    if backup_id is None:
        record = latest_record(evidence_dir, module_id, "backup")
        if record is None:
            raise InputError(f"no passing backup recorded for {module_id} in {evidence_dir}")
        return record
    wanted = backup_id.removeprefix("backup-").removesuffix(".json")
    for record in list_records(evidence_dir, module_id, "backup"):
        if record.statement.predicate.id == wanted:
            if record.result != "pass":
                raise InputError(f"backup {wanted} of {module_id} did not pass: nothing to drill")
            return record
    raise InputError(f"no backup {wanted} recorded for {module_id}")


def artifacts_root(repo: Path, configured: str | None, override: Path | None = None) -> Path:
    """Artifacts folder: --artifacts, $STATEGATE_ARTIFACTS, the policy, or the user's state dir.

    It must lie outside the platform repo: artifacts never go into git.
    """
    if override is not None:
        root = override
    elif os.environ.get(ARTIFACTS_ENV):
        root = Path(os.environ[ARTIFACTS_ENV])
    elif configured:
        root = Path(os.path.expanduser(configured))
        root = root if root.is_absolute() else repo / root
    else:
        state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        root = Path(state) / "stategate" / "artifacts"
    root = root.resolve()
    if root.is_relative_to(repo.resolve()):
        raise InputError(
            f"artifacts folder {root} is inside the platform repo: keep it outside git"
        )
    return root
