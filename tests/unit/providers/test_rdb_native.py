from __future__ import annotations

import sys

import pytest

from stategate.errors import ExternalError
from stategate.providers.rdb import RDBScanner


def test_a_missing_native_scanner_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import stategate.native

    # the import fails however the module was reached before
    monkeypatch.setitem(sys.modules, "stategate.native.rdbscan", None)
    monkeypatch.delattr(stategate.native, "rdbscan", raising=False)
    with pytest.raises(ExternalError, match="native RDB scanner is not built"):
        RDBScanner(lambda _chunk: None)


def test_the_scanner_refuses_a_stream_that_is_not_an_rdb() -> None:
    with pytest.raises(ExternalError, match="not an RDB file"), RDBScanner(print) as scanner:
        scanner.feed(b"GARBAGE-NOT-AN-RDB")
        scanner.finish()
