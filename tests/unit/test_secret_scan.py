"""Secret values in added lines: found wherever they sit in a line, never shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from stategate.diff.scan import scan_secrets
from stategate.git import AddedLine

GH_TOKEN = "ghp_" + "Cn4ry" * 8


def scan(text: str, path: str = "docs/runbook.md") -> list[str]:
    findings = scan_secrets([AddedLine(path, 7, text)])
    for finding in findings:
        assert finding.file == path and finding.line == 7
        assert finding.rule == "secret-value"
    return [f.message for f in findings]


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Connect with password hunter2-XYZq81 to the db.", "hunter2-XYZq81"),
        ("The admin password is `Tr0ub4dor-and3` for now.", "Tr0ub4dor-and3"),
        (f"the token is {GH_TOKEN}, ask Bob", GH_TOKEN),
        ("Run `PGPASSWORD=s3cr3t-Canary9 psql -h db app` on the host.", "s3cr3t-Canary9"),
        ("then: export REDIS_PASSWORD='Zq8#vL2m!Rt5' && redis-cli ping", "Zq8#vL2m!Rt5"),
        ("Set api key: k3y-QwErTy-991 in the form", "k3y-QwErTy-991"),
        ("It talks to redis://:pw-Redis-4471@cache:6379/0 only", "pw-Redis-4471"),
        ("- DB_PASSWORD=Xy7-long-Enough", "Xy7-long-Enough"),
    ],
)
def test_a_credential_inline_in_a_sentence_is_found_and_not_shown(line: str, secret: str) -> None:
    messages = scan(line)
    assert len(messages) == 1
    assert secret not in messages[0]


@pytest.mark.parametrize(
    "line",
    [
        "The password is stored in the vault, never in this repo.",
        "Rotate the token every 90 days; the password is environment-specific.",
        "password-protected endpoints need a session",
        "Set DB_PASSWORD=${DB_PASSWORD} from the operator's store.",
        "DB_PASSWORD_FILE=/run/secrets/db-password-2024",
        "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-changeme}",
        "  LISTMONK_db__password: *db-password",
        "the password is <your-password-here>",
        "password: changeme",
    ],
)
def test_prose_references_and_placeholders_are_not_findings(line: str) -> None:
    assert scan(line) == []


def test_hostile_lines_are_scanned_in_bounded_time() -> None:
    """Lines built to make a backtracking pattern quadratic finish in seconds (a 40 kB line
    of letters took 20 s before the repetitions were bounded)."""
    script = textwrap.dedent("""
        from stategate.diff.scan import scan_secrets
        from stategate.git import AddedLine
        lines = ["a" * 200_000, "a." * 100_000, "k: " + " " * 200_000 + "x",
                 "?" + "token" * 40_000, "x://a:" * 30_000, "password " * 20_000,
                 "eyJa-" * 40_000]
        print(len(scan_secrets([AddedLine("f", 1, line) for line in lines])))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "0"
