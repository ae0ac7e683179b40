"""The pure side of publish: reading the verdict file, rendering, planning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stategate.diff.changes import ChangeKind
from stategate.errors import InputError
from stategate.forge.document import parse_verdict, read_verdict
from stategate.forge.plan import (
    MARKER,
    Comment,
    ForgeState,
    Label,
    colour,
    owned,
    plan,
    status_description,
)
from stategate.policy.gate import Finding, ModuleChange, Requirement, Stop, Verdict, VerdictKind
from stategate.policy.schema import StopCondition
from stategate.report.verdict import markdown_from_json, verdict_json, verdict_markdown

SHA = "ab" * 20

# what `check --format markdown` printed for this verdict before the renderer moved onto
# the JSON contract; publish renders the same bytes from the JSON file
GOLDEN = "### stategate: ⛔ `blocked` (merge stage)\n\n**Stop conditions** (escalate to the operator):\n\n- `floating-tag`: floating tag (`compose/pg.yml:4`)\n- `secret-value`: secret (`a.yml`)\n- `digest-drift`: drift\n\n| module | change | from | to | semver |\n|---|---|---|---|---|\n| `platform/postgres` | image-repo (image, environment.X) | `postgres:16.4@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` | `postgres:16.6` | minor |\n| `app` | config | `-` | `-` | - |\n\n**Missing** (what would satisfy each):\n\n- [ ] `merge/backup` platform/postgres: take a backup\n\n<details><summary>Met requirements</summary>\n\n- [x] `merge/packet` \n- [x] `merge/x` m\n\n</details>\n\n**Findings:**\n\n- `doc-ungated` `docs/run.md:1`: ungated | pipe\n\nLabels: `merge/manual-x`, `risk/runtime`\n"


def rich_verdict() -> Verdict:
    changes = [
        ModuleChange(
            "platform/postgres",
            "postgres",
            "compose/pg.yml",
            3,
            ChangeKind.IMAGE_REPO,
            "postgres:16.4@sha256:" + "a" * 64,
            "postgres:16.6",
            "minor",
            ("image", "environment.X"),
        ),
        ModuleChange("app", "web", "compose/app.yml", 1, ChangeKind.CONFIG, None, None, None),
    ]
    requirements = [
        Requirement("merge/backup", "platform/postgres", "stateful", "missing", "take a backup"),
        Requirement("merge/packet", None, None, "met", "x"),
        Requirement("merge/x", "m", "c", "met", "h"),
    ]
    stops = [
        Stop(StopCondition.FLOATING_TAG, "floating tag", "platform/postgres", "compose/pg.yml", 4),
        Stop(StopCondition.SECRET_VALUE, "secret", None, "a.yml", None),
        Stop(StopCondition.DIGEST_DRIFT, "drift"),
    ]
    findings = [Finding("doc-ungated", "docs/run.md", 1, "ungated | pipe")]
    labels = ["merge/manual-x", "risk/runtime"]
    return Verdict(
        VerdictKind.BLOCKED, "merge", changes, requirements, stops, findings, labels, ["a"]
    )


def test_markdown_from_the_json_file_is_byte_identical() -> None:
    v = rich_verdict()
    assert verdict_markdown(v) == GOLDEN
    # through a file and back, as publish reads it
    doc = json.loads(json.dumps(verdict_json(v, ("1" * 40, "2" * 40))))
    assert markdown_from_json(doc) == GOLDEN
    assert parse_verdict(doc, "v.json").head == "2" * 40


def doc(verdict: str = "blocked", labels: tuple[str, ...] = ()) -> dict[str, object]:
    d = verdict_json(rich_verdict(), ("1" * 40, "2" * 40))
    d["verdict"] = verdict
    d["labels"] = list(labels)
    return d


def test_plan_on_an_empty_pr() -> None:
    v = parse_verdict(doc("blocked", ("merge/manual-x", "risk/runtime")), "v.json")
    p = plan(v, ForgeState(), SHA, "https://ci/run/1")
    assert p.update_comment is None and not p.comment_unchanged and p.delete_comments == ()
    assert p.comment_body.startswith(MARKER + "\n### stategate:")
    assert p.add_labels == ("merge/manual-x", "risk/runtime")
    assert [(n.name, n.color) for n in p.create_labels] == [
        ("merge/manual-x", "d93f0b"),
        ("risk/runtime", "b60205"),
    ]
    assert p.status.state == "failure" and p.status.target_url == "https://ci/run/1"
    assert p.status.context == "stategate" and p.status.sha == SHA


def test_plan_converges_only_owned_labels_case_insensitively() -> None:
    v = parse_verdict(doc("ready_for_operator", ("merge/manual-x", "class/auth")), "v.json")
    state = ForgeState(
        me="Bot",
        comments=(
            Comment(5, f"{MARKER}\nold", "bot"),
            Comment(9, "not ours", "bot"),
            Comment(7, f"x {MARKER}", "bot"),
            Comment(11, f"{MARKER}\nforged", "mallory"),
        ),
        pr_labels=(Label("Merge/Manual-X", 1), Label("risk/runtime", 2), Label("bug", 3)),
        repo_labels=(Label("CLASS/AUTH", 4),),
    )
    p = plan(v, state, SHA)
    assert p.update_comment == 7 and p.delete_comments == (5,)
    assert p.add_labels == ("class/auth",)
    assert p.create_labels == ()  # the repository has it, in another case
    assert p.remove_labels == (Label("risk/runtime", 2),)  # never "bug"
    assert p.status.state == "pending"


def test_an_identical_comment_is_left_alone() -> None:
    v = parse_verdict(doc("pass"), "v.json")
    body = plan(v, ForgeState(), SHA).comment_body
    p = plan(v, ForgeState(me="bot", comments=(Comment(3, body, "bot"),)), SHA)
    assert p.update_comment == 3 and p.comment_unchanged
    # the same body by someone else is not ours, and without knowing who we are nothing is
    assert (
        plan(v, ForgeState(me="bot", comments=(Comment(3, body, "eve"),)), SHA).update_comment
        is None
    )
    assert plan(v, ForgeState(comments=(Comment(3, body, ""),)), SHA).update_comment is None


@pytest.mark.parametrize(
    ("verdict", "state"),
    [
        ("pass", "success"),
        ("approved", "success"),
        ("ready_for_operator", "pending"),
        ("blocked", "failure"),
        ("stop", "failure"),
    ],
)
def test_status_state_per_verdict(verdict: str, state: str) -> None:
    v = parse_verdict(doc(verdict), "v.json")
    p = plan(v, ForgeState(), SHA)
    assert p.status.state == state
    assert p.status.description.startswith(f"{verdict}: ")


def test_status_description_is_short() -> None:
    d = doc("stop")
    assert status_description(parse_verdict(d, "v.json")) == "stop: floating-tag (+2 more)"
    d["stops"][0]["condition"] = "x" * 300  # type: ignore[index]
    text = status_description(parse_verdict(d, "v.json"))
    assert len(text) == 140 and text.endswith("…")


def test_owned_prefixes_and_colours() -> None:
    assert owned("merge/auto") and owned("Risk/exposure") and owned("class/auth")
    assert not owned("bug") and not owned("merged") and not owned("riskless/x")
    assert colour("merge/auto") == "0e8a16" and colour("merge/manual-x") == "d93f0b"
    assert colour("class/x") == "5319e7" and colour("team/x") == "bfd4f2"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", "not a stategate.verdict/v1 document"),
        ('{"schema": "stategate.verdict/v2"}', "not a stategate.verdict/v1 document"),
        ('{"schema": "stategate.verdict/v1", "verdict": "maybe"}', "verdict: Input should be"),
        ("{nope", "not JSON"),
        (json.dumps(doc("pass", ("",))), "labels.0: String should have at least 1 character"),
    ],
)
def test_a_file_that_is_not_a_verdict(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "v.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_verdict(path)
    assert problem in str(caught.value) and str(caught.value).startswith(str(path))


def test_a_missing_verdict_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="verdict file not found"):
        read_verdict(tmp_path / "nope.json")
    with pytest.raises(InputError, match="is a directory"):
        read_verdict(tmp_path)
