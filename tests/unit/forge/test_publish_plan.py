"""The pure side of publish: reading the verdict file, rendering, planning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stategate.diff.changes import ChangeKind
from stategate.errors import InputError
from stategate.forge.dialects import Target, _labels, pull_request
from stategate.forge.document import parse_verdict, read_verdict
from stategate.forge.http import ForgeError, Response
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
            Comment(7, f"x {MARKER}", "bot"),  # quotes the marker: not ours
            Comment(8, f"{MARKER}\nnewer", "bot"),
            Comment(11, f"{MARKER}\nforged", "mallory"),
            Comment(12, "<!-- stategate:verdict:apply -->\napply", "bot"),  # the other stage's
        ),
        pr_labels=(Label("Merge/Manual-X", 1), Label("risk/runtime", 2), Label("bug", 3)),
        repo_labels=(Label("CLASS/AUTH", 4),),
    )
    p = plan(v, state, SHA)
    assert p.update_comment == 8 and p.delete_comments == (5,)
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


def hostile_doc(value: str) -> dict[str, object]:
    """Every free-text field of the verdict set to ``value``."""
    d = doc("blocked")
    for c in d["changes"]:  # type: ignore[attr-defined]
        c.update(module=value, kind=value, to=value, semver=value, fields=[value])
    for r in d["requirements"]:  # type: ignore[attr-defined]
        r.update(id=value, module=value, hint=value)
    for s in d["stops"]:  # type: ignore[attr-defined]
        s.update(message=value, file=value)
    for f in d["findings"]:  # type: ignore[attr-defined]
        f.update(rule=value, file=value, message=value)
    d["stage"] = "merge"
    return d


HIDE = "x:1`\n\nAll requirements met, safe to merge.\n\n<!--"


@pytest.mark.parametrize(
    "value",
    [
        HIDE,
        "a|b",
        "``x``",
        "`x",
        "x\\`y`",
        "<details open><summary>ok</summary>",
        "x\r\n### stategate: ✅ `pass`\u2028<!-- stategate:verdict -->",
        "`<!-- stategate:verdict -->` `-->`",
    ],
)
def test_verdict_text_cannot_break_out_of_where_it_lands(value: str) -> None:
    md = markdown_from_json(hostile_doc(value))
    lines = md.split("\n")
    # no new lines, no HTML from the verdict, no comment hiding the rest
    assert len(lines) == len(markdown_from_json(hostile_doc("plain")).split("\n"))
    assert "<!--" not in md and "<details open>" not in md
    assert "\r" not in md and "\u2028" not in md
    # every table row still has exactly its five cells
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert rows and all(row.count("|") == 6 for row in rows)
    # backticks: every line's code spans are balanced single backticks
    for line in lines:
        bare = line.replace("\\`", "")
        assert "``" not in bare and bare.count("`") % 2 == 0, line
    # the comment publish writes starts with the marker and holds it once
    verdict = parse_verdict(hostile_doc(value), "v.json")
    body = plan(verdict, ForgeState(), SHA).comment_body
    assert body.startswith(MARKER + "\n") and body.count("<!--") == 1


def test_hidden_text_shows_as_code() -> None:
    md = markdown_from_json(hostile_doc(HIDE))
    assert "| <code>x:1&#96;  All requirements met, safe to merge.  &lt;!--</code> |" in md
    # as text (a hint) it stays on its line, its lone backtick escaped, its comment shown
    assert ": x:1\\`  All requirements met, safe to merge.  &lt;!--\n" in md


def test_apply_stage_has_its_own_comment_and_status_and_no_labels() -> None:
    d = doc("approved", ("merge/manual-x",))
    d["stage"] = "apply"
    v = parse_verdict(d, "v.json")
    merge_body = f"{MARKER}\nthe merge verdict"
    state = ForgeState(
        me="bot",
        comments=(Comment(3, merge_body, "bot"),),
        pr_labels=(Label("risk/runtime", 2),),
    )
    p = plan(v, state, SHA)
    assert p.comment_body.startswith("<!-- stategate:verdict:apply -->\n")
    assert p.update_comment is None and p.delete_comments == ()  # the merge comment stays
    assert p.add_labels == () and p.remove_labels == () and p.create_labels == ()
    assert p.status.context == "stategate/apply" and p.status.state == "success"
    apply_body = p.comment_body
    again = plan(v, ForgeState(me="bot", comments=(Comment(4, apply_body, "bot"),)), SHA)
    assert again.update_comment == 4 and again.comment_unchanged
    # and the merge stage never takes the apply comment for its own
    m = plan(parse_verdict(doc("blocked"), "v.json"), again_state(apply_body), SHA)
    assert m.update_comment is None and m.delete_comments == ()
    assert m.status.context == "stategate"


def again_state(body: str) -> ForgeState:
    return ForgeState(me="bot", comments=(Comment(4, body, "bot"),))


def test_a_stale_or_closed_run_sets_the_status_only() -> None:
    v = parse_verdict(doc("blocked", ("risk/runtime",)), "v.json")
    p = plan(v, ForgeState(), SHA, skip="head moved")
    assert not p.write_comment and p.skipped == "head moved"
    assert p.add_labels == () and p.remove_labels == () and p.create_labels == ()
    assert p.status.sha == SHA


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        (["bug"], "'bug' is not under stategate's prefixes"),
        (["ri\u017fk/x"], "is not under"),  # long s: Unicode folds it to "risk/x"
        (["merge/x", "ris\u212a/x"], "is not under"),  # Kelvin sign: lower() makes it k
        (["merge/a\x1b[2J"], "control characters"),
        ([f"merge/{i}" for i in range(65)], "65 labels, more than the 64"),
    ],
)
def test_verdict_labels_must_be_ours(labels: list[str], problem: str) -> None:
    d = doc("blocked")
    d["labels"] = labels
    with pytest.raises(InputError, match=re.escape(problem)) as caught:
        parse_verdict(d, "out/v.json")
    assert caught.value.file == "out/v.json"


def test_verdict_labels_dedupe_ascii_case_insensitively() -> None:
    d = doc("blocked")
    d["labels"] = ["Merge/X", "merge/x", "MERGE/X", "risk/y", *(["class/z"] * 100)]
    assert parse_verdict(d, "v.json").labels == ("Merge/X", "risk/y", "class/z")
    assert owned("RISK/x") and not owned("ri\u017fk/x") and not owned("ris\u212a/x")


def test_a_deeply_nested_verdict_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(InputError, match="nested too deeply"):
        read_verdict(path)
    path.write_text('{"schema": "stategate.verdict/v1", "x": ' + "[" * 5000 + "]" * 5000 + "}")
    with pytest.raises(InputError):
        read_verdict(path)


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([{"id": 1, "color": "ededed"}], "a label without a name"),
        ([{"id": None, "name": "risk/x"}], "label 'risk/x' without a numeric id"),
        ([{"id": True, "name": "risk/x"}], "without a numeric id"),
        (["risk/x"], "something that is not an object"),
    ],
)
def test_malformed_labels_from_the_forge(items: list[object], problem: str) -> None:
    with pytest.raises(ForgeError, match=re.escape(problem)) as caught:
        _labels(items)
    assert caught.value.exit_code == 2


def test_pull_request_without_a_head_is_a_forge_error() -> None:
    class Answer:
        def send(self, request: object) -> Response:
            return Response(200, {}, {"state": "open", "head": {}})

    target = Target("acme", "platform", 7)
    with pytest.raises(ForgeError, match="PR #7 without a head commit"):
        pull_request(Answer(), target, "")  # type: ignore[arg-type]


def test_hint_code_spans_keep_their_text() -> None:
    d = doc("blocked")
    d["requirements"][0]["hint"] = "write packets/<id>.yaml, then run `approve <packet>`"  # type: ignore[index]
    md = markdown_from_json(d)
    assert ": write packets/&lt;id&gt;.yaml, then run `approve <packet>`\n" in md
