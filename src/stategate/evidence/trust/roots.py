"""Where trust roots come from: never from the thing being judged.

A verdict's trust inputs (the trust file, and the policy fields that locate it or
bound approvals) come from one of two places, in this order:

1. an **operator-held trust file** outside the repository, named by ``--trust`` or
   ``$STATEGATE_TRUST_FILE`` (a file inside the repository is refused: a checkout is
   what a pull request controls);
2. the **base revision's git objects**: the trust file at the path the base's own
   policy names, read from git, not from the work tree.

The pull request's head and the work tree are never consulted, so a PR cannot add
its own key, re-point the policy at a trust file of its own, or undo a revocation
(a key revoked on the base is revoked for every open branch at once). Like
``pull_request_target`` workflows and Sigstore's pinned roots: the trusted root is
handed to the verifier when it is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stategate.errors import InputError
from stategate.evidence.trust.trustfile import TrustRoots, load_trust, parse_trust
from stategate.git import Git
from stategate.policy.load import LoadedPolicy, load_policy
from stategate.yamlfile import decode_text, loads

TRUST_ENV = "STATEGATE_TRUST_FILE"


@dataclass(frozen=True)
class TrustBase:
    """The trust roots of one command, and the policy in force where they came from."""

    roots: TrustRoots
    policy: LoadedPolicy  # the base revision's policy (locations, approval lifetime)
    origin: str  # where the roots came from, for messages: "git <rev>:<path>" or a file


def operator_trust_file(
    repo: Path, given: Path | None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The operator-held trust file (``--trust`` or ``$STATEGATE_TRUST_FILE``), if any.

    Refused when it lies inside the repository (the PR controls the checkout) or is
    not a regular file.
    """
    env = os.environ if environ is None else environ
    chosen = given if given is not None else (Path(env[TRUST_ENV]) if env.get(TRUST_ENV) else None)
    if chosen is None:
        return None
    shown = str(chosen)
    path = chosen.expanduser()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError("operator trust file not found", file=shown) from None
    root = repo.resolve()
    if real == root or root in real.parents:
        raise InputError(
            "an operator-held trust file must live outside the repository "
            "(a pull request controls everything inside it)",
            file=shown,
        )
    if not real.is_file():
        raise InputError("operator trust file is not a regular file", file=shown)
    return real


def trust_at_revision(git: Git, rev: str, operator_file: Path | None = None) -> TrustBase:
    """Trust roots for judging anything against base revision ``rev``.

    The policy always comes from ``rev``; the roots from ``operator_file`` when given,
    else from the trust file at the path ``rev``'s policy names, in ``rev``'s git objects.
    """
    commit = git.rev_parse(rev)
    tree = git.tree(commit)
    try:
        policy = load_policy(tree)
        if operator_file is not None:
            shown = str(operator_file)
            return TrustBase(load_trust(operator_file, shown=shown), policy, shown)
        rel = policy.policy.evidence.trust_file
        shown = f"{rel}@{commit[:12]}"
        if not tree.is_file(rel):
            return TrustBase(TrustRoots((), shown), policy, f"git {commit[:12]}:{rel} (absent)")
        raw = loads(decode_text(tree.read_bytes(rel), shown), shown)
        return TrustBase(parse_trust(raw, shown=shown), policy, f"git {commit[:12]}:{rel}")
    finally:
        tree.close()


def trust_revision(git: Git, base: str | None) -> str:
    """The revision whose trust roots judge a pull request.

    An explicit ``--base`` is used as given. Otherwise the *tip* of the default branch,
    not the merge base: a key revoked on the default branch after a PR branched off
    must not still approve that PR.
    """
    if base:
        return git.rev_parse(base)
    branch = git.default_branch()
    if branch is None:
        raise InputError("no default branch found; pass --base REV", file=str(git.repo))
    return git.rev_parse(branch)
