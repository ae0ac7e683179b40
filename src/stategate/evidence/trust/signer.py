"""Which key signs evidence, and whether the platform repo trusts it to.

Every evidence record (backup, restore drill, smoke run, DR drill) is signed
by a key trusted for the ``evidence`` role. The key is chosen in this order:
``--key PATH``, the environment variable ``STATEGATE_EVIDENCE_KEY`` (a path),
else the only ``evidence-*.key`` in the key folder (``$STATEGATE_KEYS`` or
``~/.config/stategate/keys``). The key is checked against the trust file
before any work starts, so a long backup never ends in a record that cannot
be signed.
"""

from __future__ import annotations

import os
from pathlib import Path

from stategate.errors import InputError
from stategate.evidence.signing.canonical import utc_now
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keyring import find_role_key
from stategate.evidence.trust.keys import SigningKey, default_key_dir, load_signing_key
from stategate.evidence.trust.trustfile import KeyState, Role

EVIDENCE_KEY_ENV = "STATEGATE_EVIDENCE_KEY"
INIT_HINT = "stategate keys init --role evidence --name NAME"


def evidence_key_path(explicit: Path | None = None, *, key_dir: Path | None = None) -> Path:
    """The evidence key to use: ``explicit``, ``$STATEGATE_EVIDENCE_KEY``, or the only one."""
    if explicit is not None:
        return explicit
    env = os.environ.get(EVIDENCE_KEY_ENV)
    if env:
        return Path(env).expanduser()
    folder = (key_dir or default_key_dir()).expanduser()
    return find_role_key(
        folder,
        Role.EVIDENCE,
        missing=f"no evidence signing key (none in {folder}, no --key, no ${EVIDENCE_KEY_ENV}): "
        f"create one with '{INIT_HINT}'",
        choose=f"choose one with --key or ${EVIDENCE_KEY_ENV}",
    )


def load_evidence_key(explicit: Path | None = None) -> SigningKey:
    """Load the evidence key chosen by :func:`evidence_key_path` (never shows key material)."""
    return load_signing_key(evidence_key_path(explicit))


def require_evidence_signer(store: EvidenceStore, key: SigningKey) -> None:
    """Refuse (``InputError``) a key the repo's trust file does not allow to sign evidence now."""
    check = store.trust.check(key.keyid, Role.EVIDENCE, utc_now())
    if check.state is KeyState.VALID:
        return
    trust_file = store.layout.trust_file
    why = {
        KeyState.UNKNOWN: "the trust file does not list it",
        KeyState.WRONG_ROLE: "it is trusted for "
        + ", ".join(r.value for r in check.roles)
        + ", not evidence",
        KeyState.NOT_YET_VALID: "it is not valid yet",
        KeyState.EXPIRED: "it has expired",
        KeyState.REVOKED: "it is revoked",
    }[check.state]
    raise InputError(
        f"key {key.keyid} ({key.source}) cannot sign evidence: {why}; "
        f"create a trusted evidence key with '{INIT_HINT}'",
        file=trust_file,
    )
