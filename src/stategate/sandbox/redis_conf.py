"""How a redis sandbox is configured to match production: pure text, no I/O.

A restored server gets the backup's ACL users as its ACL file and the persistence
settings production runs with; the sandbox's own access is one more ACL user,
never one of the restored ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stategate.errors import ExternalError

# the user a sandbox's own access logs in as when the backup's ACL users are
# restored (they may include a default user whose password the sandbox does not know)
SANDBOX_REDIS_USER = "stategate-drill"

# settings a sandbox takes from the backup (appendonly is reached by the documented
# RDB-to-AOF procedure, not set directly)
TAKEN_SETTINGS = ("appendfsync", "aof-use-rdb-preamble", "save")


def acl_user(line: str) -> str:
    """The user an ``ACL LIST`` line defines (``user <name> <rules...>``)."""
    parts = line.split()
    if len(parts) < 2 or parts[0] != "user":
        raise ExternalError(f"not an ACL rule line: {line.split(' ', 1)[0]!r}...")
    return parts[1]


def acl_file(lines: Sequence[str], password: str) -> str:
    """An ACL file holding ``lines`` and the sandbox's own user (``password``, stored
    as its SHA-256 as redis itself stores one). A restored user of the sandbox's name
    is left out: the sandbox's own access needs that name."""
    import hashlib

    kept = [line for line in lines if acl_user(line) != SANDBOX_REDIS_USER]
    for line in kept:
        if "\n" in line or "\r" in line:
            raise ExternalError("an ACL rule line holds a line break: refused")
    digest = hashlib.sha256(password.encode()).hexdigest()
    own = f"user {SANDBOX_REDIS_USER} on #{digest} ~* &* +@all"
    return "\n".join([*kept, own]) + "\n"


def redis_config_lines(config: Mapping[str, str]) -> list[str]:
    """redis.conf lines for the taken settings; ``save`` as one line per pair (the
    form every version since 2.x reads)."""
    lines: list[str] = []
    for name in TAKEN_SETTINGS:
        value = config.get(name)
        if value is None:
            continue
        if any(ch in value for ch in "\n\r\"'"):
            raise ExternalError(f"redis setting {name} has a value that cannot be configured")
        if name != "save":
            lines.append(f"{name} {value}")
            continue
        numbers = value.split()
        if not numbers:
            lines.append('save ""')
            continue
        if len(numbers) % 2 or not all(n.isdigit() for n in numbers):
            raise ExternalError(f"redis setting save is not pairs of numbers: {value!r}")
        lines += [f"save {a} {b}" for a, b in zip(numbers[::2], numbers[1::2], strict=True)]
    return lines


def acl_bytes(lines: Sequence[str], password: str) -> bytes:
    """:func:`acl_file` as the bytes to write: a rule's bytes that are not UTF-8 (held
    as surrogates) written back as they were."""
    return acl_file(lines, password).encode("utf-8", "surrogateescape")
