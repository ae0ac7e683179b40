"""The docker engine's command lines (it cannot run here: no Docker engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.providers.config import SandboxSettings
from stategate.sandbox.docker import minio_plan, postgres_plan, redis_plan, require_digest
from stategate.sandbox.select import engine_for

IMAGE = "postgres:16.4-alpine@sha256:" + "c" * 64


def test_postgres_plan() -> None:
    plan = postgres_plan("docker", IMAGE, "sg-pg", 41000, "postgres", "pw-not-on-argv")
    assert plan.run == (
        "docker",
        "run",
        "--detach",
        "--rm",
        "--name",
        "sg-pg",
        "--label",
        "stategate.sandbox=1",
        "--publish",
        "127.0.0.1:41000:5432",
        "--env",
        "POSTGRES_HOST_AUTH_METHOD=md5",
        "--env",
        "POSTGRES_USER=postgres",
        "--env",
        "POSTGRES_PASSWORD",
        "--tmpfs",
        "/var/lib/postgresql/data",
        IMAGE,
    )
    assert plan.remove == ("docker", "rm", "--force", "--volumes", "sg-pg")
    # the password goes through docker's environment, never on its command line
    assert plan.env == (("POSTGRES_PASSWORD", "pw-not-on-argv"),)
    assert not any("pw-not-on-argv" in arg for arg in plan.run)


def test_redis_plan_loads_the_rdb_from_a_private_dir() -> None:
    image = "redis:7.0.15@sha256:" + "d" * 64
    plan = redis_plan("docker", image, "sg-r", 41001, Path("/tmp/x"))
    assert plan.run[-14:] == (
        image,
        "redis-server",
        "--dir",
        "/data",
        "--dbfilename",
        "dump.rdb",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--repl-diskless-sync-delay",
        "0",
    )
    assert "--publish" in plan.run and "127.0.0.1:41001:6379" in plan.run
    assert "/tmp/x:/data" in plan.run


def test_minio_plan_keeps_credentials_off_argv() -> None:
    image = "minio/minio@sha256:" + "e" * 64
    plan = minio_plan("docker", image, "sg-s3", 41002, "sandbox", "s3cr3t-value")
    assert "s3cr3t-value" not in " ".join(plan.run)
    assert ("MINIO_ROOT_PASSWORD", "s3cr3t-value") in plan.env
    assert plan.run[-3:] == (image, "server", "/data")
    assert all(not a.startswith("0.0.0.0") for a in plan.run)


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (None, "no image"),
        ("", "no image"),
        ("postgres:16", "'postgres:16' is not pinned by @sha256 digest"),
        ("postgres:latest", "'postgres:latest' is not pinned by @sha256 digest"),
    ],
)
def test_only_digest_pinned_images_run(image: str | None, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        require_digest(image)


def test_engine_selection() -> None:
    assert engine_for(SandboxSettings()).name == "local"
    docker = engine_for(SandboxSettings(), override="docker", module_image=IMAGE)
    assert docker.name == "docker"
    assert engine_for(SandboxSettings(engine="docker", image=IMAGE)).name == "docker"
