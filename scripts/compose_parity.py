"""Compose parity figures: the corpus and N generated projects through Docker Compose
v2.40.3 and stategate, per feature (docs/compose-parity.md).

    .venv/bin/python scripts/compose_parity.py [--examples 10000] [--jobs 2] [--seed 0]

Prints, per feature, how many cases agree (the same canonical model, or both refuse)
and how many differ, the allow-list entries used, and the first differences found.
Exit 1 when any case differs (beyond the allow-list), 2 when the oracle is absent.
"""

from __future__ import annotations

import argparse
import collections
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.parity.corpus import corpus_cases
from tests.parity.generate import cases
from tests.parity.harness import Case, Verdict, allowlist, oracle_binary, run_case, run_in

FEATURES = (
    "interpolation",
    "dotenv",
    "merge",
    "extends",
    "include",
    "profiles",
    "env_file",
    "anchors",
    "refusal",
)


def generated(count: int, start: int) -> list[Case]:
    out: list[Case] = []

    @seed(start)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out


def _judge(case: Case) -> tuple[Case, Verdict]:
    binary = oracle_binary()
    assert binary is not None
    return case, run_case(binary, case, allowlist())


def _kind(verdict: Verdict) -> str:
    if not verdict.agrees:
        return "differ"
    return "both refuse" if verdict.compose.refused else "same model"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="differences to print")
    parser.add_argument("--only", help="generated cases with this feature only")
    args = parser.parse_args()
    binary = oracle_binary()
    if binary is None:
        print("Docker Compose oracle not installed: run scripts/setup.sh", file=sys.stderr)
        return 2
    table: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    used: collections.Counter[str] = collections.Counter()
    shown = 0
    allowed = allowlist()
    for corpus_case in corpus_cases():
        verdict = run_in(
            binary, corpus_case.root, corpus_case.files, dict(corpus_case.env), (), allowed
        )
        table["corpus"][_kind(verdict)] += 1
        used.update(entry for entry, _ in verdict.allowed)
        if not verdict.agrees and shown < args.show:
            shown += 1
            print(f"corpus {corpus_case.id}:\n  {verdict.explain()[:800]}")
    batch = generated(args.examples, args.seed)
    if args.only:
        batch = [case for case in batch if args.only in case.features]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for case, verdict in pool.map(_judge, batch, chunksize=16):
            kind = _kind(verdict)
            table["generated (all)"][kind] += 1
            for feature in case.features:
                table[feature][kind] += 1
            used.update(entry for entry, _ in verdict.allowed)
            if kind == "differ" and shown < args.show:
                shown += 1
                print(f"generated {sorted(case.features)}:\n  {verdict.explain()[:800]}")
                for rel, text in case.files.items():
                    print(f"  --- {rel}\n    " + text.replace("\n", "\n    "))
    print(f"\n{'feature':<16} {'cases':>6} {'same model':>11} {'both refuse':>12} {'differ':>7}")
    for row in ("corpus", "generated (all)", *FEATURES):
        counts = table[row]
        total = sum(counts.values())
        print(
            f"{row:<16} {total:>6} {counts['same model']:>11} "
            f"{counts['both refuse']:>12} {counts['differ']:>7}"
        )
    print(
        "\nallow-list entries used: " + (", ".join(f"{k} ({n})" for k, n in used.items()) or "none")
    )
    return 1 if any(table[row]["differ"] for row in table) else 0


if __name__ == "__main__":
    raise SystemExit(main())
