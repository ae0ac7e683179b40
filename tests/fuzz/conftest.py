"""Print (and with ``STATEGATE_FUZZ_COUNT_FILE``, write) how many inputs were fuzzed."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.profile import COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    terminalreporter.write_line(f"fuzzed inputs: {total} ({len(COUNTS)} targets)")
    for name, count in sorted(COUNTS.items()):
        terminalreporter.write_line(f"  {name}: {count}")
    out = os.environ.get("STATEGATE_FUZZ_COUNT_FILE")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(f"{total}\n")
