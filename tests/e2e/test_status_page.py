"""`stategate status --html` looked at in a real headless Chromium, at desktop and phone
width, on a page built from real signed evidence (tests/status_evidence.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from stategate.schemas import find, load
from tests.browser import Browser, png_colours, png_size, screenshot
from tests.status_evidence import EvidenceRepo, evidence_repo

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"


def _status(ev: EvidenceRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", "status", "--now", ev.now.isoformat(), *args],
        capture_output=True,
        text=True,
        cwd=ev.repo.path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=120,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[EvidenceRepo, Path]:
    root = tmp_path_factory.mktemp("status-page")
    ev = evidence_repo(root / "p")
    # a pull request's hostile file in the evidence folder: markup in a folder name
    hostile = ev.repo.path / "evidence" / "<img src=x onerror=alert(1)>" / "x"
    hostile.mkdir(parents=True)
    (hostile / "smoke-20260101T000000Z-abcdef.json").write_text("{}")
    # digits in a record's name that are no date
    (ev.repo.path / "evidence/platform/redis/backup-20261399T990000Z-abcdef.json").write_text("{}")
    done = _status(ev, "--html", str(root / "site"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == f"stategate: wrote {root / 'site' / 'index.html'}"
    return ev, root / "site" / "index.html"


def test_json_and_plain_output(page: tuple[EvidenceRepo, Path]) -> None:
    ev, _ = page
    done = _status(ev, "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "stategate.status/v1"
    jsonschema.Draft202012Validator(
        load(find("status")), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)
    redis = next(m for m in doc["modules"] if m["id"] == "platform/redis")
    assert redis["evidence"]["backup"]["state"] == "stale"
    assert len(doc["untrusted"]) == 3  # the forged smoke and the two hostile files
    plain = _status(ev)  # piped: plain lines, no box drawing
    assert " ! backup         stale, 30.0 h (limit 24.0 h)" in plain.stdout
    assert "┃" not in plain.stdout and "│" not in plain.stdout


def test_status_fails_closed_on_bad_input(page: tuple[EvidenceRepo, Path]) -> None:
    ev, html = page
    done = _status(ev, "--html", str(html))  # a file, not a folder
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"'{html}' is a file" in done.stderr
    late = subprocess.run(
        [sys.executable, "-m", "stategate", "status", "--now", "yesterday"],
        capture_output=True,
        text=True,
        cwd=ev.repo.path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        timeout=60,
    )
    assert late.returncode == 2 and "Traceback" not in late.stderr
    assert "--now: not an ISO 8601 time" in late.stderr


def test_page_is_static_and_escaped(page: tuple[EvidenceRepo, Path]) -> None:
    _, html = page
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert "<script" not in text and "<img" not in text and "<link" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_desktop_and_phone_screenshots(page: tuple[EvidenceRepo, Path], tmp_path: Path) -> None:
    _, html = page
    for width, height in ((1280, 900), (390, 844)):
        out = tmp_path / f"status-{width}.png"
        screenshot(html.as_uri(), out, width, height)
        data = out.read_bytes()
        assert png_size(data) == (width, height)
        # a rendered page: text, coloured cells, the timeline (a blank page has one colour)
        assert png_colours(data) >= 16, f"{out} looks blank"


def test_phone_width_has_no_page_overflow_and_shows_the_stale_module(
    page: tuple[EvidenceRepo, Path], tmp_path: Path
) -> None:
    _, html = page
    with Browser() as browser:
        browser.open(html.as_uri(), 390, 844, mobile=True)
        assert browser.evaluate("window.innerWidth") == 390
        fits = "document.documentElement.scrollWidth <= window.innerWidth"
        assert browser.evaluate(fits) is True, browser.evaluate(
            "document.documentElement.scrollWidth"
        )
        # the phone layout is the card layout: the header row is moved off screen
        assert browser.evaluate("getComputedStyle(document.querySelector('tr')).display") == (
            "block"
        )
        row = browser.evaluate("document.getElementById('m-platform-redis').innerText")
        flat = " ".join(row.split())
        assert "platform/redis" in flat
        assert "backup: stale, 30.0 h (limit 24.0 h)" in flat
        assert "restore drill: failed (fail), 29.0 h" in flat
        body = " ".join(browser.evaluate("document.body.innerText").split())
        assert "platform/redis: backup stale, 30.0 h (limit 24.0 h)" in body  # needs attention
        assert "platform/minio: smoke untrusted: does not verify" in body
        assert "platform/minio: restore drill missing" in body
        shot = browser.capture()
        assert png_size(shot) == (390, 844) and png_colours(shot) >= 16
        (tmp_path / "phone-cdp.png").write_bytes(shot)
        # the desktop layout: a real table, and still no page overflow
        browser.open(html.as_uri(), 1280, 900, mobile=False)
        assert browser.evaluate("getComputedStyle(document.querySelector('tr')).display") == (
            "table-row"
        )
        assert browser.evaluate(fits) is True
        marks = browser.evaluate("document.querySelectorAll('svg.timeline g.mark').length")
        assert marks == 12  # 8 module records, the DR drill once per module (3), 1 untrusted


def test_an_uncommitted_policy_edit_does_not_relax_the_status(
    page: tuple[EvidenceRepo, Path],
) -> None:
    """Classes come from the trusted policy (the base's), as check classifies a PR:
    a work-tree edit removing postgres's stateful class, with a decision, changes nothing."""
    ev, _ = page
    policy = ev.repo.path / "stategate.yaml"
    decision = ev.repo.path / "decisions" / "0099-postgres-is-scratch.md"
    before = json.loads(_status(ev, "--format", "json").stdout)
    original = policy.read_text(encoding="utf-8")
    try:
        decision.write_text("# postgres is scratch\n", encoding="utf-8")
        policy.write_text(
            original.replace(
                "modules:\n",
                "modules:\n  platform/postgres:\n    decision: decisions/0099-postgres-is-scratch.md\n"
                "    classes: {remove: [stateful, secret-bearing]}\n",
                1,
            ),
            encoding="utf-8",
        )
        after = _status(ev, "--format", "json")
    finally:
        policy.write_text(original, encoding="utf-8")
        decision.unlink()
    assert after.returncode == 0, after.stderr
    doc = json.loads(after.stdout)
    postgres = next(m for m in doc["modules"] if m["id"] == "platform/postgres")
    assert "stateful" in postgres["classes"]
    assert doc["attention"] == before["attention"]
