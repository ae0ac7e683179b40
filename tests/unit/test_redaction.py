"""``stategate config`` masks every credential wherever it was interpolated to."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from stategate.cli import main
from stategate.redaction import MASK, credential_values, redact
from tests.conftest import Tree

# distinctive canaries: each one is asserted absent, plain and encoded
BUILD_TOKEN = "ghp_CanaryBuildArg0123456789abcdefghijklmn"
DB_PASSWORD = "cnry-DbPass-7Hq2vX"
REDIS_PASSWORD = "cnry-Redis-9Kx4pW"
CLI_PASSWORD = "cnry-CliOpt-3Ld8mZ"
URL_PASSWORD = "cnry-UrlPw-5Tg1sQ"
HEALTH_PASSWORD = "cnry-Health-8Vb6nR"
LITERAL_FLAG = "cnry-Flag-2Jw7kE"
BASIC_AUTH_HASH = "$apr1$cnryHt$Q2xW9aZk"
QUERY_TOKEN = "cnry-Query-4Ps0yU"
JWT_SECRET = "cnry-Jwt-6Mn3bTq"
ESCAPED_HASH = BASIC_AUTH_HASH.replace("$", "$$")  # compose's escape of a literal $
ALL = (
    BUILD_TOKEN,
    DB_PASSWORD,
    REDIS_PASSWORD,
    CLI_PASSWORD,
    URL_PASSWORD,
    HEALTH_PASSWORD,
    LITERAL_FLAG,
    BASIC_AUTH_HASH,
    QUERY_TOKEN,
    JWT_SECRET,
)


def forms(secret: str) -> list[str]:
    """The canary plain, base64-encoded and URL-encoded."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        urllib.parse.quote(secret, safe=""),
    ]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def platform(tree: Tree) -> Path:
    return tree(
        {
            ".env": f"""
                GITHUB_TOKEN={BUILD_TOKEN}
                DB_PASSWORD={DB_PASSWORD}
                REDIS_PASSWORD={REDIS_PASSWORD}
                HEALTH_PASS={HEALTH_PASSWORD}
                JWT_SECRET={JWT_SECRET}
                APP_PORT=8080
                """,
            "compose.yaml": f"""
                name: shop
                services:
                  web:
                    image: nginx:1.27
                    build:
                      context: .
                      args:
                        GITHUB_TOKEN: ${{GITHUB_TOKEN}}
                        BASE: debian
                    command: ["app", "--db", "postgres://app:${{DB_PASSWORD}}@db/app"]
                    ports: ["${{APP_PORT}}:80"]
                    labels:
                      - "traefik.http.middlewares.auth.basicauth.users=admin:{ESCAPED_HASH}"
                      - "traefik.enable=true"
                    environment:
                      UPSTREAM: https://api.example.com/v1?access_token={QUERY_TOKEN}
                      STILL_UNSET_PASSWORD: ${{NOT_IN_ENV_PASSWORD}}
                  cache:
                    image: redis:7
                    command: redis-server --requirepass ${{REDIS_PASSWORD}}
                    healthcheck:
                      test: ["CMD-SHELL", "redis-cli -a ${{HEALTH_PASS}} ping"]
                  migrate:
                    image: app:2
                    # only the .env tells this is a credential: no flag, URL or key around it
                    command: ["sh", "-c", "echo ${{JWT_SECRET}} | login app"]
                  worker:
                    image: app:2
                    command: ["worker", "--api-token", "{LITERAL_FLAG}"]
                    environment:
                      - API_URL=https://svc:{URL_PASSWORD}@api.example.com/x
                      - MODE=production
                """,
        }
    )


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_config_masks_every_credential_wherever_it_was_interpolated(
    platform: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = cli(
        capsys,
        "config",
        "--repo",
        str(platform),
        "--format",
        fmt,
        "--env",
        f"PGPASS={CLI_PASSWORD}",
    )
    assert code == 0, err
    for secret in ALL:
        for form in forms(secret):
            assert form not in out + err, (secret, form)
    # what is not a credential is still there, so the output stays useful
    # (a string command is printed split into words, as compose prints it)
    for kept in ("nginx:1.27", "--requirepass", "8080", "production", "debian"):
        assert kept in out
    # an unset variable is empty, as in compose (and nothing to mask)
    assert "STILL_UNSET_PASSWORD: ''" in out or '"STILL_UNSET_PASSWORD": ""' in out
    assert "admin:" + MASK in out  # the user stays, the hash goes


def test_a_value_from_the_command_line_env_is_masked_where_it_is_used(
    tree: Tree, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(
        {
            "compose.yaml": """
                services:
                  db:
                    image: postgres:16
                    healthcheck:
                      test: ["CMD", "psql", "postgres://app:${PGPASS}@localhost/app", "-c", "select 1"]
                """
        }
    )
    code, out, err = cli(
        capsys, "config", "--repo", str(root), "--format", "json", "--env", f"PGPASS={CLI_PASSWORD}"
    )
    assert code == 0, err
    assert CLI_PASSWORD not in out
    test = json.loads(out)["services"]["db"]["healthcheck"]["test"]
    assert test[2] == f"postgres://app:{MASK}@localhost/app"


def test_a_weak_password_is_masked_where_it_sits_but_not_inside_names() -> None:
    """``postgres`` as a password is masked as a value, an argument and a URL password,
    but ``image: postgres:16`` and paths stay readable."""
    model = {
        "services": {
            "db": {
                "image": "postgres:16",
                "environment": {"POSTGRES_PASSWORD": "postgres", "POSTGRES_USER": "app"},
                "volumes": ["/srv/postgres:/var/lib/postgresql/data"],
                "healthcheck": {"test": ["CMD", "psql", "-W", "postgres"]},
                "command": "check postgres://app:postgres@db/app --password postgres",
            }
        }
    }
    values = credential_values((), model)
    assert values == {"postgres"}
    db = redact(model, values)["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD"] == MASK
    assert db["healthcheck"]["test"] == ["CMD", "psql", "-W", MASK]
    assert db["command"] == f"check postgres://app:{MASK}@db/app --password {MASK}"
    assert db["image"] == "postgres:16"
    assert db["volumes"] == ["/srv/postgres:/var/lib/postgresql/data"]


@pytest.mark.parametrize(
    "model",
    [
        {"environment": {"ALLOW_EMPTY_PASSWORD": "yes", "SECRETS": "0"}},
        {"environment": {"DB_PASSWORD_FILE": "/run/secrets/db"}},
        {"environment": {"DB_PASSWORD": "${DB_PASSWORD}"}},
        {"command": ["server", "--password-file", "/run/secrets/pw"]},
        {"command": "redis-server --requirepass ${REDIS_PASSWORD}"},
        {"labels": {"traefik.http.middlewares.a.basicauth.usersfile": "/etc/traefik/.htpasswd"}},
        {"command": ['export RABBITMQ_DEFAULT_PASS="$(cat $RABBITMQ_PASSWORD_FILE)"']},
    ],
)
def test_flags_files_and_references_are_not_credentials(model: dict[str, object]) -> None:
    assert credential_values((), model) == set()
    assert redact(model, credential_values((), model)) == model


@pytest.mark.parametrize(
    ("model", "secret"),
    [
        ({"command": ["redis-cli", "-a", "cnry-lit-1Qa2Ws", "ping"]}, "cnry-lit-1Qa2Ws"),
        ({"command": "server --password=cnry-lit-3Ed4Rf"}, "cnry-lit-3Ed4Rf"),
        ({"command": ["server", "--masterauth", "cnry-lit-5Tg6Yh"]}, "cnry-lit-5Tg6Yh"),
        (
            {"environment": {"REDIS_URL": "redis://:cnry-lit-7Uj8Ik@cache:6379/0"}},
            "cnry-lit-7Uj8Ik",
        ),
        ({"labels": {"caddy.basic_auth.admin": "cnry-lit-9Ol0Pz"}}, "cnry-lit-9Ol0Pz"),
        (
            {"x-extra": {"api_key": "cnry-lit-2Wsx3E", "note": "uses cnry-lit-2Wsx3E"}},
            "cnry-lit-2Wsx3E",
        ),
    ],
)
def test_literal_credentials_are_found_by_where_they_sit(
    model: dict[str, object], secret: str
) -> None:
    assert secret in credential_values((), model)
    assert secret not in json.dumps(redact(model, credential_values((), model)))


HOSTILE = {
    "LETTERS": "a" * 200_000,
    "QUERY": "?" + "token" * 40_000,
    "DOTS": "a." * 100_000,
    "SCHEMES": "x://a:" * 30_000,
    "FLAGS": " --" + "password" * 25_000,
    "REDIS": "redis-cli " * 20_000,
    "JWT": "eyJa-" * 40_000,
}


def test_hostile_strings_are_masked_in_bounded_time(tree: Tree) -> None:
    """Every masking pattern stays linear: 200 kB strings built to make a backtracking
    pattern quadratic (a 40 kB one took 68 s before the repetitions were bounded, and
    40 kB of dashes as a command 50 s in classification)."""
    env = "\n".join(f"      {key}: '{value}'" for key, value in HOSTILE.items())
    command = "-" * 200_000  # classification's credential-flag pattern on the command line
    root = tree(
        {
            "compose.yaml": f"services:\n  app:\n    image: app:1\n    command: '{command}'\n"
            f"    environment:\n{env}\n"
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "stategate", "config", "--repo", str(root), "--format", "json"],
        capture_output=True,
        timeout=120,  # catches a hang; the run takes a few seconds
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert json.loads(done.stdout)["services"]["app"]["environment"]["LETTERS"] == "a" * 200_000


def test_a_secret_in_a_mapping_key_is_masked_too(tmp_path: Path) -> None:
    """``labels: ["${DB_PASSWORD}"]`` makes the secret a label's name (review, issue 14)."""
    (tmp_path / ".env").write_text("DB_PASSWORD=hunter2sekrit\n")
    (tmp_path / "compose.yml").write_text(
        'services:\n  a:\n    image: alpine\n    labels: ["${DB_PASSWORD}", "x=${DB_PASSWORD}"]\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "stategate", "config", "--repo", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hunter2sekrit" not in done.stdout + done.stderr
    assert json.loads(done.stdout)["services"]["a"]["labels"] == {"***": "", "x": "***"}
