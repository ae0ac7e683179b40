"""A real platform repo (git) for the hostile-input cases: compose, packet, policy
defaults, a trust file, a signed ledgered chain, an operator key, tagged ``base``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from stategate.evidence.trust.keys import write_key_pair
from tests.integration.ledger_support import BACKUP, git, make_platform

DIGEST_A = "sha256:" + "ab" * 32
DIGEST_B = "sha256:" + "cd" * 32

COMPOSE = f"""\
name: app
services:
  postgres:
    image: postgres:15.8@{DIGEST_A}
    environment:
      POSTGRES_PASSWORD: ${{PG_PASSWORD:-unset}}
    volumes: [pgdata:/var/lib/postgresql/data]
volumes:
  pgdata: {{}}
"""

PACKET = f"""\
id: pg-16
title: postgres 16
modules:
  - module: app/postgres
    from: postgres:15.8@{DIGEST_A}
    to: postgres:16.4@{DIGEST_B}
    migration_note: dump and restore
"""


@dataclass(frozen=True)
class HostileRepo:
    root: Path
    operator_key: Path
    record: str  # a ledgered record (repo-relative)

    def commit(self, message: str) -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)


def build_repo(tmp_path: Path) -> HostileRepo:
    """Build the repo under ``tmp_path`` (``platform/``, ``keys/``, ``artifacts/``)."""
    platform = make_platform(tmp_path)
    root = platform.root
    (root / "compose.yml").write_text(COMPOSE)
    (root / ".env").write_text("PG_PASSWORD=from-env\n")
    (root / "packets").mkdir()
    (root / "packets" / "pg-16.yaml").write_text(PACKET)
    platform.commit("platform")
    git(root, "tag", "base")
    key = tmp_path / "keys" / "operator.key"
    write_key_pair(platform.operator_key, key, comment="operator")
    return HostileRepo(root, key, BACKUP)


def copy_repo(template: HostileRepo, dest: Path) -> HostileRepo:
    """A copy of a built repo (git history, keys and all) under ``dest``."""
    top = template.root.parent
    shutil.copytree(top, dest, symlinks=True, dirs_exist_ok=True)
    return HostileRepo(
        dest / template.root.relative_to(top),
        dest / template.operator_key.relative_to(top),
        template.record,
    )
