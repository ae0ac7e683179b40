"""The diff's secret scan and the docs lint, as pure functions over added lines.

A finding names the file, line and key, never the value; a reference or a
placeholder is not a secret. (The git-backed path is covered by
tests/integration/test_check_merge.py; written against surviving mutants.)
"""

from __future__ import annotations

import pytest

from stategate.diff.scan import Finding, credential_shaped, lint_docs, scan_secrets
from stategate.git import AddedLine

SECRET = "Xk9mP2vLq7Zt"  # credential-shaped: 12 characters, three classes


def scan(*texts: str) -> list[Finding]:
    return scan_secrets(AddedLine("compose/app.yml", n, t) for n, t in enumerate(texts, start=7))


def one(text: str) -> str | None:
    found = scan(text)
    assert len(found) <= 1
    if not found:
        return None
    assert (found[0].rule, found[0].file, found[0].line) == ("secret-value", "compose/app.yml", 7)
    assert SECRET not in found[0].message
    return found[0].message


@pytest.mark.parametrize(
    "text",
    [
        "      -----BEGIN PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY----- and more",
    ],
)
def test_private_key_blocks(text: str) -> None:
    assert one(text) == "a private key block"


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "a1" * 18,
        "gho_" + "B" * 36,
        "github_pat_" + "x_" * 20,
        "glpat-" + "a-b_" * 5,
        "AKIA" + "ABCDEFGH12345678",
        "xoxb-" + "1234567890",
        "sk-" + "a1B2" * 5,
        "eyJhbGciOiJIUzI1.eyJzdWIiOiIx.SflKxwRJSMeK",
    ],
)
def test_token_shapes(token: str) -> None:
    assert one(f"note: see {token} here") == "a token-shaped value (not shown)"


@pytest.mark.parametrize(
    "almost",
    [
        "ghp_" + "a" * 35,
        "github_pat_" + "x" * 39,
        "glpat-" + "a" * 19,
        "AKIA" + "ABCDEFGH1234567",
        "xoxb-" + "123456789",
        "sk-" + "a" * 19,
        "eyJhbGciOiJIUzI1.eyJzdWIiOiIx.SflKxwRJS",
        "xghp_" + "a" * 36,
    ],
)
def test_almost_tokens_are_not_findings(almost: str) -> None:
    assert one(f"note: see {almost} here") is None


def test_url_with_an_inline_password() -> None:
    assert one(f"DSN: postgres://app:{SECRET}@db:5432/app") == "a URL with an inline password"
    assert one(f"  url: HTTPS://app:{SECRET}@example.test/") == "a URL with an inline password"
    assert one("DATABASE_URL: postgres://app:${DB_PASSWORD}@db/app") is None
    assert one("see postgres://app:changeme@db/app") is None


@pytest.mark.parametrize(
    "text",
    [
        f"DB_PASSWORD={SECRET}",
        f"  DB_PASSWORD: {SECRET}",
        f'  - "DB_PASSWORD={SECRET}"',
        f"export API_TOKEN='{SECRET}'",
        f"  APP_SECRET: {SECRET}  # production",
        f'"SIGNING_KEY": "{SECRET}"',
        "  DB_PASSWORD: XaB3dE7g",  # eight characters: only quotes are stripped, not an X
    ],
)
def test_credential_assignments(text: str) -> None:
    message = one(text)
    assert message is not None and message.startswith("a credential-shaped value assigned to ")
    assert message.endswith(" (value not shown)")
    key = message.removeprefix("a credential-shaped value assigned to ").split()[0]
    assert key in text and key.isupper()


def test_the_key_is_named_exactly() -> None:
    assert one(f"DB_PASSWORD: {SECRET}") == (
        "a credential-shaped value assigned to DB_PASSWORD (value not shown)"
    )


@pytest.mark.parametrize(
    "text",
    [
        f"POSTGRES_PASSWORD_FILE: {SECRET}",  # a path to the secret, by convention
        f"IMAGE_TAG: {SECRET}",  # not a credential key
        "DB_PASSWORD: ${DB_PASSWORD}",
        "DB_PASSWORD: changeme",
        "DB_PASSWORD:",
        'DB_PASSWORD: "/run/secrets/db_password"',  # quotes go before the reference test
        "DB_PASSWORD: '{{db.password}}'",
    ],
)
def test_not_credentials(text: str) -> None:
    assert one(text) is None


def test_every_line_is_scanned_and_numbered() -> None:
    found = scan(
        "-----BEGIN PRIVATE KEY-----",
        "see ghp_" + "a1" * 18,
        f"url: postgres://app:{SECRET}@db/app",
        "plain prose, no assignment",
        "x: 1",
        f"DB_PASSWORD={SECRET}",
        "-----BEGIN PRIVATE KEY-----",
    )
    assert [(f.line, f.message.split()[1]) for f in found] == [
        (7, "private"),
        (8, "token-shaped"),
        (9, "URL"),
        (12, "credential-shaped"),
        (13, "private"),
    ]


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        (SECRET, True),
        ("aB3dEf7h", True),  # eight distinct characters: entropy exactly 3 bits
        ("aB3dEf7", False),  # seven characters
        ("abcdefgh1", True),
        ("abcdefghijkl", False),  # one character class
        ("aaaaaaaaaaB1", False),  # low entropy
        ("Xk9m P2vLq7Zt", False),  # a space: prose, not a credential
        ("", False),
        ("$DB_PASSWORD", False),
        ("/run/secrets/db", False),
        ("./secrets/db", False),
        ("../secrets/db", False),
        ("~/secrets/db", False),
        ("{{ db_password }}", False),
        ("{{db.password}}", False),
        ("abcdEFGHij", True),  # lower and upper case
        ("abcd-efg_hi", True),  # lower case and symbols
        ("ABCDEFGHIJKL", False),  # upper case only
        ("vault:kv/db#password", False),
        ("op://vault/db/password", False),
        ("secret:db-password", False),
        ("<your-password>", False),
        ("CHANGEME", False),
        ("xxxxxxxx", False),
        ("********", False),
        ("REDACTED", False),
    ],
)
def test_credential_shape(value: str, shaped: bool) -> None:
    assert credential_shaped(value) is shaped


PATTERNS = [r"docker compose (up|down)", r"\bpg_restore\b"]
MESSAGE = "runtime instruction outside an operator-gated block (operator-gated)"


def lint(text: str) -> list[int]:
    found = lint_docs("docs/runbook.md", text, PATTERNS, "operator-gated")
    assert all(
        (f.rule, f.file, f.message) == ("docs-runtime-instruction", "docs/runbook.md", MESSAGE)
        for f in found
    )
    return [f.line for f in found]


def test_docs_lint_finds_ungated_instructions_once_per_line() -> None:
    assert lint("intro\nrun docker compose up then pg_restore\nok\nDOCKER COMPOSE DOWN\n") == [2, 4]


def test_gated_fence_and_comment_regions() -> None:
    text = "\n".join(
        [
            "```sh operator-gated",  # 1
            "docker compose up",  # 2: gated
            "```",  # 3
            "docker compose down",  # 4: finding
            "<!-- operator-gated -->",  # 5
            "pg_restore -d app",  # 6: gated
            "<!-- /operator-gated -->",  # 7
            "pg_restore -d app",  # 8: finding
            "```sh",  # 9: an ordinary fence is linted
            "docker compose up",  # 10: finding
            "```",  # 11
        ]
    )
    assert lint(text) == [4, 8, 10]


def test_a_fence_closes_only_with_its_own_kind() -> None:
    text = "\n".join(
        [
            "~~~~ operator-gated",  # 1
            "```",  # 2: not a close (another fence kind)
            "docker compose up",  # 3: still gated
            "~~~",  # 4: shorter than the opening: not a close either
            "pg_restore",  # 5: still gated
            "~~~~~",  # 6: closes
            "pg_restore",  # 7: finding
        ]
    )
    assert lint(text) == [7]


def test_a_marker_in_another_form_does_not_gate() -> None:
    assert lint("<!-- operator-gated: yes -->\ndocker compose up\n") == [2]
    assert lint("<!--operator-gated-->\ndocker compose up\n") == [2]
