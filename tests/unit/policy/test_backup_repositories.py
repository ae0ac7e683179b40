"""The backup reference module is never its own only copy: refused in the policy, and
blocked in the apply gate when a backup has no copy outside it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stategate.policy.apply_gate import ApplyFacts, ApprovalResult, EvidenceFact, evaluate_apply
from stategate.policy.backups import REFERENCE_RULE
from stategate.policy.gate import Requirement
from stategate.policy.schema import Policy
from tests.unit.policy.test_apply_gate_rules import (
    APPROVAL,
    INIT,
    MC_NEW,
    MC_OLD,
    NOW,
    approvals,
    backup,
)
from tests.unit.policy.test_gate_rules import PG_MINOR, PG_OLD, Platforms

MINIO = "platform/minio"
PG = "platform/postgres"
MINIO_OLD = (
    "minio/minio:RELEASE.2024-10-13T13-34-11Z"
    "@sha256:74747fc07544840e196963076ba6f17e532225b23da90857ff8b8a47dacb6621"
)
MINIO_NEW = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "7a" * 32
DIGEST = MINIO_OLD.partition("@")[2]


def _policy(repositories: str, backup_to: str = "") -> dict[str, object]:
    import yaml

    text = (
        "version: 1\n"
        "evidence:\n"
        f"  repositories: {repositories}\n"
        "  encryption: {recipients_file: trust/backup-recipients.txt}\n"
        f"{backup_to}"
        "modules:\n"
        f"  {MINIO}:\n"
        "    backup_reference: true\n"
        "    evidence: {provider: s3, endpoint: 'http://localhost:9000/',\n"
        "               access_key: {env: A}, secret_key: {env: B}}\n"
    )
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


IN_MINIO = (
    "[{name: minio, type: s3, endpoint: 'http://127.0.0.1:9000', bucket: backups, "
    "access_key: {env: A}, secret_key: {env: B}}]"
)
BOTH = IN_MINIO[:-1] + ", {name: here, type: local}]"


def test_a_policy_whose_only_repository_lives_in_the_reference_module_is_refused() -> None:
    # the repository's endpoint is the minio module's own (localhost is 127.0.0.1)
    with pytest.raises(ValidationError) as refused:
        Policy.model_validate(_policy(IN_MINIO))
    assert (
        "every repository backups go to (minio) lives in platform/minio, the backup "
        f"reference module: {REFERENCE_RULE}"
    ) in str(refused.value)
    policy = Policy.model_validate(_policy(BOTH))
    assert policy.repository_homes() == {"minio": MINIO}
    with pytest.raises(ValidationError, match="every repository backups go to"):
        Policy.model_validate(_policy(BOTH, "  backup_to: [minio]\n"))


def test_a_repository_says_which_module_holds_it_when_the_endpoint_cannot() -> None:
    elsewhere = (
        "[{name: vault, type: s3, endpoint: 'https://s3.internal', bucket: b, "
        "module: platform/minio, access_key: {env: A}, secret_key: {env: B}}]"
    )
    with pytest.raises(ValidationError, match=r"\(vault\) lives in platform/minio"):
        Policy.model_validate(_policy(elsewhere))
    other = elsewhere.replace("module: platform/minio, ", "")
    assert Policy.model_validate(_policy(other)).repository_homes() == {}


def _minio_upgrade(tmp_path: Path) -> Platforms:
    """A minio bump on the example platform, whose policy stores backups in minio's own
    bucket (repository ``minio``) and on the host (``host``)."""
    platforms = Platforms(tmp_path)
    for side, root in (("base", platforms.base), ("head", platforms.head)):
        # a second repository on minio's server, named by module (another endpoint)
        text = (root / "stategate.yaml").read_text(encoding="utf-8")
        vault = (
            "    - {name: vault, type: s3, endpoint: 'https://vault.internal', bucket: b,\n"
            "       module: platform/minio, access_key: {env: A}, secret_key: {env: B}}\n"
        )
        old = "  backup_to: [minio, host]\n"
        assert old in text
        text = text.replace(old, "  backup_to: [minio, vault, host]\n")
        text = text.replace("    - name: host\n", vault + "    - name: host\n", 1)
        platforms.write("stategate.yaml", text, side=side)
    platforms.replace("compose/minio.yml", MINIO_OLD, MINIO_NEW)
    platforms.packet(
        "minio",
        f"  - module: {MINIO}\n    from: {MINIO_OLD}\n    to: {MINIO_NEW}\n"
        f"    rollback: {{to: '{MINIO_OLD}'}}\n",
        "[compose/minio.yml]",
    )
    return platforms


def _backup_requirement(
    platforms: Platforms,
    copies: tuple[str, ...],
    module: str = MINIO,
    rid: str = "apply/backup",
) -> Requirement:
    fact: EvidenceFact = backup(
        "evidence/platform/minio/backup-1.json", module=MINIO, digest=DIGEST, version=None
    )
    fact = EvidenceFact(**{**fact.__dict__, "copies": copies})
    facts = ApplyFacts(
        [fact], NOW, approvals(ApprovalResult(APPROVAL, True, (), (module,))), lambda _p: []
    )
    verdict = evaluate_apply(platforms.pull_request(), facts)
    (found,) = [r for r in verdict.requirements if r.id == rid and r.module == module]
    return found


def test_the_reference_modules_backup_counts_only_with_a_copy_outside_it(
    tmp_path: Path,
) -> None:
    platforms = _minio_upgrade(tmp_path)
    inside = _backup_requirement(platforms, ("minio", "vault"))
    assert inside == Requirement(
        "apply/backup",
        MINIO,
        "stateful",
        "missing",
        f"backup b1 is stored only in minio, vault, inside {MINIO} itself: {REFERENCE_RULE}",
    )
    both = _backup_requirement(platforms, ("minio", "host"))
    assert both.status == "met"
    assert both.hint == "backup evidence/platform/minio/backup-1.json (b1)"
    # a backup from before any repository lives in the artifacts folder: outside minio
    assert _backup_requirement(platforms, ()).status == "met"


def test_a_sidecar_of_the_reference_module_relies_on_its_backup_wherever_it_is(
    tmp_path: Path,
) -> None:
    """The rule gates an upgrade of the reference module itself; its sidecar's apply
    relies on the parent's backup as it is."""
    platforms = Platforms(tmp_path)
    platforms.replace("compose/minio-init.yml", MC_OLD, MC_NEW)
    platforms.packet(
        "mc",
        f"  - module: {INIT}\n    from: {MC_OLD}\n    to: {MC_NEW}\n"
        f"    rollback: {{to: '{MC_OLD}'}}\n",
        "[compose/minio-init.yml]",
    )
    parent = _backup_requirement(platforms, ("minio",), module=INIT, rid="apply/parent-backup")
    assert parent.status == "met"


def test_another_modules_backup_kept_only_in_minio_still_counts(tmp_path: Path) -> None:
    """The policy keeps backups from going only to minio; in the gate, a backup kept only
    inside the very module being upgraded is what does not count (minio's own), not
    another module's backup kept in minio."""
    platforms = Platforms(tmp_path)
    platforms.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    platforms.packet(
        "pg",
        f"  - module: {PG}\n    from: {PG_OLD}\n    to: {PG_MINOR}\n"
        f"    rollback: {{to: '{PG_OLD}'}}\n",
        "[compose/postgres.yml]",
    )
    fact = EvidenceFact(**{**backup().__dict__, "copies": ("minio",)})
    facts = ApplyFacts(
        [fact], NOW, approvals(ApprovalResult(APPROVAL, True, (), (PG,))), lambda _p: []
    )
    verdict = evaluate_apply(platforms.pull_request(), facts)
    (found,) = [r for r in verdict.requirements if r.id == "apply/backup" and r.module == PG]
    assert found.status == "met", found.hint
