"""The differential conformance harness: one compose project through Docker Compose
itself (the oracle, ``docker compose config --format json``) and through stategate's
loader and printed model (what ``stategate config --format json`` prints), compared
field by field.

Compose runs in an empty environment (``env -i``: only ``PATH``, a private ``HOME``
and the case's variables, which stategate receives as ``--env``), with
``--profile '*'`` unless the case names profiles (stategate's default is every
service). Compose prints absolute host paths; they are compared after removing the
checkout's root, which is what stategate prints relative to. Both get ``PWD`` set to
the checkout's root, as a shell that runs compose there has it (stategate never reads
the shell, so ``${PWD}`` comes to it as ``--env PWD=...``, and the root it then prints
is removed the same way). Every other difference fails unless ``allowlist.yaml``
explains it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stategate.compose.canonical import canonical_project
from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.source import WorkTree

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE_VARIABLE = "STATEGATE_COMPOSE_ORACLE"
ALLOWLIST = Path(__file__).with_name("allowlist.yaml")


def oracle_binary() -> Path | None:
    """Docker Compose v2.40.3 as scripts/setup.sh installs it (or where the variable says)."""
    named = os.environ.get(ORACLE_VARIABLE)
    path = Path(named) if named else REPO_ROOT / ".venv" / "oracle" / "docker-compose"
    return path if path.is_file() and os.access(path, os.X_OK) else None


@dataclass(frozen=True)
class Case:
    """One project: its files under a root, the ``-f`` list, variables and profiles."""

    files: Mapping[str, str]  # path under the root -> text
    compose_files: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    profiles: Sequence[str] = ()
    features: frozenset[str] = frozenset()

    def write(self, root: Path) -> None:
        for rel, text in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Outcome:
    model: dict[str, Any] | None  # None: refused
    error: str = ""
    file: str | None = None
    line: int | None = None

    @property
    def refused(self) -> bool:
        return self.model is None


def run_compose(
    binary: Path,
    root: Path,
    files: Sequence[str],
    env: Mapping[str, str],
    profiles: Sequence[str],
    env_file: str | None = None,
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="compose-home-") as home:
        argv = [str(binary)]
        if env_file:
            argv += ["--env-file", env_file]
        for rel in files:
            argv += ["-f", rel]
        for profile in profiles or ["*"]:
            argv += ["--profile", profile]
        argv += ["config", "--format", "json"]
        environ = {"PATH": "/usr/bin:/bin", "HOME": home, **env}
        done = subprocess.run(
            argv, cwd=root, env=environ, capture_output=True, text=True, timeout=60, check=False
        )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "level=warning" not in ln]
        return Outcome(None, "\n".join(lines).strip())
    return Outcome(_relative(json.loads(done.stdout), str(root)))


def run_stategate(
    root: Path,
    files: Sequence[str],
    env: Mapping[str, str],
    profiles: Sequence[str],
    env_file: str | None = None,
) -> Outcome:
    source = WorkTree(root)
    try:
        loaded = load_compose(
            source, list(files), env_file=env_file, extra_env=dict(env), profiles=list(profiles)
        )
        model = canonical_project(loaded.projects[0], source)
    except InputError as refused:
        return Outcome(None, str(refused), refused.file, refused.line)
    return Outcome(json.loads(json.dumps(model)))


def _relative(node: Any, root: str) -> Any:
    """Compose's absolute paths under the checkout, relative to it (as stategate prints)."""
    if isinstance(node, dict):
        return {k: _relative(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [_relative(v, root) for v in node]
    if isinstance(node, str):
        if node == root:
            return "."
        if node.startswith(root + "/"):
            return node[len(root) + 1 :]
    return node


@dataclass(frozen=True)
class Difference:
    path: str
    compose: Any
    stategate: Any

    def __str__(self) -> str:
        return (
            f"{self.path}: compose {json.dumps(self.compose)[:160]} "
            f"stategate {json.dumps(self.stategate)[:160]}"
        )


ABSENT = "<absent>"


def differences(compose: Any, ours: Any, path: str = "") -> Iterator[Difference]:
    if isinstance(compose, dict) and isinstance(ours, dict):
        for key in sorted(set(compose) | set(ours)):
            here = f"{path}/{key}"
            if key not in ours:
                yield Difference(here, compose[key], ABSENT)
            elif key not in compose:
                yield Difference(here, ABSENT, ours[key])
            else:
                yield from differences(compose[key], ours[key], here)
    elif isinstance(compose, list) and isinstance(ours, list) and len(compose) == len(ours):
        for index, (a, b) in enumerate(zip(compose, ours, strict=True)):
            yield from differences(a, b, f"{path}/{index}")
    elif compose != ours or type(compose) is not type(ours):
        yield Difference(path, compose, ours)


@dataclass(frozen=True)
class Allowed:
    """One allow-list entry: a difference at a path (regex) and why it is right."""

    id: str
    reason: str
    path: re.Pattern[str]
    compose: re.Pattern[str] | None = None  # over json.dumps of compose's value
    stategate: re.Pattern[str] | None = None
    outcome: str = "model"  # model: a field differs; refusal: compose accepts, we refuse

    def allows(self, diff: Difference) -> bool:
        return (
            self.outcome == "model"
            and bool(self.path.fullmatch(diff.path))
            and (self.compose is None or bool(self.compose.fullmatch(json.dumps(diff.compose))))
            and (
                self.stategate is None or bool(self.stategate.fullmatch(json.dumps(diff.stategate)))
            )
        )


def allowlist() -> list[Allowed]:
    entries = yaml.safe_load(ALLOWLIST.read_text(encoding="utf-8")) or []
    out: list[Allowed] = []
    for entry in entries:
        out.append(
            Allowed(
                entry["id"],
                entry["reason"],
                re.compile(entry.get("path", ".*")),
                re.compile(entry["compose"]) if "compose" in entry else None,
                re.compile(entry["stategate"]) if "stategate" in entry else None,
                entry.get("outcome", "model"),
            )
        )
    return out


@dataclass
class Verdict:
    """How one case came out: agree (same model or both refuse), or what differs."""

    compose: Outcome
    stategate: Outcome
    unexplained: list[Difference] = field(default_factory=list)
    allowed: list[tuple[str, Difference]] = field(default_factory=list)
    problem: str = ""  # a refusal one side makes and the other does not

    @property
    def agrees(self) -> bool:
        return not self.problem and not self.unexplained

    def explain(self) -> str:
        lines = [self.problem] if self.problem else []
        lines += [str(d) for d in self.unexplained]
        return "\n".join(lines)


def judge(compose: Outcome, ours: Outcome, allowed: Sequence[Allowed]) -> Verdict:
    verdict = Verdict(compose, ours)
    if compose.refused and ours.refused:
        if not ours.file:
            verdict.problem = f"stategate refused without naming the file: {ours.error}"
        return verdict
    if compose.refused:
        verdict.problem = f"compose refuses ({compose.error[:300]}); stategate accepts"
        return verdict
    if ours.refused:
        verdict.problem = f"stategate refuses ({ours.error[:300]}); compose accepts"
        return verdict
    assert compose.model is not None and ours.model is not None
    for diff in differences(compose.model, ours.model):
        entry = next((a for a in allowed if a.allows(diff)), None)
        if entry is None:
            verdict.unexplained.append(diff)
        else:
            verdict.allowed.append((entry.id, diff))
    return verdict


def run_case(binary: Path, case: Case, allowed: Sequence[Allowed]) -> Verdict:
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        root = Path(tmp).resolve()
        case.write(root)
        return run_in(binary, root, case.compose_files, case.env, case.profiles, allowed)


def run_in(
    binary: Path,
    root: Path,
    files: Sequence[str],
    env: Mapping[str, str],
    profiles: Sequence[str],
    allowed: Sequence[Allowed],
    env_file: str | None = None,
) -> Verdict:
    shell = {"PWD": str(root), **env}
    compose = run_compose(binary, root, files, shell, profiles, env_file)
    ours = run_stategate(root, files, shell, profiles, env_file)
    if ours.model is not None:
        ours = Outcome(_relative(ours.model, str(root)))
    return judge(compose, ours, allowed)
