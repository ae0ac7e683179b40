"""Benchmark: `stategate check` on a platform of 1,000 services in 100 compose files with a
50-service upgrade diff, against merely parsing the same YAML files in the same run.

    python bench/check_speed.py [--services 1000] [--files 100] [--changed 50] [--rounds 5]

Prints the check time (the installed CLI end to end, and the library call alone) and its
ratio to parsing both sides' compose files with PyYAML (the C loader when available).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stategate.policy.gate import evaluate_merge  # noqa: E402
from stategate.pullrequest import load_pull_request  # noqa: E402

KINDS = [
    ("postgres", "postgres:16.{v}-alpine", "pgdata{n}:/var/lib/postgresql/data"),
    ("redis", "redis:7.2.{v}-alpine", "redis{n}:/data"),
    ("app", "ghcr.io/example/app{n}:1.{v}.0", None),
    ("worker", "ghcr.io/example/app{n}:1.{v}.0", None),
    ("proxy", "traefik:v3.1.{v}", None),
]


def digest(n: int, v: int) -> str:
    return f"{(n * 7919 + v * 104729) % 16**8:08x}" * 8


def compose_file(index: int, per_file: int, bumped: set[int], after: bool) -> str:
    lines = [f"name: p{index}", "x-common: &common", "  restart: unless-stopped", "services:"]
    volumes = []
    for j in range(per_file):
        n = index * per_file + j
        kind, image, volume = KINDS[n % len(KINDS)]
        v = 5 + (1 if after and n in bumped else 0)
        ref = image.format(n=n, v=v) + "@sha256:" + digest(n, v)
        lines += [f"  {kind}{n}:", "    <<: *common", f"    image: {ref}"]
        if volume:
            lines.append(f"    volumes: ['{volume.format(n=n)}']")
            volumes.append(volume.format(n=n).split(":")[0])
        if kind in ("app", "worker"):
            base = n - n % len(KINDS)
            lines.append(f"    depends_on: [postgres{base}, redis{base + 1}]")
            lines.append(f"    environment: {{DB_HOST: postgres{base}, LOG_LEVEL: info}}")
        if kind == "proxy":
            lines.append("    ports: ['80:80', '443:443']")
            lines.append(f"    labels: ['traefik.http.routers.r{n}.rule=Host(`h{n}.test`)']")
    if volumes:
        lines.append("volumes:")
        lines += [f"  {v}: {{}}" for v in volumes]
    return "\n".join(lines) + "\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def build(root: Path, services: int, files: int, changed: int) -> Path:
    repo = root / "platform"
    (repo / "compose").mkdir(parents=True)
    per_file = services // files
    bumped = set(range(0, services, services // changed))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.test")
    git(repo, "config", "user.name", "bench")
    for after in (False, True):
        for i in range(files):
            text = compose_file(i, per_file, bumped, after)
            (repo / "compose" / f"m{i:03d}.yml").write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "after" if after else "before")
    return repo


def best(rounds: int, run: object) -> float:
    assert callable(run)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--files", type=int, default=100)
    p.add_argument("--changed", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stategate-bench-check-"))
    try:
        repo = build(root, args.services, args.files, args.changed)
        texts = [f.read_text() for f in sorted((repo / "compose").glob("*.yml"))]
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        def parse_both_sides() -> None:
            for _side in range(2):
                for text in texts:
                    yaml.load(text, Loader=loader)

        def library() -> None:
            pr, _ = load_pull_request(repo, "HEAD~1", "HEAD")
            verdict = evaluate_merge(pr)
            assert len(verdict.changes) == args.changed, len(verdict.changes)

        cli = shutil.which("stategate") or str(Path(sys.executable).parent / "stategate")

        def end_to_end() -> None:
            subprocess.run(
                [cli, "check", "--repo", str(repo), "--base", "HEAD~1", "--format", "json"],
                capture_output=True,
                check=False,
            )

        parse = best(args.rounds, parse_both_sides)
        lib = best(args.rounds, library)
        e2e = best(args.rounds, end_to_end)
        print(
            f"platform: {args.services} services in {args.files} files, "
            f"{args.changed}-service upgrade diff"
        )
        print(f"parse YAML only ({loader.__name__}, both sides): {parse:.3f} s")
        print(f"check, library call:  {lib:.3f} s  ratio {lib / parse:.2f}x parsing")
        print(
            f"check, installed CLI: {e2e:.3f} s  ratio {e2e / parse:.2f}x parsing  "
            f"(target < 1 s: {'met' if e2e < 1.0 else 'MISSED'})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
