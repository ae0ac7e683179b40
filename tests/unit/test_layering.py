"""The platform is opened once, at a command's edge (src/stategate/workspace.py), and
handed down: nothing below the commands opens the policy, the platform or the evidence
store again (issue 17: a restore drill used to re-read the policy on its way down)."""

from __future__ import annotations

import ast
from pathlib import Path

import stategate

SRC = Path(stategate.__file__).parent
BELOW_THE_EDGE = ("operations", "evidence", "providers", "sandbox", "smoke", "engines")
OPENERS = {"load_platform", "load_platform_from", "load_policy", "open_workspace", "open_policy"}
# the one exception: the trust roots of a *base revision* come from that revision's
# policy (it names the trust file), read from git objects, never from the work tree
ALLOWED = {("evidence/trust/roots.py", "load_policy")}


def _openers(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found |= {alias.name for alias in node.names if alias.name in OPENERS}
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "open"
            and isinstance(node.value, ast.Name)
            and node.value.id == "EvidenceStore"
        ):
            found.add("EvidenceStore.open")
    return found


def test_nothing_below_the_commands_opens_the_platform_again() -> None:
    offenders = []
    for package in BELOW_THE_EDGE:
        for path in sorted((SRC / package).rglob("*.py")):
            rel = path.relative_to(SRC).as_posix()
            for name in sorted(_openers(path)):
                if (rel, name) not in ALLOWED and not (
                    name == "EvidenceStore.open" and rel == "evidence/store.py"
                ):
                    offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_the_check_itself_sees_an_opener(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from stategate.platform import load_platform\n"
        "from stategate.evidence.store import EvidenceStore\n"
        "def f(layout):\n    return EvidenceStore.open(layout)\n"
    )
    assert _openers(probe) == {"load_platform", "EvidenceStore.open"}
