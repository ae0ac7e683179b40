"""One backup per module at a time; the lock holder sweeps killed backups' leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import module_lock


def test_a_second_backup_of_the_module_is_refused(tmp_path: Path) -> None:
    module = tmp_path / "data" / "postgres"
    with module_lock(module, "data/postgres"):
        refused = pytest.raises(ExternalError, match="another backup of data/postgres is running")
        with refused, module_lock(module, "data/postgres"):
            pass  # pragma: no cover - never entered
        with module_lock(tmp_path / "data" / "redis", "data/redis"):
            pass  # another module is not held up
    with module_lock(module, "data/postgres"):
        pass  # released when the first one ended


def test_the_holder_sweeps_partial_backups_only(tmp_path: Path) -> None:
    module = tmp_path / "data" / "postgres"
    partial = module / "20260101T000000Z-aaaaaa.partial"
    complete = module / "20260101T000000Z-bbbbbb"
    for folder in (partial, complete):
        folder.mkdir(parents=True)
        (folder / "db.dump").write_bytes(b"x")
    with module_lock(module, "data/postgres"):
        assert not partial.exists() and complete.exists()
