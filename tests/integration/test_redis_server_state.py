"""A redis restore brings back what production needs besides its keys, and the drill
proves it: ACL users (with their password hashes), function libraries, every key's
expiry, and the persistence settings; smoke checks in the sandbox log in as the
application does.

The source is a real append-only redis with a password, an application ACL user, a
function library and keys with TTLs. Each kind of loss made in the sandbox after the
restore fails the comparison and is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from stategate.evidence.records.artifact import open_backup
from stategate.providers.access import RedisAccess
from stategate.providers.base import BackupHooks, StoredBackup
from stategate.providers.fingerprint import Comparison, Fingerprint, compare
from stategate.providers.redis import RedisProvider
from stategate.providers.redis_state import SERVER_PART, ServerState
from stategate.sandbox.local import LocalEngine
from stategate.sandbox.redis_conf import SANDBOX_REDIS_USER
from stategate.sandbox.servers import LocalRedis

pytestmark = pytest.mark.integration

PASSWORD = "source-" + "x7Kq2" * 4
APP_PASSWORD = "app-" + "Zr9w" * 5
LIBRARY = """#!lua name=billing
redis.register_function('total', function(keys, args) return redis.call('GET', keys[1]) end)
"""


@dataclass
class Backed:
    source: RedisProvider
    directory: Path
    fingerprint: Fingerprint
    findings: tuple[str, ...]
    version: str
    settings: dict[str, str]

    def stored(self) -> StoredBackup:
        return StoredBackup(
            self.directory, (), self.fingerprint, self.version, settings=self.settings
        )


def _admin(access: RedisAccess) -> redis.Redis:
    return redis.Redis(
        host=access.host, port=access.port, username=access.username, password=access.password
    )


@pytest.fixture(scope="module")
def source() -> Iterator[RedisAccess]:
    with LocalRedis(password=PASSWORD, persistent=True, aof=True) as access:
        client = _admin(access)
        client.execute_command(
            "ACL", "SETUSER", "app", "on", f">{APP_PASSWORD}", "~app:*", "+@read", "+@write",
            "+fcall", "-@dangerous",
        )  # fmt: skip
        client.function_load(LIBRARY)
        client.set("app:total", "42")
        client.set("app:session", "abc", px=3_600_000)
        client.hset("app:user:1", mapping={"name": "Ada"})
        client.config_set("appendfsync", "always")
        yield access


def _backup(access: RedisAccess, tmp_path: Path) -> Backed:
    provider = RedisProvider(access)
    directory = tmp_path / "backup"
    with open_backup(directory) as writer:
        output = provider.backup(writer, BackupHooks())
    derived = provider.derived_fingerprint(directory)
    # what a drill reads back from the stored parts is what the backup recorded
    assert derived.summary() == output.fingerprint.summary()
    return Backed(
        provider,
        directory,
        derived,
        output.findings,
        provider.server_version(),
        provider.settings(),
    )


@pytest.fixture
def backed(source: RedisAccess, tmp_path: Path) -> Backed:
    return _backup(source, tmp_path)


def _drill(backed: Backed, damage: Callable[[redis.Redis], object] | None = None) -> Comparison:
    with backed.source.restore(backed.stored(), LocalEngine()) as copy:
        assert isinstance(copy, RedisProvider)
        if damage is not None:
            damage(_admin(copy.access))
        return compare(backed.fingerprint, copy.fingerprint())


def test_the_backup_keeps_acl_users_functions_expiries_and_settings(backed: Backed) -> None:
    groups = backed.fingerprint.summary().groups
    assert {"db0", "acl", "config", "functions"} <= groups.keys()
    names = {(i.group, i.name) for i in backed.fingerprint.items}
    assert {("acl", "app"), ("acl", "default"), ("functions", "billing")} <= names
    assert ("config", "appendonly") in names and ("config", "appendfsync") in names
    state = ServerState.from_json((backed.directory / SERVER_PART).read_bytes(), SERVER_PART)
    assert state.acl is not None and any(line.startswith("user app on #") for line in state.acl)
    # hashes only: the passwords themselves are in no part of the backup
    for part in backed.directory.rglob("*"):
        if part.is_file():
            data = part.read_bytes()
            assert PASSWORD.encode() not in data and APP_PASSWORD.encode() not in data
    assert backed.findings == ()


def test_the_restored_sandbox_matches_and_the_application_logs_in(backed: Backed) -> None:
    with backed.source.restore(backed.stored(), LocalEngine()) as copy:
        assert isinstance(copy, RedisProvider)
        assert copy.access.username == SANDBOX_REDIS_USER
        comparison = compare(backed.fingerprint, copy.fingerprint())
        assert comparison.match, comparison.examples
        # the smoke checks' login is the application's own, restored with the backup
        target = copy.smoke_target("sandbox").redis
        assert target is not None and target.password == PASSWORD and target.username is None
        assert _admin(target).ping()
        app = redis.Redis(
            host=copy.access.host, port=copy.access.port, username="app", password=APP_PASSWORD
        )
        assert app.get("app:total") == b"42"
        assert app.fcall("total", 1, "app:total") == b"42"
        with pytest.raises(redis.ResponseError):
            app.config_get("appendonly")  # its restrictions came back too
        persistence = _admin(copy.access).info("persistence")
        assert persistence["aof_enabled"] == 1  # restored the documented AOF way
        assert _admin(copy.access).config_get("appendfsync")["appendfsync"] == "always"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda c: c.execute_command("ACL", "DELUSER", "app"), "acl/app: missing"),
        (
            lambda c: c.execute_command("ACL", "SETUSER", "app", ">another-password"),
            "acl/app: content differs",
        ),
        (lambda c: c.function_delete("billing"), "functions/billing: missing"),
        (lambda c: c.pexpire("app:session", 60_000), "db0/app:session: expires at"),
        (lambda c: c.persist("app:session"), "db0/app:session: content differs"),
        (lambda c: c.config_set("appendfsync", "everysec"), "config/appendfsync: content"),
        (lambda c: c.config_set("appendonly", "no"), "config/appendonly: content differs"),
    ],
    ids=["user-dropped", "password-changed", "function", "ttl-moved", "ttl-lost", "fsync", "aof"],
)
def test_each_loss_in_the_sandbox_fails_the_comparison_and_is_named(
    backed: Backed, damage: Callable[[redis.Redis], object], named: str
) -> None:
    comparison = _drill(backed, damage)
    assert not comparison.match
    assert any(line.startswith(named) for line in comparison.examples), comparison.examples


def test_a_backup_user_that_may_not_list_users_says_a_restore_lacks_them(
    source: RedisAccess, tmp_path: Path
) -> None:
    limited = "limited-" + "q3" * 8
    _admin(source).execute_command(
        "ACL", "SETUSER", "backup", "on", f">{limited}", "~*", "&*", "+@all", "-acl"
    )
    try:
        backed = _backup(RedisAccess(source.host, source.port, "backup", limited), tmp_path)
    finally:
        _admin(source).execute_command("ACL", "DELUSER", "backup")
    assert any("ACL users not backed up" in f for f in backed.findings), backed.findings
    assert limited not in " ".join(backed.findings)
    assert "acl" not in backed.fingerprint.summary().groups
    comparison = _drill(backed)
    assert comparison.match, comparison.examples


def test_a_backup_from_before_server_state_verifies_and_drills_without_it(
    backed: Backed,
) -> None:
    """A backup recorded before ACL users, settings and function libraries were kept has
    no redis-server.json: its fingerprint is derived and compared without them."""
    (backed.directory / SERVER_PART).unlink()
    older = backed.source.derived_fingerprint(backed.directory)
    assert set(older.summary().groups) == {"db0"}  # no functions, acl, config
    old = Backed(backed.source, backed.directory, older, (), backed.version, backed.settings)
    comparison = _drill(old)
    assert comparison.match, comparison.examples
    assert set(comparison.observed.groups) == {"db0"}


def test_a_key_pattern_that_is_not_utf8_restores_as_the_same_bytes(
    source: RedisAccess, tmp_path: Path
) -> None:
    admin = _admin(source)
    admin.execute_command("ACL", "SETUSER", "latin", "on", ">pw-latin-1", b"~caf\xe9:*", "+get")
    try:
        backed = _backup(source, tmp_path)
        comparison = _drill(backed)
        assert comparison.match, comparison.examples
        assert ("acl", "latin") in {(i.group, i.name) for i in backed.fingerprint.items}
    finally:
        admin.execute_command("ACL", "DELUSER", "latin")


def test_a_container_sandbox_follows_production_persistence_on_the_running_server() -> None:
    """What the docker engine does once its container loaded the RDB (no Docker here:
    the same calls against a local server started as the container is, append-only off)."""
    from stategate.sandbox.docker import _follow_setup
    from stategate.sandbox.engine import RedisSetup

    with LocalRedis() as plain:
        client = _admin(plain)
        client.set("k", "v")
        _follow_setup(plain, RedisSetup(aof=True, config={"appendfsync": "always", "save": ""}))
        assert client.info("persistence")["aof_enabled"] == 1
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        assert client.get("k") == b"v"
