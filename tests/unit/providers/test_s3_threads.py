from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from stategate.errors import ExternalError
from stategate.providers import s3
from stategate.providers.s3 import map_in_threads


def test_results_keep_the_input_order() -> None:
    def slow_square(i: int, j: int) -> int:
        time.sleep(0.001 * (i % 3))
        return i * i + j

    assert map_in_threads(slow_square, range(50), range(50)) == [i * i + i for i in range(50)]


def test_the_first_failure_cancels_what_has_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """No clock: the other calls wait until the pool has cancelled what was still queued
    (a pool that let them finish first would run all 1000)."""
    started: list[int] = []
    lock = threading.Lock()
    cancelled = threading.Event()

    class Pool(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=False, cancel_futures=cancel_futures)
            cancelled.set()  # queued calls are cancelled by now; let the running ones end
            super().shutdown(wait=wait)

    monkeypatch.setattr(s3, "ThreadPoolExecutor", Pool)

    def fetch(i: int) -> int:
        with lock:
            started.append(i)
        if i == 0:
            raise ExternalError("s3 object b/0 changed during the backup: refused")
        assert cancelled.wait(60), "the pool never shut down"
        return i

    with pytest.raises(ExternalError, match="changed during the backup"):
        s3.map_in_threads(fetch, range(1000), workers=4)
    # four workers took 0-3; the one whose call failed may have taken 4 before the
    # cancel reached the queue (a race the scheduler decides); the rest never started
    assert sorted(started) in ([0, 1, 2, 3], [0, 1, 2, 3, 4])
