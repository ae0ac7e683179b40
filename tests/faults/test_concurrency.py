"""Two backups of one module at once: the second is refused clearly, the first passes."""

from __future__ import annotations

import pytest

from .conftest import MODULES, FaultPlatform, stream_size, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("module_id", MODULES)
def test_second_backup_of_a_module_is_refused(platform: FaultPlatform, module_id: str) -> None:
    total = stream_size(platform, module_id)
    before = platform.passing_backup_ids(module_id)
    records = platform.record_count()
    proxy = platform.proxies[module_id]
    proxy.hold_after(total // 3)
    first = platform.start("backup", module_id)
    try:
        wait_until(proxy.held.is_set, "the first backup to be mid-stream")
        second = platform.run("backup", module_id)
        assert second.returncode == 1, second
        assert f"another backup of {module_id} is running" in second.output, second
        assert "Traceback" not in second.output
        assert platform.record_count() == records  # refused before any work: no record
    finally:
        proxy.resume()
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output
    assert len(platform.passing_backup_ids(module_id) - before) == 1
    assert platform.verify().ok
