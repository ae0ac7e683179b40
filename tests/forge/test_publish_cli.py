"""``stategate publish`` end to end: the CLI as a subprocess against a fake forge that
validates every request against the forge's own API description."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.forge.conftest import HEAD, TOKEN, clean_env, publish, verdict_doc, write_verdict
from tests.forge.server import FakeForge, Fault
from tests.gitrepo import platform_repo

pytestmark = pytest.mark.integration  # a real HTTP server on loopback

MARKER = "<!-- stategate:verdict -->"
BLOCKED = ("merge/manual-stateful", "risk/runtime")


def ours(forge: FakeForge) -> list[dict[str, object]]:
    return [c for c in forge.comments if MARKER in str(c["body"])]


def test_first_publish_creates_comment_labels_and_status(forge: FakeForge, tmp_path: Path) -> None:
    forge.add_comment("looks good to me")
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    (comment,) = ours(forge)
    assert "`blocked`" in str(comment["body"]) and "merge/backup" in str(comment["body"])
    assert forge.label_names() == sorted(BLOCKED)
    assert {label["name"] for label in forge.repo_labels} == set(BLOCKED)
    (status,) = forge.statuses
    assert status["sha"] == HEAD and status["context"] == "stategate"
    assert status["state"] == "failure"
    assert str(status["description"]).startswith("blocked: 1 requirement missing")
    # the token went to the forge, and only in the Authorization header
    assert all(TOKEN in s.authorization for s in forge.seen)
    assert "comment: created" in proc.stdout


def test_second_publish_changes_nothing(forge: FakeForge, tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    assert publish(forge, forge.dialect, verdict).returncode == 0
    before = len(forge.seen)
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    assert len(ours(forge)) == 1
    # no comment edit, no label churn: the only write is the status, set again
    again = forge.writes()[-1:]
    assert (
        [(s.method, s.operation) for s in forge.seen[before:] if s.method != "GET"]
        == [("POST", "/repos/{owner}/{repo}/statuses/{sha}")]
        == [(s.method, s.operation) for s in again]
    )
    assert forge.label_names() == sorted(BLOCKED)
    assert "comment: unchanged" in proc.stdout and "labels: unchanged" in proc.stdout


def test_changed_verdict_updates_in_place_and_converges_labels(
    forge: FakeForge, tmp_path: Path
) -> None:
    bug = forge.add_repo_label("bug")
    exposure = forge.add_repo_label("risk/exposure")
    forge.add_repo_label("merge/auto")
    forge.pr_labels += [bug["id"], exposure["id"]]
    first = write_verdict(tmp_path / "1.json", verdict_doc("blocked", BLOCKED))
    assert publish(forge, forge.dialect, first).returncode == 0
    (comment,) = ours(forge)
    # stale owned label removed at once; the foreign one stays
    assert forge.label_names() == sorted(["bug", *BLOCKED])

    second = write_verdict(
        tmp_path / "2.json",
        verdict_doc("ready_for_operator", ("merge/manual-stateful", "class/security-sensitive")),
    )
    proc = publish(forge, forge.dialect, second)
    assert proc.returncode == 0, proc.stderr
    (updated,) = ours(forge)
    assert updated["id"] == comment["id"]  # edited in place
    assert "`ready_for_operator`" in str(updated["body"])
    assert forge.label_names() == ["bug", "class/security-sensitive", "merge/manual-stateful"]
    assert "class/security-sensitive" in {label["name"] for label in forge.repo_labels}
    assert [s["state"] for s in forge.statuses] == ["failure", "pending"]

    third = write_verdict(tmp_path / "3.json", verdict_doc("pass", ("merge/auto",)))
    assert publish(forge, forge.dialect, third).returncode == 0
    assert forge.label_names() == ["bug", "merge/auto"]  # existing repo label reused
    assert forge.statuses[-1]["state"] == "success"
    assert len(ours(forge)) == 1


def test_lists_are_followed_across_pages(forge: FakeForge, tmp_path: Path) -> None:
    assert forge.page_size == 2
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    for n in range(5):
        forge.add_comment(f"comment {n}")
    for n in range(5):
        forge.add_repo_label(f"area/{n}")
    forge.add_repo_label("risk/runtime")  # on the last page of the repository's labels
    assert publish(forge, forge.dialect, verdict).returncode == 0
    for n in range(2):
        forge.add_comment(f"later {n}")  # our comment now sits on page 3 of 4
    labels = [forge.add_repo_label(f"team/{n}") for n in range(3)]
    forge.pr_labels += [label["id"] for label in labels]  # PR labels span pages too
    proc = publish(
        forge, forge.dialect, write_verdict(tmp_path / "w.json", verdict_doc("stop", BLOCKED))
    )
    assert proc.returncode == 0, proc.stderr
    assert len(ours(forge)) == 1 and "`stop`" in str(ours(forge)[0]["body"])
    assert forge.label_names() == sorted([*BLOCKED, "team/0", "team/1", "team/2"])
    # no label was created twice (the server answers 422 to that)
    assert sorted(label["name"] for label in forge.repo_labels).count("risk/runtime") == 1
    pages = {s.query.get("page", ["1"])[0] for s in forge.seen if s.operation.endswith("/labels")}
    assert {"2", "3", "4"} <= pages
    if forge.dialect == "github":  # Gitea lists an issue's comments whole
        comment_pages = {
            s.query.get("page", ["1"])[0]
            for s in forge.seen
            if s.method == "GET" and s.operation.endswith("/comments")
        }
        assert {"2", "3", "4"} <= comment_pages


def test_duplicates_from_an_older_run_are_folded(forge: FakeForge, tmp_path: Path) -> None:
    old = forge.add_comment(f"{MARKER}\nold verdict", user="stategate-bot")
    newer = forge.add_comment(f"{MARKER}\nnewer verdict", user="stategate-bot")
    forged = forge.add_comment(f"{MARKER}\nverdict: pass (honest)", user="mallory")
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    kept = [c for c in ours(forge) if c["user"] == {"login": "stategate-bot"}]
    assert [c["id"] for c in kept] == [newer["id"]] and old not in forge.comments
    assert "deleted 1 older duplicate" in proc.stdout
    # anyone can type the marker: a comment by someone else is neither edited nor deleted
    assert forged in forge.comments and forged["body"] == f"{MARKER}\nverdict: pass (honest)"


def test_a_token_that_may_not_ask_who_it_is(forge: FakeForge, tmp_path: Path) -> None:
    forge.whoami_forbidden = True
    forge.login = "github-actions[bot]" if forge.dialect == "github" else "ci-bot"
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 2 and "pass --author LOGIN" in proc.stderr
    assert forge.writes() == []
    if forge.dialect == "github":  # GitHub Actions' own token acts as github-actions[bot]
        env = {"GITHUB_ACTIONS": "true"}
        # ... but any other token in Actions (a PAT, an app's) may act as anyone
        proc = publish(forge, forge.dialect, verdict, env=env)
        assert proc.returncode == 2 and "pass --author LOGIN" in proc.stderr
        assert forge.writes() == []
        env["GITHUB_TOKEN"] = TOKEN
        for _ in range(2):
            assert publish(forge, forge.dialect, verdict, env=env, token=None).returncode == 0
    else:
        for _ in range(2):
            assert publish(forge, forge.dialect, verdict, "--author", "ci-bot").returncode == 0
    assert len(ours(forge)) == 1


def test_dry_run_sends_no_write_and_prints_no_token(forge: FakeForge, tmp_path: Path) -> None:
    forge.add_repo_label("risk/runtime")
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert forge.writes() == [] and forge.seen  # it read the state with the token
    assert "POST /repos/acme/platform/issues/7/comments" in proc.stdout
    assert f"/statuses/{HEAD}" in proc.stdout
    assert '"name": "merge/manual-stateful"' in proc.stdout
    assert '"name": "risk/runtime"' not in proc.stdout  # exists already: not created
    seen = len(forge.seen)
    without = publish(forge, forge.dialect, verdict, "--dry-run", token=None)
    assert without.returncode == 0, without.stderr
    assert len(forge.seen) == seen  # no token: not even a read
    assert "no token set" in without.stdout and "POST" in without.stdout
    assert forge.comments == [] and forge.statuses == []


def test_token_rejected(forge: FakeForge, tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict, token=TOKEN[::-1])
    assert proc.returncode == 2
    assert TOKEN[::-1] not in proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "HTTP 401: the forge rejected the token" in proc.stderr


def test_token_without_permission(forge: FakeForge, tmp_path: Path) -> None:
    forge.forbidden = {"statuses"}
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "HTTP 403: the token lacks permission" in line
    assert ("statuses: write" if forge.dialect == "github" else "write:repository") in line
    forge.forbidden = {"comments", "labels"}
    changed = write_verdict(tmp_path / "w.json", verdict_doc("stop", ("risk/process",)))
    proc = publish(forge, forge.dialect, changed)
    assert proc.returncode == 2
    assert ("issues: write" if forge.dialect == "github" else "write:issue") in proc.stderr


def test_repo_not_found(forge: FakeForge, tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict, repo="someone-else/platform")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "HTTP 404: repository someone-else/platform or PR #7 not found" in line


def test_api_url_from_the_ci_environment(forge: FakeForge, tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("pass", ("merge/auto",)))
    if forge.dialect == "github":
        env = {"GITHUB_API_URL": forge.url}
    else:  # the server's root URL, as Gitea and Forgejo runners set it; the API is under /api/v1
        variable = "FORGEJO_SERVER_URL" if forge.dialect == "forgejo" else "GITEA_SERVER_URL"
        env = {variable: forge.url.removesuffix("/api/v1")}
    proc = publish(forge, forge.dialect, verdict, api_url=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert forge.statuses[-1]["state"] == "success"
    none = publish(forge, forge.dialect, verdict, api_url=False)
    assert none.returncode == 2 and "no forge API URL" in none.stderr


def test_not_a_verdict_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "sarif.json"
    bad.write_text('{"version": "2.1.0", "runs": []}', encoding="utf-8")
    proc = publish(None, "github", bad, "--repo", "a/b", "--pr", "1", "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"stategate: error: {bad}: not a stategate.verdict/v1 document "
        "(write one with `stategate check --format json -o FILE`)"
    )
    broken = write_verdict(tmp_path / "broken.json", verdict_doc(verdict="maybe"))
    proc = publish(None, "github", broken, "--repo", "a/b", "--pr", "1", "--dry-run")
    assert (
        proc.returncode == 2
        and f"{broken}: not a valid" in proc.stderr
        and "verdict" in proc.stderr
    )


def test_check_then_publish_on_a_real_repository(forge: FakeForge, tmp_path: Path) -> None:
    """The two CI steps: `check` writes the verdict (with the commits it judged), `publish`
    posts it; the status lands on the PR's head commit."""
    repo = platform_repo(tmp_path / "p")
    repo.replace("compose/postgres.yml", "postgres:16.4-alpine@", "postgres:16.6-alpine@")
    repo.commit("postgres 16.6")
    head = repo.git("rev-parse", "HEAD").strip()
    verdict = tmp_path / "verdict.json"
    judge = [sys.executable, "-m", "stategate", "check", "--repo", str(repo.path), "--base", "main"]
    check = subprocess.run(
        [*judge, "--format", "json", "-o", str(verdict)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert check.returncode in (1, 3), check.stderr
    doc = json.loads(verdict.read_text(encoding="utf-8"))
    assert doc["revisions"]["head"] == head
    forge.pr_head = head
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    (status,) = forge.statuses
    assert status["sha"] == head and status["state"] == "failure"
    assert forge.label_names() == sorted(doc["labels"]) and doc["labels"]
    (comment,) = ours(forge)
    markdown = subprocess.run(
        [*judge, "--format", "markdown"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    ).stdout
    assert comment["body"] == f"{MARKER}\n{markdown}"  # the same bytes check prints


def test_a_token_with_a_line_break_is_refused_unprinted(tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    with FakeForge("github", TOKEN) as forge:
        proc = publish(forge, "github", verdict, token=f"{TOKEN}\nX-Evil: 1")
        assert proc.returncode == 2
        assert proc.stderr.strip() == (
            "stategate: error: $STATEGATE_FORGE_TOKEN: the token holds spaces or control characters"
        )
        assert forge.seen == []


APPLY_MARKER = "<!-- stategate:verdict:apply -->"


def test_a_run_for_an_older_head_sets_the_status_only(forge: FakeForge, tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    assert publish(forge, forge.dialect, verdict).returncode == 0
    (comment,) = ours(forge)
    before = str(comment["body"])
    # a newer commit was pushed and its run published; this older run finishes late
    forge.pr_head = "4e" * 20
    stale = write_verdict(tmp_path / "old.json", verdict_doc("pass", ()))
    proc = publish(forge, forge.dialect, stale)
    assert proc.returncode == 0, proc.stderr
    assert "head is now 4e4e4e4e4e4e, not 3f3f3f3f3f3f" in proc.stderr
    assert [str(c["body"]) for c in ours(forge)] == [before]
    assert forge.label_names() == sorted(BLOCKED)
    assert [(s["sha"], s["state"]) for s in forge.statuses] == [
        (HEAD, "failure"),
        (HEAD, "success"),
    ]
    # --sha names the commit the run judged: the PR's head, so it publishes in full
    proc = publish(forge, forge.dialect, stale, "--sha", "4e" * 20)
    assert proc.returncode == 0 and "head is now" not in proc.stderr
    assert "`pass`" in str(ours(forge)[0]["body"]) and forge.label_names() == []


def test_a_closed_pr_keeps_its_comment_and_labels(forge: FakeForge, tmp_path: Path) -> None:
    forge.pr_state, forge.pr_merged = "closed", True
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    assert "closed or merged" in proc.stderr
    assert ours(forge) == [] and forge.label_names() == [] and len(forge.statuses) == 1


def test_apply_stage_publishes_apart_from_the_merge_stage(forge: FakeForge, tmp_path: Path) -> None:
    merge = write_verdict(tmp_path / "m.json", verdict_doc("blocked", BLOCKED))
    assert publish(forge, forge.dialect, merge).returncode == 0
    merge_comment = dict(ours(forge)[0])
    apply_doc = verdict_doc("blocked", ("risk/runtime",), stage="apply")
    applied = write_verdict(tmp_path / "a.json", apply_doc)
    for _ in range(2):
        proc = publish(forge, forge.dialect, applied)
        assert proc.returncode == 0, proc.stderr
    assert "labels: untouched" in proc.stdout
    apply_comments = [c for c in forge.comments if str(c["body"]).startswith(APPLY_MARKER)]
    assert len(apply_comments) == 1
    assert ours(forge) == [merge_comment]  # the merge comment is as it was
    assert forge.label_names() == sorted(BLOCKED)  # labels are the merge stage's
    contexts = [s["context"] for s in forge.statuses]
    assert contexts == ["stategate", "stategate/apply", "stategate/apply"]
    # a later merge-stage run leaves the apply comment alone
    passed = write_verdict(tmp_path / "p.json", verdict_doc("pass", ()))
    assert publish(forge, forge.dialect, passed).returncode == 0
    assert [c["id"] for c in forge.comments if str(c["body"]).startswith(APPLY_MARKER)] == [
        apply_comments[0]["id"]
    ]
    assert "`pass`" in str(ours(forge)[0]["body"]) and forge.label_names() == []


def test_a_marker_quoted_in_another_comment_is_not_ours(forge: FakeForge, tmp_path: Path) -> None:
    quoted = forge.add_comment(f"> {MARKER}\n> quoting the bot", user=forge.login)
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    assert publish(forge, forge.dialect, verdict).returncode == 0
    assert quoted in forge.comments and quoted["body"].startswith("> ")
    assert len([c for c in forge.comments if str(c["body"]).startswith(MARKER)]) == 1


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"body": "x", "user": {"login": "a"}}, "a comment without a numeric id"),
        ({"id": 5, "user": {"login": "a"}}, "a comment without a text body"),
        ({"id": 5, "body": "x"}, "a comment without a user login"),
        ({"id": "5", "body": "x", "user": {"login": "a"}}, "without a numeric id"),
    ],
)
def test_malformed_forge_items_are_one_line(
    forge: FakeForge, tmp_path: Path, item: dict[str, object], problem: str
) -> None:
    forge.comments.append(item)
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 2 and problem in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and forge.writes() == []
    forge.violations.clear()  # the malformed item was ours, not the client's


def test_server_messages_lose_control_characters(forge: FakeForge, tmp_path: Path) -> None:
    forge.faults.append(
        Fault(403, method="POST", message="no\x1b[2J\x1b]0;pwned\x07 way\r\nreally")
    )
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 2
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "\r" not in proc.stderr
    assert "forge said: no[2J]0;pwned way really" in proc.stderr


@pytest.mark.parametrize(
    ("url", "secret"),
    [("ftp://x:SECRET@host", "SECRET"), ("https://u:S3CR%2FT@[::1", "S3CR")],
)
def test_credentials_in_the_api_url_never_reach_the_terminal(
    tmp_path: Path, url: str, secret: str
) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    args = ("--repo", "acme/platform", "--pr", "7", "--api-url", url)
    proc = publish(None, "gitea", verdict, *args)
    assert proc.returncode == 2 and "credentials in the URL" in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_a_malformed_api_url_is_one_line(tmp_path: Path) -> None:
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    args = ("--repo", "acme/platform", "--pr", "7", "--api-url", "https://[::1")
    proc = publish(None, "gitea", verdict, *args)
    assert proc.returncode == 2 and "not a valid URL" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_verdicts_are_refused_before_any_request(forge: FakeForge, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    proc = publish(forge, forge.dialect, deep)
    assert proc.returncode == 2 and "nested too deeply" in proc.stderr and str(deep) in proc.stderr
    foreign = write_verdict(tmp_path / "f.json", verdict_doc("blocked", ("merge/x", "lgtm")))
    proc = publish(forge, forge.dialect, foreign)
    assert proc.returncode == 2 and "'lgtm' is not under" in proc.stderr
    assert str(foreign) in proc.stderr and forge.seen == []


def test_forge_label_names_reach_stdout_without_control_characters(
    forge: FakeForge, tmp_path: Path
) -> None:
    odd = forge.add_repo_label("risk/\x1b]0;pwned\x07x")
    forge.pr_labels.append(odd["id"])
    verdict = write_verdict(tmp_path / "v.json", verdict_doc("blocked", BLOCKED))
    proc = publish(forge, forge.dialect, verdict)
    assert proc.returncode == 0, proc.stderr
    assert "removed risk/]0;pwnedx" in proc.stdout and "\x1b" not in proc.stdout
    assert odd["id"] not in forge.pr_labels
