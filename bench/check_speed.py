"""Benchmark: ``stategate check`` at scale, the CLI run as a process as users run it,
against the floor of reading and parsing the same YAML at both revisions.

    python bench/check_speed.py [--scale 1] [--rounds 3]

The platform is generated as a real git repository (a base commit and a PR commit) in a
temporary folder: stacks of 20 services, each stack a compose project of several files
(``compose.yaml`` that ``include:``s a data file with its own env file, services that
``extends:`` templates in ``common/base.yml``, a ``.env`` read by interpolation, an
override file in some stacks), 1,000 and 10,000 services (``--scale 0.05``: 50 and 500),
and a PR that bumps 50 images (some in compose files, some through an env file).

Both sides are run as processes, alternating, ``--rounds`` times each:

- ours: ``python -m stategate check --repo R --base main --head pr --format json``;
- the floor: ``python bench/check_speed.py --floor R``, one process that reads
  every compose YAML and env file at both revisions from git (``ls-tree``, one
  ``cat-file --batch`` per revision) and parses the YAML with PyYAML's C loader.

It prints min/median per side, the ratio of medians, the 10k/1k ratio of our medians
(10 means linear) and one ``BENCH {...}`` line per row for ``bench/run-all``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = 20  # services per stack (one compose project)
BUMPS = 50
BASE_BRANCH, PR_BRANCH = "main", "pr"


def _digest(n: int, v: int) -> str:
    return f"{(n * 7919 + v * 104729) % 16**8:08x}" * 8


# -- the generated platform ----------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which services a stack holds: index 0 postgres and 1 redis (in the included data
    file), the rest apps, workers and web front-ends (in ``compose.yaml``)."""

    services: int

    @property
    def stacks(self) -> int:
        return max(3, round(self.services / STACK))

    def bumped(self, count: int = BUMPS) -> set[int]:
        """Global service numbers the PR bumps, spread evenly; every third is a postgres
        bumped through its stack's ``data.env``."""
        total = self.stacks * STACK
        count = min(count, total // 2)
        step = total // count
        chosen: set[int] = set()
        for i in range(count):
            n = i * step
            if i % 3 == 0:
                n -= n % STACK  # that stack's postgres
            while n in chosen:
                n += 1
            chosen.add(n)
        return chosen


def _kind(j: int) -> str:
    if j == 0:
        return "pg"
    if j == 1:
        return "redis"
    return ("app", "worker", "web")[j % 3]


def _name(stack: int, j: int) -> str:
    return f"{_kind(j)}-{stack:05d}-{j:02d}"


BASE_YML = """\
# templates the stacks extend
services:
  app:
    restart: unless-stopped
    environment:
      TZ: UTC
      LOG_FORMAT: json
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:8080/health"]
      interval: 30s
      timeout: 5s
      retries: 3
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
  worker:
    restart: unless-stopped
    environment:
      TZ: UTC
      QUEUE_CONCURRENCY: "4"
    logging:
      driver: json-file
      options: {max-size: 10m}
  web:
    restart: unless-stopped
    read_only: true
    tmpfs: [/tmp]
"""


def stack_files(stack: int, bumped: set[int], after: bool) -> dict[str, str]:
    """The files of one stack at the base (``after`` false) or the PR."""
    first = stack * STACK

    def v(j: int) -> int:
        return 6 if after and first + j in bumped else 5

    name = f"s{stack:05d}"
    pg, redis = _name(stack, 0), _name(stack, 1)
    data = [
        "services:",
        f"  {pg}:",
        "    image: postgres:${PG_TAG}",
        "    environment:",
        "      POSTGRES_DB: app",
        "      POSTGRES_PASSWORD_FILE: /run/secrets/pg_password",
        "    volumes:",
        f"      - {pg}-data:/var/lib/postgresql/data",
        "    healthcheck:",
        '      test: ["CMD-SHELL", "pg_isready -U postgres"]',
        f"  {redis}:",
        f"    image: redis:7.2.{v(1)}-alpine@sha256:{_digest(first + 1, v(1))}",
        '    command: ["redis-server", "--appendonly", "yes"]',
        "    volumes:",
        f"      - {redis}-data:/data",
        "volumes:",
        f"  {pg}-data: {{}}",
        f"  {redis}-data: {{}}",
    ]
    main = [
        f"name: {name}",
        "include:",
        "  - path: data.yml",
        "    env_file: data.env",
        "x-labels: &labels",
        f"  com.example.stack: {name}",
        "  com.example.team: ${TEAM}",
        "services:",
    ]
    for j in range(2, STACK):
        svc, kind, n = _name(stack, j), _kind(j), first + j
        image = f"ghcr.io/example/{kind}{n}:1.{v(j)}.0@sha256:{_digest(n, v(j))}"
        main += [
            f"  {svc}:",
            f"    extends: {{file: ../../common/base.yml, service: {'app' if kind == 'app' else kind}}}",
            f"    image: {image}",
        ]
        if kind in ("app", "worker"):
            main += [
                "    labels: *labels",
                f"    depends_on: [{pg}, {redis}]",
                "    environment:",
                f"      DB_HOST: {pg}",
                f"      REDIS_URL: redis://{redis}:6379/0",
                "      LOG_LEVEL: ${LOG_LEVEL:-info}",
                "      FEATURE_FLAGS: ${FEATURES:-none}",
            ]
        else:
            main += [
                f"    depends_on: [{_name(stack, j - 1)}]",
                "    labels:",
                "      <<: *labels",
                "      traefik.enable: 'true'",
                f"      traefik.http.routers.{svc}.rule: Host(`{svc}.${{DOMAIN}}`)",
            ]
    files = {
        f"stacks/{name}/compose.yaml": "\n".join(main) + "\n",
        f"stacks/{name}/data.yml": "\n".join(data) + "\n",
        f"stacks/{name}/.env": (
            f"TEAM=team{stack % 7}\nDOMAIN={name}.example.test\nLOG_LEVEL=info\n"
            "FEATURES=${TEAM}-beta\n"
        ),
        f"stacks/{name}/data.env": f"PG_TAG=16.{v(0)}-alpine@sha256:{_digest(first, v(0))}\n",
    }
    if stack % 5 == 0:  # merged after compose.yaml, as `docker compose -f` would
        files[f"stacks/{name}/compose.override.yml"] = (
            f"services:\n  {_name(stack, 2)}:\n    environment:\n      LOG_LEVEL: debug\n"
        )
    return files


def platform_files(layout: Layout, after: bool, bumped: set[int] | None = None) -> dict[str, str]:
    chosen = layout.bumped() if bumped is None else bumped
    files = {"common/base.yml": BASE_YML, "README.md": "# generated platform\n"}
    for stack in range(layout.stacks):
        files.update(stack_files(stack, chosen, after))
    return files


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True)
    return done.stdout.decode()


def write_files(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def build(repo: Path, layout: Layout) -> Path:
    """The platform on ``main`` and the PR (50 bumps) on branch ``pr``, checked out."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", BASE_BRANCH)
    git(repo, "config", "user.email", "bench@example.test")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "commit.gpgsign", "false")
    write_files(repo, platform_files(layout, after=False))
    commit(repo, "platform")
    git(repo, "checkout", "-q", "-b", PR_BRANCH)
    write_files(repo, platform_files(layout, after=True))
    commit(repo, f"bump {BUMPS} images")
    return repo


# -- the floor: read and parse the same YAML at both revisions ------------------------


def floor(repo: Path, revisions: list[str]) -> int:
    """Read every compose YAML and env file at each revision (one ``cat-file --batch``
    process per revision) and parse the YAML with the C loader; the number parsed."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parsed = 0
    for rev in revisions:
        listing = git(repo, "ls-tree", "-r", "-z", rev)
        wanted = []
        for entry in listing.split("\0"):
            if entry:
                meta, path = entry.split("\t", 1)
                if path.endswith((".yml", ".yaml", ".env")):
                    wanted.append((path, meta.split()[2]))
        proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        out, _ = proc.communicate(b"".join(sha.encode() + b"\n" for _, sha in wanted))
        pos = 0
        for path, _sha in wanted:
            end = out.index(b"\n", pos)
            size = int(out[pos:end].split()[2])
            body = out[end + 1 : end + 1 + size]
            pos = end + 2 + size
            if path.endswith((".yml", ".yaml")):
                yaml.load(body.decode(), Loader=loader)
                parsed += 1
    return parsed


# -- timing -------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def check_argv(repo: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stategate",
        "check",
        "--repo",
        str(repo),
        "--base",
        BASE_BRANCH,
        "--head",
        PR_BRANCH,
        "--format",
        "json",
    ]


def floor_argv(repo: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--floor", str(repo)]


def run_check(repo: Path) -> dict[str, object]:
    """One check as a process; its verdict JSON (a usage or internal error fails the bench)."""
    done = subprocess.run(check_argv(repo), capture_output=True, env=_env(), check=False)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"check failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=_env(), check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"{argv[2:4]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


@dataclass
class Row:
    services: int
    ours: list[float]
    bare: list[float]

    def bench_line(self, name: str) -> str:
        ours, bare = statistics.median(self.ours), statistics.median(self.bare)
        stacks = Layout(self.services).stacks
        return "BENCH " + json.dumps(
            {
                "row": name,
                "ours_s": round(ours, 4),
                "bare_s": round(bare, 4),
                "ours_min_s": round(min(self.ours), 4),
                "bare_min_s": round(min(self.bare), 4),
                "ratio": round(ours / bare, 3),
                "kind": "time",
                "target": "<= 2.00",
                "detail": (
                    f"{stacks * STACK} services in {stacks} stacks "
                    f"({len(platform_files(Layout(self.services), False)) - 1} files), "
                    f"{len(Layout(self.services).bumped())} bumps; floor: read+parse both revisions' YAML, C loader"
                ),
            }
        )


def measure(root: Path, services: int, rounds: int) -> Row:
    layout = Layout(services)
    repo = build(root / f"platform-{services}", layout)
    verdict = run_check(repo)  # warm the page cache and check the bench checks something
    changes = verdict.get("changes")
    if not isinstance(changes, list) or len(changes) != len(layout.bumped()):
        raise SystemExit(f"expected {len(layout.bumped())} changes, got {changes!r:.200}")
    ours: list[float] = []
    bare: list[float] = []
    for i in range(rounds):  # alternate which side goes first
        pair = [(ours, check_argv(repo)), (bare, floor_argv(repo))]
        for times, argv in pair if i % 2 == 0 else reversed(pair):
            times.append(timed(argv))
    shutil.rmtree(repo, ignore_errors=True)
    return Row(layout.stacks * STACK, ours, bare)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="1: 1,000 and 10,000 services")
    p.add_argument("--rounds", type=int, default=3, help="paired alternating rounds")
    p.add_argument("--floor", metavar="REPO", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.floor:
        floor(Path(args.floor), [BASE_BRANCH, PR_BRANCH])
        return
    sizes = [round(1000 * args.scale), round(10000 * args.scale)]
    root = Path(tempfile.mkdtemp(prefix="stategate-bench-check-"))
    try:
        rows = [measure(root, n, args.rounds) for n in sizes]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"check vs floor, {args.rounds} alternating rounds, machine load: {os.getloadavg()[0]:.2f}"
    )
    for row in rows:
        ours, bare = statistics.median(row.ours), statistics.median(row.bare)
        print(
            f"  {row.services:>6} services: check median {ours:.3f} s (min {min(row.ours):.3f}), "
            f"floor median {bare:.3f} s (min {min(row.bare):.3f}), ratio {ours / bare:.2f}x"
        )
    small, large = rows
    scaling = statistics.median(large.ours) / statistics.median(small.ours)
    print(
        f"  {large.services}/{small.services} services: check time ratio {scaling:.2f} "
        f"(linear: {large.services / small.services:.0f})"
    )
    # the same row names at every --scale (the detail gives the real size)
    for name, row in zip(("check 1k services", "check 10k services"), rows, strict=True):
        print(row.bench_line(name))


if __name__ == "__main__":
    main()
