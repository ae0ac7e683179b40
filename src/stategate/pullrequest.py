"""Assemble a pull request from git: both sides loaded with full compose semantics,
per-module changes, touched paths, packets, secret and docs findings.

This is the I/O edge of ``check``; :func:`stategate.policy.gate.evaluate_merge` is pure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stategate.catalogues import hazard_catalogue
from stategate.compose.cache import ComposeCache
from stategate.compose.model import Service
from stategate.diff.changes import diff_modules
from stategate.diff.scan import Finding, lint_docs, scan_secrets
from stategate.errors import InputError
from stategate.git import MAX_ADDED_BYTES, MAX_ADDED_LINES, AddedText, Git, GitTree
from stategate.packet import is_packet_path, load_packet
from stategate.platform import DECISIONS_DIR, Platform, load_platform_from
from stategate.policy.classify import ClassifyCache
from stategate.policy.gate import PullRequest
from stategate.policy.hazards import Bump, find_hazards
from stategate.policy.load import POLICY_FILE, load_policy
from stategate.policy.schema import Policy
from stategate.policy.trust_inputs import trust_changes
from stategate.source import clean_rel
from stategate.yamlfile import decode_text


@dataclass
class Sides:
    base_rev: str
    head_rev: str
    base: Platform
    head: Platform


def resolve_revisions(git: Git, base: str | None, head: str | None) -> tuple[str, str]:
    if not git.is_repo():
        raise InputError("not a git repository", file=str(git.repo))
    head_rev = git.rev_parse(head or "HEAD")
    if base:
        # a pull request's changes are those since it branched off (what the forge
        # shows): with a base branch that moved on, its tip would show the base's own
        # newer commits as the PR reverting them. Trust still comes from the base as
        # given (trust_revision), so a key revoked there after the fork is revoked here.
        return git.merge_base(git.rev_parse(base), head_rev), head_rev
    branch = git.default_branch()
    if branch is None:
        raise InputError("no default branch found; pass --base REV", file=str(git.repo))
    base_rev = git.merge_base(branch, head_rev)
    return base_rev, head_rev


def load_pull_request(
    repo: Path,
    base: str | None,
    head: str | None,
    files: Sequence[str] | None = None,
    *,
    share: bool = True,
) -> tuple[PullRequest, Sides]:
    """Load both sides; ``files`` (``-f``) name the compose files on each side, a file
    missing on one side (added or deleted by the PR) counting as empty there.

    The head reuses what loading the base found where its inputs are the same (parsed,
    interpolated and validated documents, classified projects); ``share=False`` loads
    each side on its own, which judges the same (a test holds them to it)."""
    git = Git(repo)
    base_rev, head_rev = resolve_revisions(git, base, head)
    base_tree, head_tree = git.tree(base_rev), git.tree(head_rev)
    for tree in (base_tree, head_tree):
        tree.prefetch([p for p in tree.list_files() if _compose_relevant(p)])
    try:
        _check_files(files, base_tree, head_tree)
        # most files are the same on both sides
        cache = ComposeCache() if share else None
        classified = ClassifyCache() if share else None
        base_platform = load_platform_from(
            base_tree, _present(base_tree, files), cache=cache, classified=classified
        )
        # The head is judged by the base's policy: the PR's own policy counts only for
        # the stops it earns (relaxations, trust inputs), never for how its modules are
        # classified or which compose files are read.
        head_own = load_policy(head_tree)
        head_files = _head_files(base_platform.policy, head_own.policy, files, head_tree)
        head_platform = load_platform_from(
            head_tree,
            head_files,
            judged_by=base_platform.loaded_policy,
            decisions=[f for f in base_tree.list_files() if f.startswith(DECISIONS_DIR)],
            cache=cache,
            classified=classified,
        )
        touched = git.changed_paths(base_rev, head_rev)
        packets = [
            load_packet(head_tree, c.path)
            for c in touched
            if c.status != "D" and is_packet_path(c.path)
        ]
        merged = {
            posixpath.splitext(posixpath.basename(p))[0]
            for p in base_tree.list_files()
            if is_packet_path(p)
        }
        policy = base_platform.policy
        doc_findings = []
        for change in touched:
            if change.status == "D" or not change.path.endswith(".md"):
                continue
            text = decode_text(head_tree.read_bytes(change.path), change.path)
            doc_findings.extend(
                lint_docs(change.path, text, policy.docs.runtime_patterns, policy.docs.gate_marker)
            )
        changes = diff_modules(base_platform.modules, head_platform.modules)
        bumps = [
            Bump(
                c,
                _service(base_platform, c.renamed_from or c.module),
                _service(head_platform, c.module),
            )
            for c in changes
        ]
        pr = PullRequest(
            policy=policy,
            base=base_platform.inventory,
            head=head_platform.inventory,
            changes=changes,
            touched=touched,
            packets=packets,
            merged_packet_ids=merged,
            head_relaxations=head_own.relaxations,
            secret_findings=_secret_findings(git.added_lines(base_rev, head_rev)),
            doc_findings=doc_findings,
            hazard_findings=find_hazards(bumps, hazard_catalogue()),
            trust_changes=trust_changes(base_platform.loaded_policy, head_own, touched),
            policy_file=base_platform.loaded_policy.file or POLICY_FILE,
        )
    finally:
        _close(base_tree, head_tree)
    return pr, Sides(base_rev, head_rev, base_platform, head_platform)


def _secret_findings(added: AddedText) -> list[Finding]:
    findings = scan_secrets(added.lines)
    if added.unscanned is not None:  # fail closed: what was not read may hold a secret
        findings.append(
            Finding(
                "secret-value",
                added.unscanned.path,
                added.unscanned.line,
                f"the diff adds more than {MAX_ADDED_LINES} lines or {MAX_ADDED_BYTES} bytes "
                "of text; from here on it was not scanned for secrets (split the change, or "
                "escalate)",
            )
        )
    return findings


def _head_files(
    base: Policy, head: Policy, files: Sequence[str] | None, tree: GitTree
) -> list[str] | None:
    """The compose files read on the head side: ``-f`` as given; else every file either
    side's policy lists (a PR cannot hide a file by dropping it from its own list); else,
    when either side discovers its files, discovery."""
    if files is not None:
        return _present(tree, files)
    if not base.compose.files or not head.compose.files:
        return None
    listed = list(dict.fromkeys([*base.compose.files, *head.compose.files]))
    return [f for f in listed if tree.is_file(f)]


def _service(platform: Platform, module_id: str) -> Service | None:
    module = platform.modules.get(module_id)
    return module.service if module is not None else None


def _compose_relevant(path: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith((".yml", ".yaml", ".env")) or name in (".env", "Dockerfile")


def _present(tree: GitTree, files: Sequence[str] | None) -> list[str] | None:
    return None if files is None else [f for f in files if tree.is_file(f)]


def _check_files(files: Sequence[str] | None, *trees: GitTree) -> None:
    """A ``-f`` path outside the repo, or on neither side, is an error naming it
    (not an empty project that would make the PR look repo-only)."""
    for rel in files or ():
        clean_rel(rel, shown=rel)
        if not any(tree.is_file(rel) for tree in trees):
            raise InputError("compose file not found at the base or the head revision", file=rel)


def _close(*trees: GitTree) -> None:
    for tree in trees:
        tree.close()
