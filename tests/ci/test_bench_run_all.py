"""bench/run-all: it reads BENCH lines, judges targets without asserting them, and tells a
bench that breaks (crash, missing row, unreadable line, hang) from one that misses its
target. Real processes: small bench scripts written to a temporary folder."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str, path: Path) -> ModuleType:
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


run_all = _load("bench_run_all", BENCH / "run-all")


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "row": "restore drill",
        "ours_s": 1.2,
        "bare_s": 1.0,
        "ours_min_s": 1.1,
        "bare_min_s": 0.9,
        "ratio": 1.2,
        "kind": "time",
        "target": "<= 1.30",
        "detail": "x",
    }
    return {**row, **over}


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, "yes"),
        ({"ratio": 1.31}, "no"),
        ({"kind": "throughput", "ratio": 0.99, "target": ">= 1.00"}, "no"),
        ({"kind": "throughput", "ratio": 1.0, "target": ">= 1.00"}, "yes"),
        ({"ratio": 5.0, "ours_s": 0.14, "target": "<= 6.00, ours <= 0.150 s"}, "yes"),
        ({"ratio": 5.0, "ours_s": 0.16, "target": "<= 6.00, ours <= 0.150 s"}, "no"),
        ({"ratio": 6.5, "ours_s": 0.10, "target": "<= 6.00, ours <= 0.150 s"}, "no"),
        ({"target": "fast enough"}, "?"),
    ],
)
def test_met_judges_every_clause_of_the_target(over: dict[str, object], expected: str) -> None:
    assert run_all.met(_row(**over)) == expected


def _bench(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake_bench.py"
    script.write_text("import json, sys, time\n" + body)
    return str(script)


def _line(**over: object) -> str:
    return "BENCH " + json.dumps(_row(**over))


def test_a_missed_target_is_not_a_broken_bench(tmp_path: Path) -> None:
    script = _bench(tmp_path, f"print({_line(ratio=9.0)!r})\n")
    rows, broken = run_all.run_bench(sys.executable, script, 0.01, 1, 60)
    assert broken is None
    assert [r["ratio"] for r in rows] == [9.0]
    assert run_all.met(rows[0]) == "no"


def test_the_bench_gets_scale_and_rounds(tmp_path: Path) -> None:
    script = _bench(
        tmp_path,
        "assert sys.argv[1:] == ['--scale', '0.02', '--rounds', '2'], sys.argv\n"
        f"print({_line()!r})\n",
    )
    rows, broken = run_all.run_bench(sys.executable, script, 0.02, 2, 60)
    assert broken is None and len(rows) == 1


def test_a_crash_is_broken_and_shows_its_error(tmp_path: Path) -> None:
    script = _bench(tmp_path, f"print({_line()!r})\nraise SystemExit('pg_restore failed: boom')\n")
    _rows, broken = run_all.run_bench(sys.executable, script, 0.01, 1, 60)
    assert broken is not None and "exit code 1" in broken and "boom" in broken


@pytest.mark.parametrize(
    "line",
    [
        "BENCH {not json",
        "BENCH " + json.dumps(["restore drill"]),
        _line(ratio="fast"),
        _line(bare_s=0),
        _line(row=None),
    ],
)
def test_an_unreadable_bench_line_is_broken(tmp_path: Path, line: str) -> None:
    script = _bench(tmp_path, f"print({line!r})\n")
    rows, broken = run_all.run_bench(sys.executable, script, 0.01, 1, 60)
    assert broken is not None and "unreadable BENCH line" in broken
    assert rows == []


def test_a_hanging_bench_is_killed_and_broken(tmp_path: Path) -> None:
    script = _bench(tmp_path, "time.sleep(60)\n")
    _rows, broken = run_all.run_bench(sys.executable, script, 0.01, 1, 1)
    assert broken == "killed after 1 s"


def test_the_table_has_every_row_and_marks_throughput(tmp_path: Path) -> None:
    text = run_all.table(
        [_row(), _row(row="S3 backup", kind="throughput", ratio=1.2, target=">= 1.00")]
    )
    lines = text.splitlines()
    assert len(lines) == 4  # head, rule, two rows
    assert "restore drill" in lines[2] and "| yes |" in lines[2]
    assert "1.200 (thr)" in lines[3]


def test_every_row_of_issue_13_is_produced_by_some_bench() -> None:
    assert run_all.ROWS == [
        "stategate --help",
        "classify (example)",
        "check 1k services",
        "check 10k services",
        "restore drill",
        "redis backup",
        "postgres backup",
        "S3 backup",
        "upgrade rehearsal",
    ]
    for script, _rows in run_all.BENCHES:
        assert (BENCH / script).is_file(), script
