"""``stategate keys init``: create a key pair for a role and trust its public key."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from stategate.errors import InputError
from stategate.evidence.layout import RepoLayout
from stategate.evidence.signing.canonical import utc_now
from stategate.evidence.trust.keys import SigningKey, write_key_pair
from stategate.evidence.trust.trustfile import Role, add_trusted_key, trust_entry

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
KEY_SUFFIX = ".key"


@dataclass(frozen=True)
class KeyInit:
    """What ``keys init`` created (no secret material)."""

    keyid: str
    role: Role
    name: str
    private_path: Path
    public_path: Path
    trust_file: str
    valid_before: datetime | None
    comments_kept: bool  # False when the trust file had to be re-rendered


def private_key_path(key_dir: Path, role: Role, name: str) -> Path:
    return key_dir / f"{role.value}-{name}{KEY_SUFFIX}"


def init_key(
    layout: RepoLayout,
    role: Role,
    name: str,
    key_dir: Path,
    *,
    expires_days: float | None = None,
    now: datetime | None = None,
) -> KeyInit:
    """Generate an Ed25519 key in ``key_dir`` (outside the repo) and trust it for ``role``."""
    if not _NAME.match(name):
        raise InputError(f"key name {name!r} must be letters, digits, '.', '_', '@' or '-'")
    root = layout.root.resolve()
    if not root.is_dir():
        raise InputError("repo folder not found", file=str(layout.root))
    resolved_dir = key_dir.expanduser().resolve()
    if resolved_dir.is_relative_to(root):
        raise InputError(
            "the key folder is inside the repo; private keys must stay outside it",
            file=str(key_dir),
        )
    if expires_days is not None and expires_days <= 0:
        raise InputError("--expires must be a positive number of days")
    moment = now or utc_now()
    valid_before = moment + timedelta(days=expires_days) if expires_days is not None else None
    key = SigningKey.generate()
    private_path = private_key_path(resolved_dir, role, name)
    public_path = write_key_pair(key, private_path, comment=f"stategate-{role.value}-{name}")
    entry = trust_entry(key, role, name, valid_after=moment, valid_before=valid_before)
    try:
        kept = add_trusted_key(layout.path(layout.trust_file), entry, shown=layout.trust_file)
    except BaseException:
        for path in (private_path, public_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return KeyInit(
        keyid=key.keyid,
        role=role,
        name=name,
        private_path=private_path,
        public_path=public_path,
        trust_file=layout.trust_file,
        valid_before=valid_before,
        comments_kept=kept,
    )


def find_role_key(
    key_dir: Path, role: Role, *, missing: str | None = None, choose: str = "pass --key"
) -> Path:
    """The single ``<role>-*.key`` in ``key_dir`` (``InputError`` if none or several).

    ``missing`` replaces the message when there is no key; ``choose`` says how to pick
    one of several (callers differ in which options and variables they accept).
    """
    found = sorted(key_dir.expanduser().glob(f"{role.value}-*{KEY_SUFFIX}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(
            missing
            or f"no {role.value} key in {key_dir} (create one with 'stategate keys init "
            f"--role {role.value}', or pass --key)"
        )
    names = ", ".join(p.name for p in found)
    raise InputError(f"several {role.value} keys in {key_dir} ({names}): {choose}")
