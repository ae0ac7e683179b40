"""Shared helpers for the benchmarks: timing, a throwaway repo, printing the ratio."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stategate.operations.context import ModuleContext
from stategate.providers.config import ProviderConfig


def parser(description: str, default_scale: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--scale",
        type=float,
        default=default_scale,
        help=f"data size factor (default {default_scale}; use a small one for a quick run)",
    )
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best time counts")
    return p


def best(rounds: int, *runs: Callable[[], None]) -> list[float]:
    """Run the candidates alternately ``rounds`` times; the best time of each."""
    times = [float("inf")] * len(runs)
    for _ in range(rounds):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            run()
            times[i] = min(times[i], time.perf_counter() - start)
    return times


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stategate-bench-"))


def context(work: Path, module_id: str, config: ProviderConfig) -> ModuleContext:
    repo = work / "repo"
    repo.mkdir(exist_ok=True)
    return ModuleContext(
        module_id, config, [], None, None, repo, repo / "evidence", work / "artifacts"
    )


def report(
    name: str, ours: float, bare: float, bare_name: str, *, kind: str, target: str, size: int
) -> None:
    mb = size / 1e6
    if kind == "time":
        ratio = ours / bare
        print(
            f"{name}: stategate {ours:.2f}s, {bare_name} {bare:.2f}s, data {mb:.1f} MB "
            f"-> time ratio {ratio:.3f} (target {target})"
        )
    else:
        ratio = bare / ours
        print(
            f"{name}: stategate {mb / ours:.1f} MB/s, {bare_name} {mb / bare:.1f} MB/s "
            f"-> throughput ratio {ratio:.3f} (target {target})"
        )


def rm(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
