from __future__ import annotations

import pytest
from tests.conftest import Tree

from stategate.policy.load import PolicyError, load_policy, parse_policy
from stategate.source import WorkTree
from stategate.yamlfile import loads


def test_default_policy_is_strict() -> None:
    from stategate.policy.default import default_policy

    policy = default_policy()
    for cls in ("stateful", "public-edge", "auth", "privileged"):
        assert policy.classes[cls].always_manual  # type: ignore[index]
    assert policy.dr_drill.mode == "strict"


def test_every_error_is_reported_with_file_line_and_path() -> None:
    text = "version: 1\nfreshness:\n  backup_max_age_hours: soon\nmodules:\n  p/db:\n    tier: middle\n    bogus: 1\n"
    with pytest.raises(PolicyError) as err:
        parse_policy(loads(text, "stategate.yaml"), "stategate.yaml")
    problems = err.value.problems
    assert len(problems) == 3
    assert any(p.startswith("stategate.yaml:3: freshness.backup_max_age_hours") for p in problems)
    assert any(p.startswith("stategate.yaml:6: modules.p/db.tier") for p in problems)
    assert any(p.startswith("stategate.yaml:7: modules.p/db.bogus") for p in problems)


def test_relaxing_always_manual_rules_needs_a_decision(tree: Tree) -> None:
    root = tree(
        {
            "stategate.yaml": """
                classes:
                  stateful: {always_manual: false, apply: [backup]}
                stops: [secret-value]
                freshness: {backup_max_age_hours: 72}
            """
        }
    )
    loaded = load_policy(WorkTree(root))
    messages = [r.message for r in loaded.relaxations]
    assert any("always_manual: false" in m for m in messages)
    assert any("drops apply requirement(s) restore-drill" in m for m in messages)
    assert any("stop condition(s)" in m for m in messages)
    assert any("backup_max_age_hours" in m for m in messages)
    assert all(r.loc.file == "stategate.yaml" for r in loaded.relaxations)
    root = tree({"decisions/0050-relax.md": "x\n"})
    (root / "stategate.yaml").write_text(
        "decision: decisions/0050-relax.md\nclasses:\n  stateful: {always_manual: false}\n"
    )
    assert load_policy(WorkTree(root)).relaxations == []


def test_tightening_and_core_and_broad_are_not_relaxations(tree: Tree) -> None:
    root = tree(
        {
            "stategate.yaml": """
                dr_drill: {mode: core-and-broad}
                freshness: {backup_max_age_hours: 12}
                classes:
                  secret-bearing: {always_manual: true, manual_reason: security-sensitive}
            """
        }
    )
    loaded = load_policy(WorkTree(root))
    assert loaded.relaxations == []
    assert loaded.policy.classes["secret-bearing"].always_manual  # type: ignore[index]
    # a class rule set partially keeps the default requirements
    assert loaded.policy.classes["stateful"].apply  # type: ignore[index]
