"""The two REST dialects publish speaks: GitHub, and Gitea (whose API Forgejo keeps).

Each turns reads into a :class:`~stategate.forge.plan.ForgeState` and a plan into the
write requests, as data, so a dry run prints exactly what a real run would send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from stategate.forge.http import Client, ForgeError, Request
from stategate.forge.plan import Comment, ForgeState, Label, Plan

ISSUES_WRITE = {
    "github": "the 'issues: write' and 'pull-requests: write' permissions",
    "gitea": "the 'write:issue' scope (and write access to the repository)",
}
STATUSES_WRITE = {
    "github": "the 'statuses: write' permission",
    "gitea": "the 'write:repository' scope (and write access to the repository)",
}


@dataclass(frozen=True)
class Target:
    owner: str
    name: str
    pr: int

    @property
    def repo(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.name, safe='')}"


class Dialect(Protocol):
    family: str  # "github" or "gitea": the permission vocabulary
    auth_scheme: str
    headers: dict[str, str]

    def read_state(self, client: Client, target: Target, me: str) -> ForgeState: ...

    def writes(self, plan: Plan, target: Target) -> list[Request]: ...


def _items(data: list[Any], what: str) -> list[dict[str, Any]]:
    if not all(isinstance(item, dict) for item in data):
        raise ForgeError(f"the forge's {what} list holds something that is not an object")
    return data


def _id(item: dict[str, Any], what: str) -> int:
    value = item.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ForgeError(f"the forge listed {what} without a numeric id")
    return value


def _comments(data: list[Any]) -> tuple[Comment, ...]:
    comments = []
    for c in _items(data, "comments"):
        body, user = c.get("body"), c.get("user")
        if not isinstance(body, str | None) or "body" not in c:
            raise ForgeError("the forge listed a comment without a text body")
        if not isinstance(user, dict) or not isinstance(user.get("login"), str):
            raise ForgeError("the forge listed a comment without a user login")
        comments.append(Comment(_id(c, "a comment"), body or "", user["login"]))
    return tuple(comments)


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


@dataclass(frozen=True)
class PullRequest:
    head: str  # the head commit's SHA, lower case
    open: bool  # False: closed or merged


def pull_request(client: Client, target: Target, permission: str) -> PullRequest:
    """The PR as it is now (the same path in both dialects' APIs)."""
    data = client.send(Request("GET", f"{target.repo}/pulls/{target.pr}", None, permission)).data
    head = data.get("head") if isinstance(data, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(sha, str) or not sha:
        raise ForgeError(f"the forge described PR #{target.pr} without a head commit")
    assert isinstance(data, dict)
    is_open = data.get("state") == "open" and not data.get("merged")
    return PullRequest(sha.lower(), is_open)


def whoami(client: Client, author: str | None, ci_user: str | None) -> str:
    """The login whose comments are ours: --author, else the token's user, else the CI's
    (``ci_user`` is given only for GitHub Actions' own GITHUB_TOKEN)."""
    if author:
        return author
    response = client.get_optional("/user", "")
    if response is not None and _login(response.data):
        return _login(response.data)
    if ci_user:
        return ci_user
    raise ForgeError(
        "cannot tell which user the token acts as (GET /user refused, as for an app's "
        "token), so cannot tell stategate's comments from others': pass --author LOGIN"
    )


def _labels(data: list[Any]) -> tuple[Label, ...]:
    labels = []
    for label in _items(data, "labels"):
        name = label.get("name")
        if not isinstance(name, str) or not name:
            raise ForgeError("the forge listed a label without a name")
        labels.append(Label(name, _id(label, f"label {name!r}") if "id" in label else None))
    return tuple(labels)


def _comment_writes(plan: Plan, target: Target, need: str) -> list[Request]:
    writes: list[Request] = []
    if not plan.write_comment:
        return writes
    body = {"body": plan.comment_body}
    if plan.update_comment is None:
        writes.append(Request("POST", f"{target.repo}/issues/{target.pr}/comments", body, need))
    elif not plan.comment_unchanged:
        writes.append(
            Request("PATCH", f"{target.repo}/issues/comments/{plan.update_comment}", body, need)
        )
    writes.extend(
        Request("DELETE", f"{target.repo}/issues/comments/{comment}", None, need)
        for comment in plan.delete_comments
    )
    return writes


def _status_body(plan: Plan) -> dict[str, Any]:
    status = plan.status
    body: dict[str, Any] = {
        "state": status.state,
        "description": status.description,
        "context": status.context,
    }
    if status.target_url:
        body["target_url"] = status.target_url
    return body


def _writes(
    family: str,
    plan: Plan,
    target: Target,
    *,
    colour: Callable[[str], str],
    remove: Callable[[Label], str],
) -> list[Request]:
    """The plan's writes, in order: labels created, added, removed; the comment; the
    status. ``colour`` and ``remove`` are where the dialects differ (a label's colour,
    the path segment naming a label to take off the PR)."""
    need = ISSUES_WRITE[family]
    issue = f"{target.repo}/issues/{target.pr}"
    writes = [
        Request(
            "POST",
            f"{target.repo}/labels",
            {"name": new.name, "color": colour(new.color), "description": new.description},
            need,
        )
        for new in plan.create_labels
    ]
    if plan.add_labels:
        writes.append(Request("POST", f"{issue}/labels", {"labels": list(plan.add_labels)}, need))
    writes.extend(
        Request("DELETE", f"{issue}/labels/{remove(label)}", None, need)
        for label in plan.remove_labels
    )
    writes.extend(_comment_writes(plan, target, need))
    writes.append(
        Request(
            "POST",
            f"{target.repo}/statuses/{plan.status.sha}",
            _status_body(plan),
            STATUSES_WRITE[family],
        )
    )
    return writes


class GitHub:
    family = "github"
    auth_scheme = "Bearer"
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    page = "per_page=100"

    def read_state(self, client: Client, target: Target, me: str) -> ForgeState:
        need = ISSUES_WRITE[self.family]
        issue = f"{target.repo}/issues/{target.pr}"
        return ForgeState(
            me=me,
            comments=_comments(client.get_all(f"{issue}/comments?{self.page}", need)),
            pr_labels=_labels(client.get_all(f"{issue}/labels?{self.page}", need)),
            repo_labels=_labels(client.get_all(f"{target.repo}/labels?{self.page}", need)),
        )

    def writes(self, plan: Plan, target: Target) -> list[Request]:
        def remove(label: Label) -> str:
            return quote(label.name, safe="")

        return _writes(self.family, plan, target, colour=lambda c: c, remove=remove)


class Gitea:
    """Gitea's API, and Forgejo's, which keeps these endpoints as Gitea defines them."""

    family = "gitea"
    auth_scheme = "token"
    headers = {"Accept": "application/json"}

    def read_state(self, client: Client, target: Target, me: str) -> ForgeState:
        need = ISSUES_WRITE[self.family]
        issue = f"{target.repo}/issues/{target.pr}"
        # the issue's comments and labels come whole (no paging parameters in Gitea's API);
        # the repository's labels come in pages of at most 50
        return ForgeState(
            me=me,
            comments=_comments(client.get_all(f"{issue}/comments", need)),
            pr_labels=_labels(client.get_all(f"{issue}/labels", need)),
            repo_labels=_labels(client.get_all(f"{target.repo}/labels?limit=50", need)),
        )

    def writes(self, plan: Plan, target: Target) -> list[Request]:
        # label names are accepted when adding since Gitea 1.19 (and by Forgejo);
        # removing one takes its id
        def remove(label: Label) -> str:
            if label.id is None:
                raise ForgeError(f"the forge listed label {label.name!r} without an id")
            return str(label.id)

        return _writes(self.family, plan, target, colour=lambda c: f"#{c}", remove=remove)


DIALECTS: dict[str, Dialect] = {"github": GitHub(), "gitea": Gitea(), "forgejo": Gitea()}
