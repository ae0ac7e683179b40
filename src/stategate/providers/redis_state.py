"""What a redis restore needs besides its keys: ACL users and persistence settings.

Read from the server at backup time (``ACL LIST``, ``CONFIG GET``), stored as one
part beside the RDB, restored into the sandbox (its ACL file, its configuration)
and compared as fingerprint items: ``acl/<user>`` (a digest of the user's whole
rule line, password hashes included: a lost or changed user is named, its hash
never printed) and ``config/<setting>`` (the value itself).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from stategate.errors import ExternalError
from stategate.providers.fingerprint import FingerprintItem
from stategate.sandbox.redis_conf import SANDBOX_REDIS_USER, acl_user

SERVER_PART = "redis-server.json"
ACL_GROUP = "acl"
CONFIG_GROUP = "config"
SCHEMA = "stategate.redis-server/v1"


def canonical_rule(line: str) -> str:
    """A rule line as compared: the same user reads the same however a server prints it.

    Redis 7 prints the rules for single commands in its hash table's order, which
    differs between two servers holding the same user; those for different commands are
    independent, so each run of them is sorted by command (a whole command's rule before
    its subcommands', as Redis prints them; categories and selectors keep their place).
    Redis 6.2 prints ``sanitize-payload`` for every user loaded from an ACL file, and
    not for the same user made by ``requirepass``; without the flag a user follows the
    server's sanitize-dump-payload setting, which restores the same, so the token is
    left out (``skip-sanitize-payload`` is kept)."""
    out: list[str] = []
    run: list[str] = []
    for token in _tokens(line):
        if token[:1] in "+-" and token[1:2] not in ("@", ""):
            run.append(token)
            continue
        out += sorted(run, key=_command_order)
        run = []
        if token != "sanitize-payload":
            out.append(token)
    out += sorted(run, key=_command_order)
    return " ".join(out)


def _command_order(token: str) -> tuple[str, bool, str]:
    name = token[1:].lower()
    return (name.partition("|")[0], "|" in name, name)


def _tokens(line: str) -> list[str]:
    """Space-separated tokens, a selector ``(...)`` being one."""
    tokens: list[str] = []
    depth = 0
    for word in line.split():
        if depth:
            tokens[-1] += " " + word
        else:
            tokens.append(word)
        depth = max(0, depth + word.count("(") - word.count(")"))
    return tokens


@dataclass(frozen=True)
class ServerState:
    """``acl`` None: not read (no ACL on this server, or the backup user may not list
    it); the fingerprint then has no ACL items."""

    acl: tuple[str, ...] | None = None
    settings: dict[str, str] = field(default_factory=dict)

    def items(self) -> list[FingerprintItem]:
        out = [
            FingerprintItem(CONFIG_GROUP, name, 1, value) for name, value in self.settings.items()
        ]
        for line in self.acl or ():
            user = acl_user(line)
            if user == SANDBOX_REDIS_USER:
                continue  # a sandbox's own access, never the backup's
            rule = canonical_rule(line).encode("utf-8", "surrogateescape")
            digest = hashlib.sha256(rule).hexdigest()
            out.append(FingerprintItem(ACL_GROUP, user, 1, "sha256:" + digest))
        return out

    def shaped_like(self, expected: ServerState) -> ServerState:
        """Only what ``expected`` (the backup's) holds a kind of: a restored server is
        compared on the settings and users the backup could read."""
        return ServerState(
            acl=self.acl if expected.acl is not None else None,
            settings={k: v for k, v in self.settings.items() if k in expected.settings},
        )

    def to_json(self) -> bytes:
        body = {
            "schema": SCHEMA,
            "acl": list(self.acl) if self.acl is not None else None,
            "settings": self.settings,
        }
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> ServerState:
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ExternalError(f"{where}: not JSON ({exc})") from exc
        if not isinstance(body, dict) or body.get("schema") != SCHEMA:
            raise ExternalError(f"{where}: not a {SCHEMA} document")
        acl, settings = body.get("acl"), body.get("settings")
        if acl is not None and not (isinstance(acl, list) and all(isinstance(x, str) for x in acl)):
            raise ExternalError(f"{where}: acl must be a list of rule lines")
        if not isinstance(settings, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in settings.items()
        ):
            raise ExternalError(f"{where}: settings must map names to strings")
        for line in acl or ():
            acl_user(line)  # a malformed line is refused here, not in the sandbox
        return cls(tuple(acl) if acl is not None else None, dict(settings))
