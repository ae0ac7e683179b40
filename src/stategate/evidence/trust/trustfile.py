"""Trust roots: which public keys may sign in which role, and when.

The trust file lives in the platform repo (default ``trust/allowed_signers.yaml``)
so CI verifies everything offline from a checkout. It is meant to be edited by
hand: expiring a key is setting ``valid_before``, revoking it is ``revoked``.

``revoked: true`` voids every signature the key ever made (use it when a key
leaks: a thief can claim any signing time). ``revoked: <timestamp>`` voids
signatures made from then on and keeps older ones (use it to retire a key).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from stategate.errors import InputError
from stategate.evidence.files import atomic_write
from stategate.evidence.signing.canonical import format_time
from stategate.evidence.trust.keys import PublicKey, SigningKey
from stategate.yamlfile import load_file, loads, read_text

DEFAULT_TRUST_FILE = "trust/allowed_signers.yaml"

TRUST_HEADER = """\
# stategate trust roots: the public keys allowed to sign evidence and approvals.
# Edit by hand, commit, review like code. Per key:
#   role:          evidence (hosts and agents producing evidence) | operator (approvals)
#   keyid:         OpenSSH fingerprint (ssh-keygen -lf KEY.pub); checked against public_key
#   valid_after:   optional RFC 3339 time; signatures made earlier do not count
#   valid_before:  optional RFC 3339 time (expiry); signatures made from then on do not count
#   revoked:       true voids every signature of the key (a leaked key);
#                  a timestamp voids signatures made from then on (a retired key)
version: 1
keys:
"""


class Role(enum.StrEnum):
    """What a key may sign."""

    EVIDENCE = "evidence"  # backups, drills, smoke runs, DR drills
    OPERATOR = "operator"  # approvals of runtime applies


def _as_utc(value: object) -> object:
    """Accept a YAML timestamp, a bare date or a string; a naive time is UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # pydantic reports it
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return value


UtcTime = Annotated[datetime, BeforeValidator(_as_utc)]


class TrustEntry(BaseModel):
    """One key as written in the trust file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Who or what holds the key.")
    role: Role
    public_key: str = Field(..., description="OpenSSH public key: 'ssh-ed25519 AAAA...'.")
    keyid: str | None = Field(None, description="OpenSSH SHA256 fingerprint; derived if absent.")
    valid_after: UtcTime | None = None
    valid_before: UtcTime | None = None
    revoked: bool | UtcTime = False


def trust_entry(
    key: SigningKey,
    role: Role,
    name: str,
    *,
    valid_after: datetime | None = None,
    valid_before: datetime | None = None,
    revoked: bool | datetime = False,
) -> TrustEntry:
    """The trust file entry that trusts ``key`` (its public half) for ``role``."""
    return TrustEntry(
        name=name,
        role=role,
        public_key=key.public.openssh,
        keyid=key.keyid,
        valid_after=valid_after,
        valid_before=valid_before,
        revoked=revoked,
    )


class TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    keys: list[TrustEntry] | None = None


class KeyState(enum.StrEnum):
    """Whether a key may sign in a role at a time."""

    VALID = "valid"
    UNKNOWN = "unknown-key"  # not in the trust file at all
    WRONG_ROLE = "wrong-role"  # trusted, but not for this role
    NOT_YET_VALID = "key-not-yet-valid"
    EXPIRED = "key-expired"
    REVOKED = "key-revoked"


@dataclass(frozen=True)
class TrustedKey:
    name: str
    role: Role
    public: PublicKey
    valid_after: datetime | None
    valid_before: datetime | None
    revoked: bool | datetime

    @property
    def keyid(self) -> str:
        return self.public.keyid

    def state_at(self, moment: datetime) -> KeyState:
        if self.revoked is True or (isinstance(self.revoked, datetime) and moment >= self.revoked):
            return KeyState.REVOKED
        if self.valid_after is not None and moment < self.valid_after:
            return KeyState.NOT_YET_VALID
        if self.valid_before is not None and moment >= self.valid_before:
            return KeyState.EXPIRED
        return KeyState.VALID


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of looking a key up for a role at a signing time."""

    state: KeyState
    key: TrustedKey | None  # the entry consulted (None when unknown)
    roles: tuple[Role, ...]  # every role the key is trusted for

    @property
    def ok(self) -> bool:
        return self.state is KeyState.VALID


@dataclass(frozen=True)
class TrustRoots:
    """All trusted keys, loaded and checked."""

    keys: tuple[TrustedKey, ...]
    source: str = DEFAULT_TRUST_FILE

    def find(self, keyid: str) -> tuple[TrustedKey, ...]:
        return tuple(k for k in self.keys if k.keyid == keyid)

    def check(self, keyid: str, role: Role, at: datetime) -> KeyCheck:
        """May ``keyid`` sign as ``role`` at ``at``?"""
        entries = self.find(keyid)
        roles = tuple(dict.fromkeys(k.role for k in entries))
        if not entries:
            return KeyCheck(KeyState.UNKNOWN, None, roles)
        for entry in entries:
            if entry.role is role:
                return KeyCheck(entry.state_at(at), entry, roles)
        return KeyCheck(KeyState.WRONG_ROLE, entries[0], roles)


def parse_trust(raw: Any, *, shown: str) -> TrustRoots:
    """Validate a parsed trust document (``InputError`` naming ``shown`` if invalid)."""
    if raw is None:
        return TrustRoots((), shown)
    try:
        doc = TrustFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "document"
        raise InputError(f"invalid trust file: {where}: {err['msg']}", file=shown) from exc
    keys: list[TrustedKey] = []
    seen: set[tuple[str, Role]] = set()
    for index, entry in enumerate(doc.keys or []):
        try:
            public = PublicKey.parse(entry.public_key)
        except ValueError as exc:
            raise InputError(
                f"invalid trust file: keys.{index}.public_key: {exc}", file=shown
            ) from exc
        if entry.keyid is not None and entry.keyid != public.keyid:
            raise InputError(
                f"invalid trust file: keys.{index}.keyid {entry.keyid} does not match its "
                f"public_key ({public.keyid})",
                file=shown,
            )
        if (public.keyid, entry.role) in seen:
            raise InputError(
                f"invalid trust file: keys.{index}: key {public.keyid} listed twice for role "
                f"{entry.role.value}",
                file=shown,
            )
        seen.add((public.keyid, entry.role))
        keys.append(
            TrustedKey(
                name=entry.name,
                role=entry.role,
                public=public,
                valid_after=entry.valid_after,
                valid_before=entry.valid_before,
                revoked=entry.revoked,
            )
        )
    return TrustRoots(tuple(keys), shown)


def load_trust(
    path: Path, *, shown: str | None = None, missing_ok: bool = True, root: Path | None = None
) -> TrustRoots:
    """Load the trust file; a missing file is an empty set of roots when ``missing_ok``.

    The file is read as a regular file only, bounded, and (with ``root``) only when
    it resolves inside ``root``: a FIFO, a device or a symlink loop is an error,
    not an empty trust file.
    """
    label = shown or str(path)
    if not os.path.lexists(path):
        if missing_ok:
            return TrustRoots((), label)
        raise InputError("trust file not found (create one with 'stategate keys init')", file=label)
    return parse_trust(load_file(path, label, root=root), shown=label)


def _entry_yaml(entry: TrustEntry) -> str:
    data: dict[str, object] = {"name": entry.name, "role": entry.role.value}
    if entry.keyid is not None:
        data["keyid"] = entry.keyid
    data["public_key"] = entry.public_key
    for key in ("valid_after", "valid_before"):
        value = getattr(entry, key)
        if value is not None:
            data[key] = format_time(value)
    data["revoked"] = (
        entry.revoked if isinstance(entry.revoked, bool) else format_time(entry.revoked)
    )
    text = yaml.safe_dump([data], sort_keys=False, default_flow_style=False, width=1000)
    return "".join(f"  {line}\n" for line in text.splitlines())


def add_trusted_key(path: Path, entry: TrustEntry, *, shown: str | None = None) -> bool:
    """Add ``entry`` to the trust file, creating it if needed.

    The entry is appended as text so hand-written comments survive. If the file's
    layout does not allow that (``keys`` is not the last block), the file is
    re-rendered from its parsed content; returns False in that case.
    """
    label = shown or str(path)
    block = _entry_yaml(entry)
    if not path.exists():
        text = TRUST_HEADER + block
        parse_trust(loads(text, label), shown=label)
        atomic_write(path, text.encode("utf-8"))
        return True
    current = load_trust(path, shown=label)
    old_text = read_text(path, label)
    appended = old_text + ("" if old_text.endswith("\n") else "\n") + block
    expected = len(current.keys) + 1
    try:
        candidate = parse_trust(loads(appended, label), shown=label)
        if len(candidate.keys) == expected and candidate.keys[:-1] == current.keys:
            atomic_write(path, appended.encode("utf-8"))
            return True
    except InputError:
        pass
    raw = load_file(path, label) or {}
    entries = [TrustEntry.model_validate(e) for e in (raw.get("keys") or [])]
    text = TRUST_HEADER + "".join(_entry_yaml(e) for e in [*entries, entry])
    parse_trust(loads(text, label), shown=label)
    atomic_write(path, text.encode("utf-8"))
    return False
