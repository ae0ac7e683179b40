"""What publishing a verdict changes on the forge, decided from the current state alone.

Pure: no I/O. The comment is found by a hidden marker in a comment the token's own user
wrote (anyone can type the marker; only our comments are edited or deleted), so one PR
carries one stategate comment however often CI runs; labels under the prefixes stategate owns converge on the
verdict's, and every other label is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from stategate.forge.document import VerdictDocument
from stategate.report.verdict import markdown_from_json

MARKER = "<!-- stategate:verdict -->"
STATUS_CONTEXT = "stategate"
OWNED_PREFIXES = ("merge/", "risk/", "class/")
STATUS_DESCRIPTION_MAX = 140  # GitHub refuses longer commit status descriptions

_STATE = {
    "pass": "success",
    "approved": "success",
    "ready_for_operator": "pending",
    "blocked": "failure",
    "stop": "failure",
}

_COLOUR = {  # hex without '#'; the dialect adds what its forge wants
    "merge/auto": "0e8a16",
    "merge/": "d93f0b",
    "risk/": "b60205",
    "class/": "5319e7",
}
_OTHER_COLOUR = "bfd4f2"


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str = ""


@dataclass(frozen=True)
class Label:
    name: str
    id: int | None = None  # Gitea/Forgejo remove a label from an issue by its id


@dataclass(frozen=True)
class ForgeState:
    me: str = ""  # the login the token acts as: our comments are the ones it wrote
    comments: tuple[Comment, ...] = ()
    pr_labels: tuple[Label, ...] = ()
    repo_labels: tuple[Label, ...] = ()


@dataclass(frozen=True)
class NewLabel:
    name: str
    color: str
    description: str


@dataclass(frozen=True)
class Status:
    sha: str
    state: str
    description: str
    context: str = STATUS_CONTEXT
    target_url: str | None = None


@dataclass(frozen=True)
class Plan:
    comment_body: str
    update_comment: int | None  # our newest comment, updated in place; None: create one
    comment_unchanged: bool  # it already says exactly this: no write
    delete_comments: tuple[int, ...]  # older duplicates of ours (an earlier bug, a race)
    create_labels: tuple[NewLabel, ...]  # missing from the repository
    add_labels: tuple[str, ...]
    remove_labels: tuple[Label, ...]
    status: Status


def owned(label: str) -> bool:
    return label.casefold().startswith(OWNED_PREFIXES)


def colour(label: str) -> str:
    if label in _COLOUR:
        return _COLOUR[label]
    return next(
        (c for p, c in _COLOUR.items() if p.endswith("/") and label.startswith(p)), _OTHER_COLOUR
    )


def comment_body(verdict: VerdictDocument) -> str:
    return f"{MARKER}\n{markdown_from_json(verdict.raw)}"


def status_description(verdict: VerdictDocument) -> str:
    kind = verdict.verdict
    if kind == "stop":
        first = verdict.stops[0] if verdict.stops else None
        more = f" (+{len(verdict.stops) - 1} more)" if len(verdict.stops) > 1 else ""
        reason = f"{first.condition}{more}" if first else "escalate to the operator"
    elif kind == "blocked":
        n = len(verdict.missing)
        first_missing = verdict.missing[0] if verdict.missing else None
        reason = f"{n} requirement{'s' if n != 1 else ''} missing" + (
            f", first {first_missing.id}" if first_missing else ""
        )
    elif kind == "ready_for_operator":
        reason = "merge requirements met; apply needs operator approval"
    elif kind == "approved":
        reason = "runtime apply authorised"
    else:
        reason = "nothing gated"
    text = f"{kind}: {reason}"
    if len(text) > STATUS_DESCRIPTION_MAX:
        text = text[: STATUS_DESCRIPTION_MAX - 1] + "…"
    return text


def plan(
    verdict: VerdictDocument, state: ForgeState, sha: str, target_url: str | None = None
) -> Plan:
    body = comment_body(verdict)
    me = state.me.casefold()
    ours = sorted(
        (c for c in state.comments if MARKER in c.body and me and c.author.casefold() == me),
        key=lambda c: c.id,
    )
    newest = ours[-1] if ours else None
    wanted = list(dict.fromkeys(verdict.labels))
    on_pr = {label.name.casefold() for label in state.pr_labels}
    in_repo = {label.name.casefold() for label in state.repo_labels}
    wanted_folded = {name.casefold() for name in wanted}
    add = tuple(name for name in wanted if name.casefold() not in on_pr)
    return Plan(
        comment_body=body,
        update_comment=newest.id if newest else None,
        comment_unchanged=newest is not None and newest.body == body,
        delete_comments=tuple(c.id for c in ours[:-1]),
        create_labels=tuple(
            NewLabel(name, colour(name), "set by stategate")
            for name in add
            if name.casefold() not in in_repo
        ),
        add_labels=add,
        remove_labels=tuple(
            label
            for label in state.pr_labels
            if owned(label.name) and label.name.casefold() not in wanted_folded
        ),
        status=Status(
            sha, _STATE[verdict.verdict], status_description(verdict), target_url=target_url
        ),
    )
