"""Artifact verification (stategate's hash_file) vs sha256sum on the same file.
Data: --scale GB of random bytes (page-cached after the first read)."""

from __future__ import annotations

import os
import subprocess

from common import best, parser, report, rm, workdir

from stategate.evidence.records.artifact import hash_file


def main() -> None:
    args = parser(__doc__ or "", 4).parse_args()
    work = workdir()
    path = work / "artifact.bin"
    size = int(args.scale * 1e9)
    block = os.urandom(16 * 1024 * 1024)
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            handle.write(block[: min(len(block), size - written)])
            written += min(len(block), size - written)
    expected = subprocess.run(
        ["sha256sum", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    assert hash_file(path)[1] == expected

    def bare() -> None:
        subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)

    def ours() -> None:
        hash_file(path)

    t_ours, t_bare = best(args.rounds + 1, ours, bare)
    report(
        "artifact verification",
        t_ours,
        t_bare,
        "sha256sum",
        kind="throughput",
        target=">= 0.95",
        size=size,
    )
    rm(work)


if __name__ == "__main__":
    main()
