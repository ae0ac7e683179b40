"""Mutation testing of stategate's critical core with mutmut, one module at a time.

    scripts/mutation.py                 every target module (pyproject: tool.mutmut.only_mutate)
    scripts/mutation.py --changed       the targets the last commit changed (against its
                                        first parent, plus uncommitted edits), else a sample;
                                        at most --budget mutants (default 200), a fixed
                                        hash-ordered sample of them when there are more
    scripts/mutation.py src/stategate/evidence/signing/dsse.py ...   the named targets

Each module is mutated by its own ``mutmut run`` (one worker), which runs only the
tests that reach the mutated function. A mutant that no test kills fails the run
unless ``tests/mutation/equivalent.txt`` lists it with the reason its behaviour
cannot differ. Entries are keyed by function and by the changed lines of the mutant
(not by mutmut's numbering, which shifts when the code does), so a listed mutant
stays listed across unrelated edits. The figures go to stdout as a Markdown table
and to mutants/summary.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.txt"
WORK = ROOT / "mutants"
# What the bounded run mutates when the commit touches no target: small, but it
# proves the whole chain (mutmut, stats, the equivalents check) works on every run.
SAMPLE = ("src/stategate/execute.py",)
SEPARATOR = "\u01c1"  # mutmut's class/method separator in mangled names
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Target:
    path: str  # relative to the repository root, e.g. src/stategate/evidence/signing/dsse.py
    functions: tuple[str, ...]  # empty: the whole module

    @property
    def module(self) -> str:
        return self.path.removeprefix("src/").removesuffix(".py").replace("/", ".")

    def globs(self) -> list[str]:
        if not self.functions:
            return [f"{self.module}.*"]
        names = []
        for function in self.functions:
            cls, _, meth = function.rpartition(".")
            mangled = f"x{SEPARATOR}{cls}{SEPARATOR}{meth}" if cls else f"x_{meth}"
            names.append(f"{self.module}.{mangled}__mutmut_*")
        return names


@dataclass
class Figures:
    target: Target
    of: int  # mutants in the target; more than len(status) when sampled
    seconds: float = 0.0
    status: dict[str, str] = field(default_factory=dict)  # mutant name -> mutmut status
    equivalent: list[str] = field(default_factory=list)
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # name, key, diff

    @property
    def killed(self) -> int:
        return sum(1 for s in self.status.values() if s in DETECTED)


def read_targets() -> list[Target]:
    """mutmut's own list of modules, narrowed to functions where pyproject says so."""
    tool = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]
    narrowed = tool["stategate"]["mutation"]["functions"]
    return [Target(path, tuple(narrowed.get(path, ()))) for path in tool["mutmut"]["only_mutate"]]


def read_equivalents() -> dict[str, str]:
    """key -> reason; a line without a reason is refused (the reason is the point)."""
    found: dict[str, str] = {}
    for number, line in enumerate(EQUIVALENT.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, _, reason = line.partition(" ")
        if "@" not in key or not reason.strip():
            sys.exit(f"{EQUIVALENT}:{number}: expected '<module>:<function>@<hash> <reason>'")
        found[key] = reason.strip()
    return found


def changed_targets(targets: list[Target]) -> list[Target]:
    """Targets changed against the first parent (committed or not); a sample if none."""
    try:
        out = subprocess.run(
            ["git", "diff", "--name-only", "HEAD^1", "--"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except subprocess.CalledProcessError:
        out = ""  # no parent (first commit, shallow clone): fall back to the sample
    changed = set(out.split())
    chosen = [t for t in targets if t.path in changed]
    if chosen:
        return chosen
    print("mutation: no target module changed; running the fixed sample")
    return [t for t in targets if t.path in SAMPLE]


def mutant_key(name: str, path: str) -> tuple[str, str]:
    """A key for ``name`` that survives renumbering: function and changed lines."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # the pinned mutmut

    diff = get_diff_for_mutant(name, path=path)
    changed = [
        line[0] + line[1:].strip()
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    digest = hashlib.sha256("\n".join(changed).encode()).hexdigest()[:12]
    module, _, mangled = name.partition("__mutmut_")[0].rpartition(".")
    if mangled.startswith("x" + SEPARATOR):
        _, cls, meth = mangled.split(SEPARATOR)
        function = f"{cls}.{meth}"
    else:
        function = mangled.removeprefix("x_")
    return f"{module}:{function}@{digest}", diff


def mutant_names(target: Target) -> list[str]:
    """The target's mutants, named as mutmut will name them (mutmut's own generator)."""
    from mutmut.mutation.file_mutation import mutate_file_contents

    source = (ROOT / target.path).read_text(encoding="utf-8")
    names = mutate_file_contents(target.path, source).mutant_names
    full = [f"{target.module}.{name}" for name in names]
    return [n for n in full if any(fnmatch(n, g) for g in target.globs())]


def sample(names: dict[Target, list[str]], budget: int) -> dict[Target, list[str]]:
    """At most ``budget`` mutants, the same ones for the same code: those whose names
    hash lowest, so a sample does not depend on the run or the machine."""
    ranked = sorted(
        (hashlib.sha256(n.encode()).hexdigest(), t, n) for t, ns in names.items() for n in ns
    )
    kept = {n for _, _, n in ranked[:budget]}
    return {t: [n for n in ns if n in kept] for t, ns in names.items()}


def run_target(target: Target, chosen: list[str] | None, log: Path) -> float:
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mutmut",
                "run",
                "--max-children",
                "1",
                *(chosen if chosen is not None else target.globs()),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TERM": "dumb"},
            check=False,
        )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
        print("\n".join(tail.splitlines()[-30:]))
        sys.exit(f"mutation: mutmut failed on {target.path} (exit {done.returncode}); log: {log}")
    return seconds


def collect(
    target: Target, chosen: list[str] | None, seconds: float, equivalents: dict[str, str]
) -> Figures:
    from mutmut.stats import status_by_exit_code

    meta = json.loads((WORK / (target.path + ".meta")).read_text(encoding="utf-8"))
    mine = {n for n in meta["exit_code_by_key"] if any(fnmatch(n, g) for g in target.globs())}
    figures = Figures(target, len(mine), seconds)
    for name in chosen if chosen is not None else sorted(mine):
        figures.status[name] = status_by_exit_code[meta["exit_code_by_key"].get(name)]
    for name, status in sorted(figures.status.items()):
        if status in DETECTED:
            continue
        key, diff = mutant_key(name, target.path)
        if key in equivalents:
            figures.equivalent.append(key)
        else:
            figures.survivors.append((name, key, f"({status})\n{diff}"))
    return figures


def table(all_figures: list[Figures]) -> str:
    rows = [
        "| module | mutants | killed | equivalent | survived | time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in all_figures:
        label = f.target.path.removeprefix("src/stategate/")
        if f.target.functions:
            label += " (" + ", ".join(f.target.functions) + ")"
        count = f"{len(f.status)}" if len(f.status) == f.of else f"{len(f.status)} of {f.of}"
        rows.append(
            f"| {label} | {count} | {f.killed} | {len(f.equivalent)} "
            f"| {len(f.survivors)} | {f.seconds:.0f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changed", action="store_true", help="only targets the commit changed")
    parser.add_argument("--budget", type=int, help="at most this many mutants (a fixed sample)")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="keep the last run's results and run again only the mutants it did not kill",
    )
    parser.add_argument("paths", nargs="*", help="targets to run (default: all)")
    args = parser.parse_args()
    budget = args.budget if args.budget is not None else (200 if args.changed else None)

    targets = read_targets()
    if args.paths:
        unknown = sorted(set(args.paths) - {t.path for t in targets})
        if unknown:
            sys.exit(f"mutation: not a target (tool.mutmut.only_mutate): {', '.join(unknown)}")
        targets = [t for t in targets if t.path in args.paths]
    elif args.changed:
        targets = changed_targets(targets)
    equivalents = read_equivalents()

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if args.recheck:
        return recheck(targets, equivalents)
    # A fresh copy each time: mutmut keys its cache on file times, which a copy
    # made for another selection of modules can fool.
    if WORK.exists():
        subprocess.run(["rm", "-rf", str(WORK)], check=True)
    WORK.mkdir()

    chosen: dict[Target, list[str]] | None = None
    if budget is not None:
        names = {t: mutant_names(t) for t in targets}
        if sum(map(len, names.values())) > budget:
            chosen = sample(names, budget)
    results = []
    for target in targets:
        picked = chosen[target] if chosen is not None else None
        if picked == []:
            continue
        print(f"mutation: {target.path} ...", flush=True)
        log = WORK / (target.module + ".log")
        seconds = run_target(target, picked, log)
        results.append(collect(target, picked, seconds, equivalents))

    return report_on(results)


def recheck(targets: list[Target], equivalents: dict[str, str]) -> int:
    """After adding tests: run again the mutants the last run left alive (the others
    stay killed, as tests were only added), and report on the whole modules."""
    from mutmut.stats import status_by_exit_code

    results = []
    for target in targets:
        meta_path = WORK / (target.path + ".meta")
        if not meta_path.exists():
            continue
        codes = json.loads(meta_path.read_text(encoding="utf-8"))["exit_code_by_key"]
        alive = [
            n
            for n, c in codes.items()
            if any(fnmatch(n, g) for g in target.globs()) and status_by_exit_code[c] not in DETECTED
        ]
        seconds = 0.0
        if alive:
            print(f"mutation: {target.path}: {len(alive)} again ...", flush=True)
            seconds = run_target(target, alive, WORK / (target.module + ".recheck.log"))
        results.append(collect(target, None, seconds, equivalents))
    return report_on(results)


def report_on(results: list[Figures]) -> int:
    report = table(results)
    print(report)
    (WORK / "summary.md").write_text(report + "\n", encoding="utf-8")
    survivors = [s for f in results for s in f.survivors]
    detected = sum(f.killed + len(f.equivalent) for f in results)
    for name, key, diff in survivors:
        print(f"\nSURVIVED {name}\n  key: {key}\n{diff}")
    if survivors:
        print(
            f"\nmutation: {len(survivors)} mutant(s) survived. Write a test that fails on the "
            f"mutated behaviour, or, if behaviour cannot differ, add '<key> <reason>' to "
            f"{EQUIVALENT.relative_to(ROOT)}."
        )
    else:
        print("mutation: every mutant killed or listed as equivalent")
    # the plain closing line CI reads: a mutant passes when killed or listed as equivalent
    print(f"mutation: {detected} passed, {len(survivors)} failed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
