"""Which changes of a pull request touch its own trust inputs."""

from __future__ import annotations

import pytest

from stategate.git import ChangedPath
from stategate.policy.default import default_policy
from stategate.policy.load import LoadedPolicy, parse_policy, policy_digest
from stategate.policy.trust_inputs import trust_changes
from stategate.yamlfile import loads

TRUST = "trust/allowed_signers.yaml"


def _policy(text: str | None) -> LoadedPolicy:
    if text is None:
        policy = default_policy()
        return LoadedPolicy(policy, None, policy_digest(policy))
    return parse_policy(loads(text, "stategate.yaml"), "stategate.yaml")


def test_nothing_trust_related_changed() -> None:
    base = _policy("version: 1\n")
    head = _policy("version: 1\nforbidden_paths: [x/**]\n")
    assert trust_changes(base, head, [ChangedPath("M", "compose/pg.yml")]) == []


@pytest.mark.parametrize(
    "change",
    [
        ChangedPath("M", TRUST),
        ChangedPath("D", TRUST),
        ChangedPath("R", "trust/other.yaml", TRUST),  # renamed away
        ChangedPath("A", TRUST),  # created where the base had none
    ],
)
def test_any_change_of_the_trust_file_is_named(change: ChangedPath) -> None:
    (found,) = trust_changes(_policy(None), _policy(None), [change])
    assert found.file == TRUST and "trust file" in found.message


@pytest.mark.parametrize(
    ("head", "field", "line"),
    [
        ("version: 1\nevidence:\n  trust_file: my/trust.yaml\n", "evidence.trust_file", 3),
        ("version: 1\nevidence:\n  dir: mine\n", "evidence.dir", 3),
        (
            "version: 1\nfreshness:\n  approval_max_age_hours: 9999\n",
            "freshness.approval_max_age_hours",
            3,
        ),
        # which inventory sources and manifests are read at all (issue 19)
        ("version: 1\ninventory:\n  sources: [compose]\n", "inventory.sources", 3),
        (
            "version: 1\ninventory:\n  kubernetes:\n    paths: [decoy/]\n",
            "inventory.kubernetes.paths",
            4,
        ),
        # what a module moves with, and which classes it sheds
        ("version: 1\nmodules:\n  p/backup:\n    parent: p/ghost\n", "modules.p/backup.parent", 4),
        (
            "version: 1\nmodules:\n  p/job:\n    classes: {remove: [sidecar-bound]}\n",
            "modules.p/job.classes.remove",
            4,
        ),
    ],
)
def test_trust_fields_of_the_policy_are_named_with_their_line(
    head: str, field: str, line: int
) -> None:
    (found,) = trust_changes(_policy("version: 1\n"), _policy(head), [])
    assert (found.file, found.line) == ("stategate.yaml", line)
    assert field in found.message


def test_the_head_trust_file_is_a_trust_input_too() -> None:
    head = _policy("version: 1\nevidence:\n  trust_file: my/trust.yaml\n")
    found = trust_changes(_policy(None), head, [ChangedPath("A", "my/trust.yaml")])
    assert {f.file for f in found} == {"my/trust.yaml", "stategate.yaml"}


def test_deleting_the_policy_that_set_a_trust_field_is_named() -> None:
    base = _policy("version: 1\nfreshness:\n  approval_max_age_hours: 8\n")
    (found,) = trust_changes(base, _policy(None), [ChangedPath("D", "stategate.yaml")])
    assert found.file == "stategate.yaml" and found.line is None
