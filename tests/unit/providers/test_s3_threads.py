from __future__ import annotations

import threading
import time

import pytest

from stategate.errors import ExternalError
from stategate.providers.s3 import map_in_threads


def test_results_keep_the_input_order() -> None:
    def slow_square(i: int, j: int) -> int:
        time.sleep(0.001 * (i % 3))
        return i * i + j

    assert map_in_threads(slow_square, range(50), range(50)) == [i * i + i for i in range(50)]


def test_the_first_failure_cancels_what_has_not_started() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def fetch(i: int) -> int:
        with lock:
            started.append(i)
        if i == 0:
            raise ExternalError("s3 object b/0 changed during the backup: refused")
        time.sleep(0.01)
        return i

    with pytest.raises(ExternalError, match="changed during the backup"):
        map_in_threads(fetch, range(1000), workers=4)
    assert len(started) < 100  # not every object was fetched before the failure surfaced
