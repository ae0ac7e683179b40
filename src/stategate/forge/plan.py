"""What publishing a verdict changes on the forge, decided from the current state alone.

Pure: no I/O. The comment is found by the hidden marker it starts with, in a comment the
token's own user wrote (anyone can type the marker; only our comments are edited or
deleted), so one PR carries one stategate comment per stage however often CI runs. The
merge stage's labels under the prefixes stategate owns converge on the verdict's, and every
other label is left alone; the apply stage has its own comment and status and sets no label.
"""

from __future__ import annotations

from dataclasses import dataclass

from stategate.forge.document import OWNED_PREFIXES, VerdictDocument, ascii_lower, owned
from stategate.report.verdict import markdown_from_json

MARKERS = {"merge": "<!-- stategate:verdict -->", "apply": "<!-- stategate:verdict:apply -->"}
MARKER = MARKERS["merge"]
CONTEXTS = {"merge": "stategate", "apply": "stategate/apply"}
STATUS_CONTEXT = CONTEXTS["merge"]
__all__ = ["OWNED_PREFIXES", "owned"]
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
    write_comment: bool = True  # False: the status only (a stale run, a closed PR)
    skipped: str = ""  # why the comment and labels were left alone


def ours(comment: Comment, stage: str, me: str) -> bool:
    """Our comment for this stage: our user wrote it and it starts with the stage's marker
    (a marker quoted further down, or another stage's, is not ours)."""
    return (
        bool(me)
        and comment.author.casefold() == me.casefold()
        and comment.body.startswith(MARKERS[stage] + "\n")
    )


def colour(label: str) -> str:
    if label in _COLOUR:
        return _COLOUR[label]
    return next(
        (c for p, c in _COLOUR.items() if p.endswith("/") and label.startswith(p)), _OTHER_COLOUR
    )


def comment_body(verdict: VerdictDocument) -> str:
    return f"{MARKERS[verdict.stage]}\n{markdown_from_json(verdict.raw)}"


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
    verdict: VerdictDocument,
    state: ForgeState,
    sha: str,
    target_url: str | None = None,
    *,
    skip: str = "",
) -> Plan:
    """What to write. ``skip`` (a reason) leaves the comment and labels alone: the status
    on ``sha`` is still set."""
    body = comment_body(verdict)
    status = Status(
        sha,
        _STATE[verdict.verdict],
        status_description(verdict),
        context=CONTEXTS[verdict.stage],
        target_url=target_url,
    )
    if skip:
        return Plan(body, None, False, (), (), (), (), status, write_comment=False, skipped=skip)
    mine = sorted(
        (c for c in state.comments if ours(c, verdict.stage, state.me)), key=lambda c: c.id
    )
    newest = mine[-1] if mine else None
    comment = (newest.id if newest else None, newest is not None and newest.body == body)
    if verdict.stage != "merge":  # labels are the merge stage's
        return Plan(body, *comment, tuple(c.id for c in mine[:-1]), (), (), (), status)
    wanted = list(verdict.labels)
    on_pr = {ascii_lower(label.name) for label in state.pr_labels}
    in_repo = {ascii_lower(label.name) for label in state.repo_labels}
    wanted_lower = {ascii_lower(name) for name in wanted}
    add = tuple(name for name in wanted if ascii_lower(name) not in on_pr)
    return Plan(
        comment_body=body,
        update_comment=comment[0],
        comment_unchanged=comment[1],
        delete_comments=tuple(c.id for c in mine[:-1]),
        create_labels=tuple(
            NewLabel(name, colour(name), "set by stategate")
            for name in add
            if ascii_lower(name) not in in_repo
        ),
        add_labels=add,
        remove_labels=tuple(
            label
            for label in state.pr_labels
            if owned(label.name) and ascii_lower(label.name) not in wanted_lower
        ),
        status=status,
    )
