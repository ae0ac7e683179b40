"""Which changes of a pull request touch its own trust inputs (pure).

Trust comes from the base (see :mod:`stategate.evidence.trust.roots`), so a PR that edits the
trust file, or the policy fields that locate it or bound approvals, would otherwise
take effect only later, silently. It is a stop instead, whatever the packet's
``allowed_paths`` say: such a change is merged on its own, approved by an operator,
and judges later pull requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stategate.git import ChangedPath
from stategate.policy.load import LoadedPolicy
from stategate.policy.schema import UpgradeClass

# Policy fields that decide who may approve, where trust and evidence live, and what is
# judged at all (which compose files and manifests are read, with which variables and
# profiles: a PR that re-points them could compare a decoy with the original).
TRUST_FIELDS: tuple[tuple[str, ...], ...] = (
    ("evidence", "trust_file"),
    ("evidence", "dir"),
    ("freshness", "approval_max_age_hours"),
    ("compose", "files"),
    ("compose", "env_file"),
    ("compose", "profiles"),
    ("compose", "host_variables"),
    ("inventory", "sources"),
    ("inventory", "kubernetes", "paths"),
)


@dataclass(frozen=True)
class TrustChange:
    message: str
    file: str
    line: int | None = None


def _field(loaded: LoadedPolicy, path: tuple[str, ...]) -> object:
    node: object = loaded.policy
    for name in path:
        node = getattr(node, name)
    return node


def trust_changes(
    base: LoadedPolicy, head: LoadedPolicy, touched: Sequence[ChangedPath]
) -> list[TrustChange]:
    """Every trust input the PR changes: trust files (at the base's and the head's
    location) and the trust fields of the policy."""
    found: list[TrustChange] = []
    paths = {c.path for c in touched} | {c.old_path for c in touched if c.old_path}
    trust_files = dict.fromkeys(
        (base.policy.evidence.trust_file.strip("/"), head.policy.evidence.trust_file.strip("/"))
    )
    for rel in trust_files:
        if rel in paths:
            found.append(
                TrustChange(
                    f"the pull request changes the trust file {rel}; trust roots are read "
                    "from the base, so this change must be merged on its own with an "
                    "operator's approval and judges later pull requests",
                    rel,
                )
            )
    found.extend(_binding_changes(base, head))
    for path in TRUST_FIELDS:
        before, after = _field(base, path), _field(head, path)
        if before != after:
            loc = head.loc_of(*path)
            found.append(
                TrustChange(
                    f"the pull request changes the policy's {'.'.join(path)} "
                    f"({before!r} -> {after!r}), a trust input read from the base; "
                    "merge it on its own with an operator's approval",
                    head.file or base.file or "stategate.yaml",
                    loc.line if head.file else None,
                )
            )
    return found


def _binding_changes(base: LoadedPolicy, head: LoadedPolicy) -> list[TrustChange]:
    """Per-module overrides that decide what a module moves with or which classes it
    sheds (``parent``, ``classes.remove``): they judge later pull requests too."""
    found: list[TrustChange] = []
    for mid in sorted(set(base.policy.modules) | set(head.policy.modules)):
        before, after = base.policy.module(mid), head.policy.module(mid)
        for name, old, new in (
            ("parent", before.parent, after.parent),
            ("classes.remove", _values(before.classes.remove), _values(after.classes.remove)),
        ):
            if old == new:
                continue
            loc = head.loc_of("modules", mid, *name.split("."))
            found.append(
                TrustChange(
                    f"the pull request changes modules.{mid}.{name} ({old!r} -> {new!r}), "
                    "which decides how later pull requests are judged; merge it on its own "
                    "with an operator's approval",
                    head.file or base.file or "stategate.yaml",
                    loc.line if head.file else None,
                )
            )
    return found


def _values(classes: Sequence[UpgradeClass]) -> list[str]:
    return sorted(c.value for c in classes)
