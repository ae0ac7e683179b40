"""Rows "stategate --help" and "classify (example)": the CLI's start-up as a user feels
it, each as its own process, against a bare ``python -c pass`` of the same interpreter,
alternating rounds (start-up is short: each round runs each side ``--repeat`` times and
every run counts). Goals: --help <= 150 ms and <= 6x; classify of the bundled example
platform (examples/platform) <= 16x."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import bench_line, paired, parser, stategate_argv, stategate_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "platform"


def main() -> None:
    p = parser(__doc__ or "", 1.0)
    p.add_argument("--repeat", type=int, default=3, help="runs of each side per round")
    args = p.parse_args()
    env = stategate_env()
    rounds = max(1, args.rounds) * max(1, args.repeat)

    def run(argv: list[str]) -> None:
        done = subprocess.run(argv, env=env, capture_output=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-800:]}")

    bare = [sys.executable, "-c", "pass"]
    for row, argv, target in (
        ("stategate --help", stategate_argv("--help"), "<= 6.00, ours <= 0.150 s"),
        (
            "classify (example)",
            stategate_argv("classify", str(EXAMPLE), "--format", "json"),
            "<= 16.00",
        ),
    ):
        run(argv)  # once untimed: the page cache and .pyc files
        t_ours, t_bare = paired(rounds, lambda a=argv: run(a), lambda: run(bare))
        bench_line(
            row,
            t_ours,
            t_bare,
            "python -c pass",
            kind="time",
            target=target,
            detail=f"{rounds} runs each, Python {sys.version.split()[0]}",
        )


if __name__ == "__main__":
    main()
