"""A PostgreSQL backup holds what a restore needs, or says loudly what it will not have:
every database (templates included), role passwords, the rights to read it all, and
every warning of its tools. On a real cluster (PostgreSQL 15) of its own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from stategate.engines import discover
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers.access import PostgresAccess
from stategate.providers.config import Credential, PostgresSource
from stategate.sandbox.servers import LocalPostgres

from .conftest import Workspace

pytestmark = pytest.mark.integration

SETUP = """
CREATE ROLE app_user LOGIN PASSWORD 'app-secret-canary';
CREATE ROLE reader LOGIN PASSWORD 'reader-secret-canary';
CREATE ROLE half_reader LOGIN PASSWORD 'half-secret-canary';
GRANT pg_read_all_data TO reader;
"""


def _connect(access: PostgresAccess, db: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=access.host, port=access.port, user=access.user, dbname=db, autocommit=True
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresAccess]:
    bin_dir = discover().require("postgresql", "15").path
    with LocalPostgres(bin_dir=bin_dir, tcp=True) as access:
        with _connect(access, "postgres") as conn:
            conn.execute(SETUP)
            conn.execute("CREATE DATABASE shop")
            conn.execute("CREATE DATABASE closed")
        with _connect(access, "shop") as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric)")
            conn.execute("INSERT INTO orders SELECT i, i * 2.5 FROM generate_series(1, 20) i")
            conn.execute("CREATE TABLE secrets_table (k text)")
            conn.execute("GRANT SELECT ON orders TO half_reader")
        with _connect(access, "template1") as conn:
            conn.execute("CREATE FUNCTION stamp() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$")
        yield access


def _backup(workspace: Workspace, access: PostgresAccess, **settings: object) -> BackupPredicate:
    config = PostgresSource(host=access.host, port=access.port, user=access.user, **settings)  # type: ignore[arg-type]
    pred = run_backup(workspace.context("data/postgres", config)).statement.predicate
    assert isinstance(pred, BackupPredicate)
    return pred


def _as(
    workspace: Workspace, access: PostgresAccess, user: str, secret: str, **settings: object
) -> BackupPredicate:
    """A backup over TCP as another role, its password from the environment."""
    env = f"PG_{user.upper()}_PASSWORD"
    import os

    os.environ[env] = secret
    try:
        config = PostgresSource(
            host="127.0.0.1",
            port=access.port,
            user=user,
            password=Credential(env=env),
            **settings,  # type: ignore[arg-type]
        )
        ctx = workspace.context("data/postgres", config)
        pred = run_backup(ctx).statement.predicate
    finally:
        del os.environ[env]
    assert isinstance(pred, BackupPredicate)
    return pred


def test_a_database_that_refuses_connections_fails_the_backup_or_is_a_finding(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    with _connect(cluster, "postgres") as conn:
        conn.execute("ALTER DATABASE closed WITH ALLOW_CONNECTIONS false")
    try:
        refused = _backup(workspace, cluster)
        assert refused.result == "error" and refused.artifacts == []
        assert refused.reason is not None and refused.reason.startswith(
            "postgres: database closed does not allow connections (ALLOW_CONNECTIONS false)"
        )
        listed = _backup(workspace, cluster, databases=["shop"])
        assert listed.result == "pass", listed.reason
        assert listed.findings == [
            "database closed is not backed up (not in databases:, and it refuses connections)",
            "database template1 is not backed up (not in databases:)",  # it holds stamp()
        ]
    finally:
        with _connect(cluster, "postgres") as conn:
            conn.execute("ALTER DATABASE closed WITH ALLOW_CONNECTIONS true")


def test_every_database_templates_included_and_role_passwords_restore(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    pred = _backup(workspace, cluster)
    assert pred.result == "pass", pred.reason
    parts = {a.name for a in pred.artifacts}
    assert {"db/template1.dump.zst", "db/shop.dump.zst", "db/closed.dump.zst"} <= parts
    assert pred.findings == []
    # every database's snapshot exported before any dump: as near one point in time as
    # PostgreSQL allows (it cannot share one snapshot between databases)
    assert pred.consistent and "databases' snapshots were exported within" in pred.note
    assert "before any dump started" in pred.note
    globals_sql = (workspace.artifacts / pred.location / "globals.sql").read_text()
    assert "ALTER ROLE app_user WITH" in globals_sql and "PASSWORD 'SCRAM-SHA-256$" in globals_sql
    drill = run_restore_drill(workspace.context("data/postgres", _config(cluster), smoke=[]))
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "pass", dpred.reason
    assert dpred.fingerprint is not None
    groups = dpred.fingerprint.expected.groups
    assert "template1 (schema)" in groups and "(cluster)" in groups


def _config(access: PostgresAccess) -> PostgresSource:
    return PostgresSource(host=access.host, port=access.port, user=access.user)


def test_a_role_that_cannot_read_everything_is_refused_before_anything_is_written(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    half = _as(workspace, cluster, "half_reader", "half-secret-canary", role_passwords=False)
    assert half.result == "error" and half.artifacts == []
    assert half.reason is not None and half.reason.startswith(
        "postgres: role half_reader cannot read shop/public.secrets_table: grant it "
        "pg_read_all_data"
    )
    assert not list((workspace.artifacts / "data" / "postgres").glob("*/*"))
    passwords = _as(workspace, cluster, "reader", "reader-secret-canary")
    assert passwords.result == "error"
    assert passwords.reason is not None and passwords.reason.startswith(
        "postgres: role reader is not a superuser, so pg_dumpall cannot read the role passwords"
    )


def test_without_passwords_the_record_and_the_drill_say_so_and_the_sandbox_keeps_its_superuser(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    """A pg_read_all_data role backs up without passwords: the finding is in the backup's
    record and its drill's, and globals.sql (which would demote the sandbox's superuser,
    the same role) restores with ON_ERROR_STOP."""
    pred = _as(workspace, cluster, "reader", "reader-secret-canary", role_passwords=False)
    assert pred.result == "pass", pred.reason
    said = (
        "role passwords are not in this backup (role_passwords: false): after a restore, "
        "every login role's password must be set again"
    )
    unread = (
        "shared_preload_libraries not read (the backup role is neither a superuser nor a "
        "member of pg_read_all_settings): a restore must load production's, and a drill's "
        "sandbox loads none"
    )
    assert pred.findings == [said, unread]
    globals_sql = (workspace.artifacts / pred.location / "globals.sql").read_text()
    assert "PASSWORD" not in globals_sql and "ALTER ROLE reader WITH NOSUPERUSER" in globals_sql
    import os

    os.environ["PG_READER_PASSWORD"] = "reader-secret-canary"
    try:
        config = PostgresSource(
            host="127.0.0.1",
            port=cluster.port,
            user="reader",
            password=Credential(env="PG_READER_PASSWORD"),
            role_passwords=False,
        )
        drill = run_restore_drill(workspace.context("data/postgres", config, smoke=[]))
    finally:
        del os.environ["PG_READER_PASSWORD"]
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "pass", dpred.reason
    assert dpred.findings == [said, unread]


def test_a_warning_that_something_was_left_out_fails_the_backup(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    with _connect(cluster, "shop") as conn:
        conn.execute("CREATE PUBLICATION pub FOR TABLE orders")
        conn.execute(
            "CREATE SUBSCRIPTION sub CONNECTION 'host=127.0.0.1 dbname=nowhere' "
            "PUBLICATION pub WITH (connect = false, slot_name = NONE)"
        )
    try:
        pred = _as(workspace, cluster, "reader", "reader-secret-canary", role_passwords=False)
        assert pred.result == "error" and pred.artifacts == []
        assert pred.reason is not None and pred.reason.startswith("pg_dump left something out: ")
        assert "subscriptions not dumped because current user is not a superuser" in pred.reason
    finally:
        with _connect(cluster, "shop") as conn:
            conn.execute("DROP SUBSCRIPTION sub")
            conn.execute("DROP PUBLICATION pub")


def test_a_tablespace_of_production_does_not_stop_the_drill(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    """globals.sql creates production's tablespaces at production's paths: the sandbox
    leaves them out and restores their tables into its default tablespace."""
    import os
    import pwd
    import shutil
    import tempfile
    from pathlib import Path

    location = Path(tempfile.mkdtemp(prefix="stategate-test-tablespace-"))  # postgres reaches /tmp
    owner = pwd.getpwnam("postgres")
    os.chown(location, owner.pw_uid, owner.pw_gid)
    with _connect(cluster, "postgres") as conn:
        conn.execute(f"CREATE TABLESPACE fast LOCATION '{location}'")
    with _connect(cluster, "shop") as conn:
        conn.execute("CREATE TABLE hot (id int) TABLESPACE fast")
        conn.execute("INSERT INTO hot SELECT generate_series(1, 10)")
    try:
        pred = _backup(workspace, cluster)
        assert pred.result == "pass", pred.reason
        assert (
            "CREATE TABLESPACE fast"
            in (workspace.artifacts / pred.location / "globals.sql").read_text()
        )
        drill = run_restore_drill(workspace.context("data/postgres", _config(cluster), smoke=[]))
        dpred = drill.statement.predicate
        assert isinstance(dpred, DrillPredicate)
        assert dpred.result == "pass", dpred.reason
    finally:
        with _connect(cluster, "shop") as conn:
            conn.execute("DROP TABLE hot")
        with _connect(cluster, "postgres") as conn:
            conn.execute("DROP TABLESPACE fast")
        shutil.rmtree(location, ignore_errors=True)


def test_large_objects_the_role_cannot_read_are_named_before_anything_is_written(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    with _connect(cluster, "shop") as conn:
        conn.execute("SELECT lo_from_bytea(7777, 'scan')")
    try:
        pred = _as(workspace, cluster, "reader", "reader-secret-canary", role_passwords=False)
        assert pred.result == "error" and pred.artifacts == []
        assert pred.reason is not None and pred.reason.startswith(
            "postgres: role reader cannot read shop/large object 7777: grant it"
        )
        with _connect(cluster, "shop") as conn:
            conn.execute("GRANT SELECT ON LARGE OBJECT 7777 TO reader")
        granted = _as(workspace, cluster, "reader", "reader-secret-canary", role_passwords=False)
        assert granted.result == "pass", granted.reason
    finally:
        with _connect(cluster, "shop") as conn:
            conn.execute("SELECT lo_unlink(7777)")


def test_a_fingerprint_the_server_refuses_is_one_clear_error(cluster: PostgresAccess) -> None:
    """A query the server refuses (here: a role without SELECT on a table) is an
    ExternalError naming the server, never a driver exception escaping the drill."""
    from dataclasses import replace

    from stategate.errors import ExternalError
    from stategate.providers.postgres import PostgresProvider

    half = replace(cluster, user="half_reader")
    with pytest.raises(ExternalError) as caught:
        PostgresProvider(half, databases=["shop"], role_passwords=False).fingerprint()
    message = str(caught.value)
    assert message.startswith(f"postgres {half.address()}: fingerprint: ")
    assert "permission denied" in message


def _app_drill(
    workspace: Workspace, cluster: PostgresAccess, secret: str, **settings: object
) -> DrillPredicate:
    """A drill whose smoke check logs in as the application's role with ``secret``."""
    import os

    from stategate.providers.config import SqlCheck

    os.environ["PG_APP_PASSWORD"] = secret
    try:
        config = PostgresSource(
            host=cluster.host,
            port=cluster.port,
            user=cluster.user,
            app_user="app_user",
            app_password=Credential(env="PG_APP_PASSWORD"),
            **settings,  # type: ignore[arg-type]
        )
        check = SqlCheck(name="login", database="shop", query="select current_user")
        ctx = workspace.context(
            "data/postgres", config, smoke=[check.model_copy(update={"expect": "app_user"})]
        )
        assert run_backup(ctx).statement.predicate.result == "pass"
        pred = run_restore_drill(ctx).statement.predicate
    finally:
        del os.environ["PG_APP_PASSWORD"]
    assert isinstance(pred, DrillPredicate)
    return pred


def test_the_drill_logs_in_as_the_application_with_its_restored_password(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    drill = _app_drill(workspace, cluster, "app-secret-canary")
    assert drill.result == "pass", drill.reason
    assert [o.result for o in drill.smoke] == ["pass"]
    assert "logs in with its password" in drill.engine.detail
    # the sandbox asks for the password: a wrong one fails the drill, masked
    wrong = _app_drill(workspace, cluster, "not-the-app-password")
    assert wrong.result == "fail" and "password authentication failed" in (wrong.reason or "")
    assert "not-the-app-password" not in (wrong.reason or "")


def test_without_password_hashes_the_drill_sets_the_password_then_logs_in(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    drill = _app_drill(workspace, cluster, "app-secret-canary", role_passwords=False)
    assert drill.result == "pass", drill.reason
    assert any("password must be set again" in f for f in drill.findings)


def test_production_preload_libraries_are_loaded_in_the_sandbox(workspace: Workspace) -> None:
    bin_dir = discover().require("postgresql", "15").path
    with LocalPostgres(bin_dir=bin_dir, tcp=True, preload="pg_stat_statements") as source:
        with _connect(source, "postgres") as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        config = PostgresSource(host=source.host, port=source.port, user=source.user)
        ctx = workspace.context("data/postgres", config, smoke=[])
        backup = run_backup(ctx).statement.predicate
        assert isinstance(backup, BackupPredicate) and backup.result == "pass", backup.reason
        assert backup.source.settings["shared_preload_libraries"] == "pg_stat_statements"
        drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate) and drill.result == "pass", drill.reason
    assert drill.sandbox is not None
    assert drill.sandbox.settings["shared_preload_libraries"] == "pg_stat_statements"
    assert "shared_preload_libraries = 'pg_stat_statements'" in drill.engine.detail


def test_user_mapping_options_the_role_cannot_read_are_a_finding(
    workspace: Workspace, cluster: PostgresAccess
) -> None:
    with _connect(cluster, "shop") as conn:
        conn.execute("CREATE FOREIGN DATA WRAPPER dummy")
        conn.execute("CREATE SERVER far FOREIGN DATA WRAPPER dummy")
        conn.execute(
            "CREATE USER MAPPING FOR app_user SERVER far OPTIONS (password 'remote-canary')"
        )
    try:
        pred = _as(workspace, cluster, "reader", "reader-secret-canary", role_passwords=False)
        assert pred.result == "pass", pred.reason
        (finding,) = [f for f in pred.findings if "user mapping" in f]
        assert finding.startswith("database shop: the options of user mapping(s) app_user on far")
        assert "remote-canary" not in " ".join(pred.findings)
        # a superuser reads them: no finding
        assert not [f for f in _backup(workspace, cluster).findings if "user mapping" in f]
    finally:
        with _connect(cluster, "shop") as conn:
            conn.execute("DROP SERVER far CASCADE")
            conn.execute("DROP FOREIGN DATA WRAPPER dummy")
