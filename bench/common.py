"""Shared helpers for the benchmarks: timing, a throwaway repo, printing the ratio."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stategate.engines import discover
from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey, load_signing_key, write_key_pair
from stategate.evidence.trust.trustfile import Role
from stategate.operations.context import ModuleContext
from stategate.providers.access import PostgresAccess
from stategate.providers.config import PostgresSource, ProviderConfig


def parser(description: str, default_scale: float) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--scale",
        type=float,
        default=default_scale,
        help=f"data size factor (default {default_scale}; use a small one for a quick run)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="paired rounds (stategate, bare, stategate, bare, ...; default 3)",
    )
    return p


Candidate = Callable[[], object] | tuple[Callable[[], object], Callable[[], object]]


def alternating(rounds: int, *runs: Candidate) -> list[list[float]]:
    """Run the candidates alternately ``rounds`` times (at least once, in the order
    given each round); the wall times of each. A candidate given as ``(clear, run)`` has
    ``clear`` (removing the previous round's output) run untimed first; then dirty pages
    are written out (``sync``), so no candidate pays for another's deferred writeback."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(max(1, rounds)):
        for side, candidate in enumerate(runs):
            clear, run = candidate if isinstance(candidate, tuple) else (None, candidate)
            if clear is not None:
                clear()
            os.sync()
            start = time.perf_counter()
            run()
            times[side].append(time.perf_counter() - start)
    return times


def paired(rounds: int, ours: Candidate, bare: Candidate) -> tuple[list[float], list[float]]:
    """:func:`alternating` for stategate (first each round) and its bare baseline."""
    t_ours, t_bare = alternating(rounds, ours, bare)
    return t_ours, t_bare


def bench_line(
    row: str,
    ours: list[float],
    bare: list[float],
    bare_name: str,
    *,
    kind: str,
    target: str,
    detail: str,
    size: int | None = None,
) -> None:
    """Print the human line(s) and the one machine-readable ``BENCH {...}`` line of a
    table row: median and min per side, and the ratio of medians (ours/bare for a time,
    bare/ours for a throughput, so that above 1.0 is better there)."""
    med_o, med_b = statistics.median(ours), statistics.median(bare)
    ratio = med_o / med_b if kind == "time" else med_b / med_o
    print(
        f"{row}: stategate median {med_o:.3f}s (min {min(ours):.3f}s), {bare_name} median "
        f"{med_b:.3f}s (min {min(bare):.3f}s), {len(ours)} paired round(s) "
        f"-> {kind} ratio {ratio:.3f} (target {target}) [{detail}]"
    )
    if kind == "throughput" and size:
        print(
            f"{row}: stategate {size / 1e6 / med_o:.1f} MB/s, "
            f"{bare_name} {size / 1e6 / med_b:.1f} MB/s (medians)"
        )
    line = {
        "row": row,
        "ours_s": round(med_o, 4),
        "bare_s": round(med_b, 4),
        "ours_min_s": round(min(ours), 4),
        "bare_min_s": round(min(bare), 4),
        "ratio": round(ratio, 4),
        "kind": kind,
        "target": target,
        "detail": detail,
    }
    print("BENCH " + json.dumps(line, ensure_ascii=False), flush=True)


def stategate_argv(*argv: str) -> list[str]:
    """``python -m stategate ARGV...`` with this checkout's sources."""
    return [sys.executable, "-m", "stategate", *argv]


def stategate_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


Run = Callable[[], None]


def best(rounds: int, *runs: Candidate) -> list[float]:
    """:func:`alternating`, the best time of each candidate."""
    return [min(times) for times in alternating(rounds, *runs)]


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stategate-bench-"))


def bench_key(work: Path) -> tuple[SigningKey, Path]:
    """One evidence signing key per bench run (and its file, for the CLI's --key)."""
    path = work / "keys" / "evidence-bench.key"
    if path.exists():
        return load_signing_key(path), path
    key = SigningKey.generate()
    write_key_pair(key, path, comment="bench")
    return key, path


def _trust(repo: Path, key: SigningKey) -> None:
    write_trust_file(repo, [trust_entry(key, Role.EVIDENCE, "bench")])


def context(work: Path, module_id: str, config: ProviderConfig) -> ModuleContext:
    repo = work / "repo"
    repo.mkdir(exist_ok=True)
    key, _ = bench_key(work)
    _trust(repo, key)
    return ModuleContext(
        module_id,
        config,
        [],
        None,
        None,
        repo,
        EvidenceStore.open(RepoLayout(repo)),
        key,
        work / "artifacts",
    )


def cli_repo(work: Path, module_id: str, config: ProviderConfig, image: str) -> Path:
    """A minimal platform repo (one compose service, one policy entry) for the CLI."""
    project, service = module_id.split("/")
    repo = work / "cli-repo"
    (repo / "compose").mkdir(parents=True, exist_ok=True)
    (repo / "compose" / f"{project}.yml").write_text(
        json.dumps({"name": project, "services": {service: {"image": image}}})
    )
    entry = config.model_dump(mode="json", exclude={"sandbox"})
    policy = {
        "version": 1,
        "compose": {"files": [f"compose/{project}.yml"]},
        "modules": {module_id: {"evidence": entry}},
    }
    (repo / "stategate.yaml").write_text(json.dumps(policy))  # JSON is YAML
    _trust(repo, bench_key(work)[0])
    return repo


def cli_job(repo: Path, artifacts: Path, *argv: str) -> dict[str, object]:
    """Run ``stategate ARGV...`` as its own process, as a user or CI would; its JSON.
    ``repo`` is one :func:`cli_repo` made."""
    done = subprocess.run(
        [
            *stategate_argv(*argv),
            "--repo",
            str(repo),
            "--artifacts",
            str(artifacts),
            "--key",
            str(bench_key(repo.parent)[1]),
            "--format",
            "json",
        ],
        env=stategate_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"stategate {' '.join(argv)} failed: {done.stdout[-800:]}{done.stderr[-800:]}"
        )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def restore_jobs(record: object) -> int | None:
    """The restore job count a drill or rehearsal record (the CLI's JSON) states: the
    first ``jobs``-like field anywhere in it; None when it states none (single-job)."""
    if isinstance(record, dict):
        for key in ("jobs", "restore_jobs", "parallel_jobs"):
            value = record.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        record = list(record.values())
    if isinstance(record, list):
        for item in record:
            found = restore_jobs(item)
            if found is not None:
                return found
    if isinstance(record, str):  # a step's detail: "pg_restore --jobs=2"
        jobs = re.search(r"--jobs=(\d+)", record)
        return int(jobs.group(1)) if jobs else None
    return None


def print_steps(row: str, record: object) -> None:
    """The steps[] of stategate's record (the CLI's JSON) with their durations: where
    its time went, beside the row's figures."""
    steps = find(record, "steps")
    if isinstance(steps, list):
        parts = [
            f"{s.get('name')} {float(s.get('duration_s', 0.0)):.2f}s"
            for s in steps
            if isinstance(s, dict)
        ]
        print(f"{row}, stategate's steps (last round): " + ", ".join(parts))


def find(record: object, key: str) -> object:
    """The first value of ``key`` anywhere in a record (the CLI's JSON), else None."""
    if isinstance(record, dict):
        if key in record:
            return record[key]
        record = list(record.values())
    if isinstance(record, list):
        for item in record:
            found = find(item, key)
            if found is not None:
                return found
    return None


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


def postgres_bin(major: str = "16") -> Path:
    """The bin folder of an installed PostgreSQL of ``major`` (the example runs 16)."""
    return discover().require("postgresql", major).path


def pgbench_source(
    work: Path, access: PostgresAccess, bin_dir: Path, scale: float
) -> tuple[dict[str, str], ModuleContext]:
    """A ``bench`` database filled by ``pgbench -i`` at ``scale`` on the server at
    ``access``, the environment of its bare tools (``bin_dir``: the server's own major)
    and the module context stategate's jobs use against it."""
    env = {
        "PGHOST": access.host,
        "PGPORT": str(access.port),
        "PGUSER": "postgres",
        "PATH": f"{bin_dir}:/usr/bin:/bin",  # the bare tools of the same major
    }
    subprocess.run(["createdb", "bench"], check=True, env=env)
    subprocess.run(
        [str(bin_dir / "pgbench"), "-i", "-q", "-s", str(int(max(1, scale))), "bench"],
        check=True,
        env=env,
        capture_output=True,
    )
    source = PostgresSource(host=access.host, port=access.port, databases=["bench"])
    return env, context(work, "bench/postgres", source)
