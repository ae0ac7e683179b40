"""PostgreSQL: ``pg_dump`` custom format per database, globals without passwords.

Each database is dumped uncompressed and stategate compresses the stream with
zstd (``db/<name>.dump.zst``): several times faster than pg_dump's own zlib,
which would otherwise bound the backup, and smaller. Parts of earlier backups
(``db/<name>.dump``, compressed by pg_dump) still restore.

The fingerprint (per-table row count and an order-free sum of row hashes)
is computed inside the same exported snapshot that ``pg_dump --snapshot``
dumps, concurrently with the dump, so it describes exactly the dumped data
and costs little extra wall time.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Literal, NamedTuple

import psycopg
from psycopg import sql

from stategate import execute
from stategate.engines import Catalogue, EngineBuild, EngineUnavailable, discover
from stategate.errors import ExternalError
from stategate.evidence.records import compression
from stategate.evidence.records.artifact import BackupWriter
from stategate.evidence.records.steps import StepClock
from stategate.providers import pg_preflight, pg_schema
from stategate.providers.access import PostgresAccess
from stategate.providers.base import (
    BackupHooks,
    BackupOutput,
    Origin,
    SmokeTarget,
    StoredBackup,
)
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.providers.pg_preflight import globals_for
from stategate.sandbox.engine import Engine
from stategate.sandbox.leftovers import mark_owner, remove_sandbox
from stategate.sandbox.pg_upgrade import settings_of
from stategate.sandbox.servers import restore_jobs

GLOBALS_PART = "globals.sql"
TEMPLATE_DBS = pg_preflight.IN_PLACE_DBS

# Row text depends on these settings; pin them so source and sandbox agree.
_SESSION = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 3",
    "SET bytea_output = 'hex'",
    "SET lc_monetary = 'C'",
    # a fingerprint query on a large table, or a snapshot held open while the databases
    # before it are dumped, must not be ended by the role's or server's timeouts
    "SET statement_timeout = 0",
    "SET idle_in_transaction_session_timeout = 0",
)

_SETTINGS = """
SELECT to_jsonb(d) || jsonb_build_object('encoding_name', pg_encoding_to_char(d.encoding)),
  current_setting('data_checksums'), pg_size_bytes(current_setting('wal_segment_size')),
  current_setting('block_size'),
  -- readable by a superuser or a member of pg_read_all_settings only: NULL otherwise
  CASE WHEN (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
         OR pg_has_role('pg_read_all_settings', 'MEMBER')
       THEN current_setting('shared_preload_libraries') END
FROM pg_database d WHERE d.datname = 'template1'
"""
PRELOAD = "shared_preload_libraries"

_TABLES = """
SELECT n.nspname, c.relname, c.relkind, c.oid::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'S') AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


# (database, table) -> how its rows were hashed, read from a backup's fingerprint
Methods = dict[tuple[str, str], str]


DUMP_SUFFIX = ".dump"


def pg_version(reported: str) -> str:
    """``16.4`` from what a server reports (``16.4 (Debian 16.4-1.pgdg120+2)``)."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", reported)
    if match is None:
        raise ExternalError(f"cannot read a PostgreSQL version from {reported!r}")
    return match.group(1)


def dump_part(db: str) -> str:
    """The part holding one database: a custom-format archive in one zstd frame."""
    return f"db/{urllib.parse.quote(db, safe='')}{DUMP_SUFFIX}{compression.SUFFIX}"


def part_db(name: str) -> str:
    """The database of a part: ``db/<quoted name>.dump.zst``, or ``.dump`` (earlier
    versions, compressed by pg_dump itself)."""
    stem = name.removeprefix("db/").removesuffix(compression.SUFFIX).removesuffix(DUMP_SUFFIX)
    return urllib.parse.unquote(stem)


def _too_many_connections(exc: BaseException) -> bool:
    """A connection refused for the role's or the server's connection limit (53300)."""
    cause = exc.__cause__
    if not isinstance(cause, psycopg.Error):
        return False
    # a refused connection carries no SQLSTATE in libpq: its message names the limit
    text = str(cause)
    return cause.sqlstate == "53300" or any(
        phrase in text
        for phrase in (
            "too many connections",
            "too many clients",
            "remaining connection slots are reserved",
        )
    )


@dataclass
class _Snapshot:
    """A database's exported snapshot, held open on its connection until it is dumped."""

    db: str
    conn: psycopg.Connection[tuple[object, ...]]
    snapshot: str
    positions: list[FingerprintItem] = field(default_factory=list)


class PostgresProvider:
    name: Literal["postgres"] = "postgres"
    # a sandbox's: the warnings of pg_restore and psql while it was restored
    restore_warnings: tuple[str, ...] = ()

    def __init__(
        self,
        access: PostgresAccess,
        *,
        databases: list[str] | None = None,
        snapshot: bool = True,
        methods: Methods | None = None,
        catalogue: Catalogue | None = None,
        schema: bool = True,
        backed_up: set[str] | None = None,
        role_passwords: bool = True,
        schema_level: int = pg_schema.LEVEL,
        app: PostgresAccess | None = None,
    ) -> None:
        self.access = access
        self.databases = list(databases or [])
        self.snapshot = snapshot
        self.methods = methods
        # the schema fingerprint (pg_schema); off only to compare with a backup taken
        # before it existed
        self.schema = schema
        self.backed_up = backed_up  # a sandbox: the databases its backup holds
        # role password hashes in the globals (and compared, as digests, by the drill)
        self.role_passwords = role_passwords
        self.schema_level = schema_level  # a sandbox: the level its backup was read at
        # the application's own login (smoke checks log in as it); None: the access's
        self.app = app
        self._catalogue = catalogue
        self._client: EngineBuild | None = None

    # -- connection -------------------------------------------------------
    def connect(self, db: str) -> psycopg.Connection[tuple[object, ...]]:
        try:
            conn = psycopg.connect(
                host=self.access.host,
                port=self.access.port,
                user=self.access.user,
                password=self.access.password,
                dbname=db,
                connect_timeout=10,
                application_name="stategate",
                autocommit=True,
            )
        except psycopg.Error as exc:
            raise ExternalError(self._masked(f"postgres {self.address()}/{db}: {exc}")) from exc
        # autocommit: BEGIN below must open the snapshot transaction itself, not
        # land inside an implicit one (where its isolation level is ignored)
        for stmt in _SESSION:
            conn.execute(stmt)
        return conn

    def _masked(self, text: str) -> str:
        return execute.mask(text.strip().splitlines()[0] if text.strip() else text, self.secrets())

    def address(self) -> str:
        return self.access.address()

    def secrets(self) -> tuple[str, ...]:
        return self.access.secrets() + (self.app.secrets() if self.app else ())

    def _scalar(self, db: str, query: str) -> str:
        with self.connect(db) as conn:
            row = conn.execute(query).fetchone()
        return "" if row is None else str(row[0])

    def identity(self) -> str:
        try:
            ident = self._scalar("postgres", "SELECT system_identifier FROM pg_control_system()")
        except psycopg.Error:
            ident = "unknown"
        return f"postgres:{ident}"

    def server_version(self) -> str:
        return self._scalar("postgres", "SHOW server_version")

    def origin(self) -> Origin:
        """A standby (``pg_is_in_recovery()``) is a replica; the system identifier names
        the cluster (a physical standby shares its primary's)."""
        with self._errors("identify the server"):
            recovery = self._scalar("postgres", "SELECT pg_is_in_recovery()")
        ids: dict[str, str] = {}
        # a role without the right to read pg_control: the identity says unknown
        with contextlib.suppress(psycopg.Error):
            ids["system_identifier"] = self._scalar(
                "postgres", "SELECT system_identifier FROM pg_control_system()"
            )
        return Origin("replica" if recovery in ("True", "true", "t") else "primary", ids)

    def settings(self) -> dict[str, str]:
        """What a cluster restored in place (``pg_upgrade``) must match: checksums,
        encoding, locale and provider, WAL segment and block size."""
        with self.connect("postgres") as conn:
            row = conn.execute(_SETTINGS).fetchone()
        assert row is not None
        template1, checksums, wal_bytes, block_size, preload = row
        found = settings_of(
            template1 if isinstance(template1, dict) else {},
            checksums=str(checksums) == "on",
            wal_segment_bytes=int(str(wal_bytes)),
            block_size=int(str(block_size)),
        )
        if preload is not None:  # a restore needs these loaded (their extensions' objects)
            found[PRELOAD] = str(preload)
        return found

    def client(self) -> EngineBuild | None:
        """The client build used against this server: a sandbox's own, else one that can
        read the server's version (same major, else the nearest newer), from the catalogue."""
        if self.access.tools is not None:
            return None
        if self._client is None:
            catalogue = self._catalogue or discover(engines=["postgresql"])
            self._client = catalogue.client_for("postgresql", pg_version(self.server_version()))
        return self._client

    def client_version(self) -> str | None:
        build = self.client()
        return f"PostgreSQL {build.version} clients ({build.source})" if build else None

    def _tool(self, name: str) -> str:
        if self.access.tools is not None:
            return str(self.access.tools / name)
        build = self.client()
        assert build is not None  # access.tools is None
        return str(build.tool(name))

    def _list_databases(self) -> list[str]:
        if self.databases:
            found = self.databases
        else:
            with self.connect("postgres") as conn:
                rows = conn.execute(
                    "SELECT datname FROM pg_database WHERE datallowconn"
                    " AND datname <> 'template0' ORDER BY 1"
                ).fetchall()
            found = [str(r[0]) for r in rows]
        if self.schema:
            pg_schema.refuse_collisions(found)
        if self.backed_up is not None:  # a sandbox: its own postgres is not the source's
            found = [db for db in found if db in self.backed_up or db not in TEMPLATE_DBS]
        return found

    def _cluster_items(self) -> list[FingerprintItem]:
        if not self.schema:
            return []
        with self.connect("postgres") as conn:
            return pg_schema.cluster_items(
                conn, passwords=self.role_passwords, level=self.schema_level
            )

    # -- fingerprint ------------------------------------------------------
    def fingerprint(self) -> Fingerprint:
        with self._errors("fingerprint"):
            items: list[FingerprintItem] = self._cluster_items()
            for db in self._list_databases():
                with self.connect(db) as conn:
                    if self.backed_up is not None:  # a sandbox, idle but for this
                        items += self._fingerprint_tables_in_parallel(conn, db)
                    else:
                        items += _fingerprint_db(conn, db, self.methods)
                    if self.schema:
                        items += pg_schema.sequence_positions(conn, db)
                        items += pg_schema.schema_items(conn, db, self.schema_level)
        return Fingerprint(items)

    def _fingerprint_tables_in_parallel(
        self, conn: psycopg.Connection[tuple[object, ...]], db: str
    ) -> list[FingerprintItem]:
        """:func:`_fingerprint_db` with the tables shared among one connection per core,
        largest first: each table is still read once, by one query. Only for a sandbox:
        nothing writes to it, so what the connections read is one state."""
        tables = conn.execute(_TABLES).fetchall()
        columns = _table_columns(conn, [str(r[3]) for r in tables if r[2] == "r"])
        rows = conn.execute(
            "SELECT c.oid::text, pg_relation_size(c.oid) FROM pg_class c "
            "WHERE c.oid = ANY(%s::oid[])",
            ([str(r[3]) for r in tables],),
        ).fetchall()
        sizes = {str(oid): int(str(size)) for oid, size in rows}
        queue = sorted(tables, key=lambda r: -sizes.get(str(r[3]), 0))
        jobs = min(restore_jobs(), max(1, len(queue)))
        lock = threading.Lock()

        def work(own: psycopg.Connection[tuple[object, ...]]) -> list[FingerprintItem]:
            done: list[FingerprintItem] = []
            try:
                while True:
                    with lock:
                        if not queue:
                            return done
                        schema, rel, kind, oid = queue.pop(0)
                    name = f"{schema}.{rel}"
                    if kind == "S":  # only its presence counts (see _fingerprint_db)
                        done.append(FingerprintItem(db, name, 0, "sequence"))
                        continue
                    ident = sql.Identifier(str(schema), str(rel))
                    expected = (self.methods or {}).get((db, name))
                    cols = columns.get(str(oid), [])
                    done.append(_table_item(own, db, name, ident, cols, expected))
            except BaseException:
                with lock:
                    queue.clear()  # the others stop after their current table
                raise

        if jobs <= 1:
            return work(conn)
        with ExitStack() as held, ThreadPoolExecutor(jobs - 1) as pool:
            others = [held.enter_context(self.connect(db)) for _ in range(jobs - 1)]
            futures = [pool.submit(work, other) for other in others]
            items = work(conn)
            for future in futures:
                items += future.result()
        return items

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """A server error (a query refused, a connection lost) as one masked line."""
        try:
            yield
        except psycopg.Error as exc:
            raise ExternalError(self._masked(f"postgres {self.address()}: {what}: {exc}")) from exc

    # -- backup -----------------------------------------------------------
    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        with self._errors("backup"):
            return self._backup(out, hooks)

    def _backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        # before anything is written: which databases, and the rights to read them all
        databases, findings = pg_preflight.plan_databases(self.connect, self.databases)
        if self.schema:
            pg_schema.refuse_collisions(databases)
        pg_preflight.check_rights(self.connect, databases, role_passwords=self.role_passwords)
        if not self.role_passwords:
            findings.append(
                "role passwords are not in this backup (role_passwords: false): after a "
                "restore, every login role's password must be set again"
            )
        if PRELOAD not in self.settings():
            findings.append(
                "shared_preload_libraries not read (the backup role is neither a superuser "
                "nor a member of pg_read_all_settings): a restore must load production's, "
                "and a drill's sandbox loads none"
            )
        findings += pg_preflight.hidden_user_mappings(self.connect, databases)
        # the globals (roles, tablespaces: small) are dumped alongside the databases
        failure: list[BaseException] = []

        def dump_globals() -> None:
            try:
                findings.extend(self._dump_globals(out))
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        worker = threading.Thread(target=dump_globals, daemon=True)
        worker.start()
        try:
            items = self._cluster_items()
            dumped, note = self._backup_databases(out, hooks, databases, findings)
            items += dumped
        finally:
            worker.join()
        if failure:
            raise failure[0]
        consistent = self.snapshot
        return BackupOutput(Fingerprint(items), consistent, note, findings=tuple(findings))

    def _backup_databases(
        self, out: BackupWriter, hooks: BackupHooks, databases: list[str], findings: list[str]
    ) -> tuple[list[FingerprintItem], str]:
        """Every database's fingerprint items, and what the record's note says of when
        they were read."""
        items: list[FingerprintItem] = []
        if self.snapshot:
            with ExitStack() as held:
                exported = self._export_snapshots(databases, held)
                if exported is not None:
                    snapshots, note = exported
                    hooks.snapshot_taken()
                    for taken in snapshots:
                        items += self._backup_db_in_snapshot(out, taken, hooks, findings)
                    return items, note
            # more connections than the role or server allows: one database at a time
            for db in databases:
                with ExitStack() as held:
                    one = self._export_snapshots([db], held)
                    assert one is not None  # one connection at a time was always allowed
                    hooks.snapshot_taken()
                    items += self._backup_db_in_snapshot(out, one[0][0], hooks, findings)
            note = (
                "fingerprint and dump of each database read from its own exported snapshot, "
                "one database after another (the role or server allows too few connections "
                "to hold every database's snapshot at once)"
            )
            return items, note
        for db in databases:
            with self.connect(db) as conn:
                items += _fingerprint_db(conn, db)
                if self.schema:
                    items += pg_schema.sequence_positions(conn, db)
                    items += pg_schema.schema_items(conn, db, self.schema_level)
            hooks.fingerprinted()
            findings += self._pg_dump(out, db, snapshot=None)
        return items, "fingerprint and dump taken separately (snapshot: false)"

    def _export_snapshots(
        self, databases: list[str], held: ExitStack
    ) -> tuple[list[_Snapshot], str] | None:
        """One exported snapshot per database, all taken before any dump starts.

        PostgreSQL cannot share a snapshot between databases (importing one exported
        in another database is refused), so this is as near one point in time as it
        allows: the exports follow each other within milliseconds, each held open
        until its database is dumped, instead of each database being read when the
        dumps before it have finished."""
        taken: list[_Snapshot] = []
        first = time.monotonic()
        for db in databases:
            try:
                conn = held.enter_context(self.connect(db))
            except ExternalError as exc:
                if taken and _too_many_connections(exc):
                    return None
                raise
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            taken.append(_Snapshot(db, conn, str(row[0])))
        span_ms = (time.monotonic() - first) * 1000
        for snap in taken:
            # sequences move outside transactions: where they are before any dump starts
            snap.positions = pg_schema.sequence_positions(snap.conn, snap.db) if self.schema else []
        note = (
            f"fingerprint and dump of each database read from one exported snapshot; the "
            f"{len(taken)} databases' snapshots were exported within {span_ms:.0f} ms of each "
            "other, before any dump started (PostgreSQL cannot share one between databases)"
        )
        return taken, note

    def _backup_db_in_snapshot(
        self, out: BackupWriter, taken: _Snapshot, hooks: BackupHooks, findings: list[str]
    ) -> list[FingerprintItem]:
        conn, db, snapshot = taken.conn, taken.db, taken.snapshot
        try:
            result = list(taken.positions)
            failure: list[BaseException] = []

            def fingerprint_in_snapshot() -> None:
                try:
                    # pg_dump and its server process keep both cores of a small host
                    # busy: parallel workers would only compete with them
                    conn.execute("SET max_parallel_workers_per_gather = 0")
                    result.extend(_fingerprint_db(conn, db))
                    if self.schema:  # the catalogue as the dump's snapshot sees it
                        result.extend(pg_schema.schema_items(conn, db, self.schema_level))
                    hooks.fingerprinted()
                except BaseException as exc:  # reported by the main thread
                    failure.append(exc)

            # The dump streams while the fingerprint is computed on the other
            # connection: both read the same snapshot, wall time ~ the dump's.
            worker = threading.Thread(target=fingerprint_in_snapshot, daemon=True)
            worker.start()
            try:
                findings += self._pg_dump(out, db, snapshot=snapshot)
            except BaseException as dump_error:
                worker.join()
                # a fingerprint query that failed ends the snapshot's transaction, and
                # pg_dump then cannot import it: the query's error is the cause
                failure.append(dump_error)
            finally:
                worker.join()
            if failure:
                exc = failure[0]
                if isinstance(exc, psycopg.Error):
                    raise ExternalError(self._masked(f"fingerprint of {db}: {exc}")) from exc
                raise exc
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()  # its snapshot is not needed any more: let the server forget it

    def connection_args(self) -> list[str]:
        return [
            "-h",
            self.access.host,
            "-p",
            str(self.access.port),
            "-U",
            self.access.user,
            "--no-password",
        ]

    def _stream(
        self, out: BackupWriter, part: str, argv: list[str], *, zstd: bool = False
    ) -> list[str]:
        """Stream a tool's output into ``part``; its warnings (findings), or an error."""
        launch = execute.with_stdio_buffers(argv, stdout=zstd)
        with tempfile.TemporaryFile() as err, out.part(part) as dest:
            proc = execute.popen(
                launch, env=self.access.env(), secrets=self.secrets(), stderr=err.fileno()
            )
            assert proc.stdout is not None
            try:
                dest.copy_from(compression.compressing(proc.stdout) if zstd else proc.stdout)
            except BaseException:
                proc.kill()  # nothing reads its output any more: waiting would hang
                raise
            finally:
                code = proc.wait()
            if code != 0:
                raise ExternalError(self._tool_error(argv[0], code, err))
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
        return [
            execute.mask(w, self.secrets())
            for w in pg_preflight.warnings_of(Path(argv[0]).name, text)
        ]

    def _tool_error(self, tool: str, code: int, err: IO[bytes]) -> str:
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
        # the error itself, not the "detail:" or "Query was" lines that follow it
        errors = [line for line in lines if "error:" in line]
        shown = errors[0] if errors else (lines[-1] if lines else "")
        return execute.mask(f"{Path(tool).name} exited with {code}: {shown}", self.secrets())

    def _pg_dump(self, out: BackupWriter, db: str, snapshot: str | None) -> list[str]:
        # uncompressed: zstd in this process is several times faster than pg_dump's zlib
        argv = [
            self._tool("pg_dump"),
            "--format=custom",
            "--compress=0",
            *self.connection_args(),
            "--dbname",
            db,
        ]
        if snapshot:
            argv.append(f"--snapshot={snapshot}")
        return self._stream(out, dump_part(db), argv, zstd=True)

    def _dump_globals(self, out: BackupWriter) -> list[str]:
        # roles (with their password hashes unless the policy leaves them out: the part
        # is encrypted with the rest of the backup) and tablespaces
        argv = [
            self._tool("pg_dumpall"),
            "--globals-only",
            *([] if self.role_passwords else ["--no-role-passwords"]),
            *self.connection_args(),
            "--database",
            "postgres",
        ]
        return self._stream(out, GLOBALS_PART, argv)

    # -- restore ----------------------------------------------------------
    def derived_fingerprint(self, directory: Path) -> None:
        return None  # every backup stores its listing part

    @contextmanager
    def restore(
        self, backup: StoredBackup, engine: Engine, steps: StepClock | None = None
    ) -> Iterator[PostgresProvider]:
        if backup.version is None:
            raise EngineUnavailable(
                "engine-unavailable: the backup record does not say which PostgreSQL version "
                "it was taken of; pass --engine-version"
            )
        major = pg_version(backup.version).split(".")[0]
        preload = backup.settings.get(PRELOAD, "")
        clock = steps or StepClock()
        with ExitStack() as held:
            with clock.step("sandbox-start"):
                access = held.enter_context(
                    engine.postgres(self.access.user, major, preload=preload)
                )
            restored = PostgresProvider.restored(access, backup.fingerprint)
            restored.load(backup, clock)
            if self.app is not None:
                restored.app = replace(access, user=self.app.user, password=self.app.password)
                if not restored.role_passwords and self.app.password:
                    # the backup holds no password hashes: the documented step after a
                    # restore, then the smoke checks log in with it
                    restored.set_password(self.app.user, self.app.password)
            yield restored

    def set_password(self, role: str, password: str) -> None:
        """``ALTER ROLE ... PASSWORD``, as an operator does after restoring a backup taken
        without role passwords."""
        with self._errors(f"set the password of role {role}"), self.connect("postgres") as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )

    @classmethod
    def restored(cls, access: PostgresAccess, fingerprint: Fingerprint) -> PostgresProvider:
        """A sandbox a backup with ``fingerprint`` was restored into, fingerprinted the
        way the backup was: each table by the method it recorded, the schema items when
        it has them, and only the databases it holds (and any the sandbox gained)."""
        methods = {(i.group, i.name): i.digest.partition(":")[0] for i in fingerprint.items}
        groups = {i.group for i in fingerprint.items}
        return cls(
            access,
            methods=methods,
            # a backup taken before the schema fingerprint is compared without it
            schema=any(pg_schema.is_schema_group(g) for g in groups),
            backed_up={g.removesuffix(pg_schema.SCHEMA_SUFFIX) for g in groups},
            # the sandbox is a superuser: it reads the restored hashes when there are any
            role_passwords=any(
                i.name.startswith(pg_schema.PASSWORD_KIND) for i in fingerprint.items
            ),
            schema_level=pg_schema.level_of(fingerprint.items),
        )

    def load(self, backup: StoredBackup, steps: StepClock | None = None) -> None:
        clock = steps or StepClock()
        names = [p.name for p in backup.parts]
        if GLOBALS_PART in names:
            with clock.step("restore-globals"):
                self._load_globals(backup.directory / GLOBALS_PART)
        for name in names:
            if name.startswith("db/"):
                with clock.step(f"restore-db {part_db(name)}") as notes:
                    notes.append(self._restore_db(backup.directory, name))

    def _load_globals(self, path: Path) -> None:
        """Roles, memberships, settings, tablespaces: every statement must succeed
        (``ON_ERROR_STOP``), but for the sandbox's own superuser's (see pg_preflight)."""
        text = globals_for(path.read_text(encoding="utf-8"), self.access.user)
        with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as script:
            script.write(text)
            script.flush()
            done = execute.run(
                [
                    self._tool("psql"),
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    *self.connection_args(),
                    "-d",
                    "postgres",
                    "-f",
                    script.name,
                ],
                env=self.access.env(),
                secrets=self.secrets(),
                timeout=600,
                check=False,
            )
        self._warned("psql globals.sql", done.stderr)
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace")
            errors = [line for line in err.splitlines() if "ERROR" in line]
            raise ExternalError(
                execute.mask(
                    f"globals.sql does not restore: {(errors or ['psql failed'])[0]}",
                    self.secrets(),
                )
            )

    def _restore_db(self, directory: Path, name: str) -> str:
        """Restore one database part; how it was restored (the step's detail: the job
        count, which the benches give the bare pg_restore too)."""
        db = part_db(name)
        # every database is created by the restore as pg_dump describes it, properties
        # (settings, ACL, comment, encoding, locale) included; the sandbox's own postgres
        # and template1 are dropped first (--clean: pg_dump knows template1 must stop
        # being a template for that), from a connection to the other one
        connect_to = "template1" if db == "postgres" else "postgres"
        target = [*(["--clean"] if db in TEMPLATE_DBS else []), "--create", "-d", connect_to]
        # --no-tablespaces: production's tablespace locations do not exist in a sandbox
        argv = [
            self._tool("pg_restore"),
            *self.connection_args(),
            "--exit-on-error",
            "--no-tablespaces",
            *target,
        ]
        path = directory / name
        jobs = restore_jobs()
        how = f"pg_restore --jobs={jobs}"
        if not name.endswith(compression.SUFFIX):  # an earlier version's plain archive
            done = execute.run(
                [*argv, f"--jobs={jobs}", str(path)],
                env=self.access.env(),
                secrets=self.secrets(),
                timeout=None,
            )
        elif jobs > 1:
            # parallel jobs need the archive as a file they can seek in: the part is
            # decompressed (its whole frame and checksum checked) next to the sandbox
            with archive_file(path, name) as archive:
                done = execute.run(
                    [*argv, "--format=custom", f"--jobs={jobs}", str(archive)],
                    env=self.access.env(),
                    secrets=self.secrets(),
                    timeout=None,
                )
        else:
            # one job reads a custom-format archive from a pipe in one pass
            how = "pg_restore --jobs=1, streamed"
            with compression.decompressing(path, name) as stream:
                done = execute.feed(
                    execute.with_stdio_buffers([*argv, "--format=custom"], stdin=True),
                    stream,
                    env=self.access.env(),
                    secrets=self.secrets(),
                )
        self._warned(f"pg_restore {part_db(name)}", done.stderr)
        return how

    def _warned(self, tool: str, stderr: bytes) -> None:
        """Keep what a restore step warned about (masked), for the drill's record."""
        lines = [
            line.strip()
            for line in stderr.decode("utf-8", "replace").splitlines()
            if "warning" in line.lower()
        ]
        self.restore_warnings += tuple(
            execute.mask(f"{tool}: {line}", self.secrets()) for line in lines
        )

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, postgres=self.app or self.access)


@contextmanager
def archive_file(path: Path, name: str) -> Iterator[Path]:
    """The zstd part ``path`` decompressed into a private temporary folder (removed on
    exit, or by the next sandbox's sweep if this process is killed). Yields only once
    the whole frame and its checksum held: a damaged part is an error before any of it
    is restored."""
    root = Path(tempfile.mkdtemp(prefix="stategate-pg-restore-"))
    try:
        mark_owner(root)
        target = root / "archive.dump"
        with compression.decompressing(path, name) as stream, open(target, "wb") as out:
            while chunk := stream.read(compression.CHUNK):
                out.write(chunk)
        yield target
    finally:
        remove_sandbox(root)


def _fingerprint_db(
    conn: psycopg.Connection[tuple[object, ...]], db: str, methods: Methods | None = None
) -> list[FingerprintItem]:
    """Per table: row count and an order-free sum of 64-bit row hashes (one scan each)."""
    items = []
    tables = conn.execute(_TABLES).fetchall()
    columns = _table_columns(conn, [str(r[3]) for r in tables if r[2] == "r"])
    for schema, rel, kind, oid in tables:
        ident = sql.Identifier(str(schema), str(rel))
        name = f"{schema}.{rel}"
        if kind == "S":
            # sequences are not transactional: pg_dump reads their value outside
            # the snapshot, so only their presence is part of the fingerprint
            items.append(FingerprintItem(db, name, 0, "sequence"))
            continue
        expected = (methods or {}).get((db, name))
        items.append(_table_item(conn, db, name, ident, columns.get(str(oid), []), expected))
    return items


# Per column type, the 64-bit seeded hash of its default hash operator class (what
# hash partitioning uses) where SQL can call it on the column (through domains and
# binary-coercible casts, e.g. varchar -> text); else the generic one of its kind
# (enum, range, composite, array of hashable elements); else none, and the column's
# text output is hashed instead.
_TYPE_HASHES = """
WITH RECURSIVE chain(typ, cur) AS (
  SELECT t.oid, t.oid FROM pg_type t WHERE t.oid = ANY(%s::oid[])
  UNION ALL
  SELECT c.typ, t.typbasetype FROM chain c JOIN pg_type t ON t.oid = c.cur WHERE t.typtype = 'd'
),
hashers AS (
  SELECT oc.opcintype AS typ, ap.amproc, p.proargtypes[0] AS arg
  FROM pg_opclass oc
  JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
  JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily AND ap.amprocnum = 2
    AND ap.amproclefttype = oc.opcintype AND ap.amprocrighttype = oc.opcintype
  JOIN pg_proc p ON p.oid = ap.amproc
  WHERE oc.opcdefault
)
SELECT c.typ::text,
  (SELECT ARRAY[h.amproc::regproc::text, CASE WHEN h.arg <> b.oid THEN
     (SELECT quote_ident(n.nspname) || '.' || quote_ident(a.typname)
      FROM pg_type a JOIN pg_namespace n ON n.oid = a.typnamespace WHERE a.oid = h.arg) END]
   FROM hashers h
   WHERE h.arg = b.oid OR EXISTS (
     SELECT 1 FROM pg_cast k WHERE k.castsource = b.oid AND k.casttarget = h.arg
     AND k.castmethod = 'b' AND (h.typ = b.oid OR h.typ = h.arg))
   ORDER BY h.arg = b.oid DESC, h.typ = b.oid DESC, h.arg LIMIT 1),
  b.typtype::text,
  b.typcategory = 'A' AND EXISTS (SELECT 1 FROM hashers h WHERE h.typ = b.typelem),
  CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace THEN b.typname::text END
FROM chain c JOIN pg_type b ON b.oid = c.cur
WHERE b.typtype <> 'd'
"""

_KIND_HASHES = {
    "e": "hashenumextended",
    "r": "hash_range_extended",
    "m": "hash_multirange_extended",
    "c": "hash_record_extended",
}

_COLUMNS = """
SELECT a.attrelid::text, a.attname, a.atttypid::text, a.attnotnull
FROM pg_attribute a
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""


# (hash function, type to cast the column to first, or None); None: hash the text
Hasher = tuple[str, str | None] | None


class Column(NamedTuple):
    name: str
    hasher: Hasher  # the "cols" method of earlier versions (their backups still compare)
    not_null: bool  # coalesce() is skipped: same value, a little less work per row
    base: str | None = None  # the built-in type under any domains (``int4``), else None


def _table_columns(
    conn: psycopg.Connection[tuple[object, ...]], oids: list[str]
) -> dict[str, list[Column]]:
    """Per table oid: its live columns in order, each with how to hash it."""
    if not oids:
        return {}
    rows = conn.execute(_COLUMNS, (oids,)).fetchall()
    types = sorted({str(r[2]) for r in rows})
    hashes: dict[str, Hasher] = {}
    bases: dict[str, str] = {}
    for typ, found, kind, hashable_array, base in conn.execute(_TYPE_HASHES, (types,)).fetchall():
        if base is not None:
            bases[str(typ)] = str(base)
        if isinstance(found, list) and len(found) == 2:
            hashes[str(typ)] = (str(found[0]), str(found[1]) if found[1] else None)
        elif hashable_array:
            hashes[str(typ)] = ("hash_array_extended", None)
        elif str(kind) in _KIND_HASHES:
            hashes[str(typ)] = (_KIND_HASHES[str(kind)], None)
    out: dict[str, list[Column]] = {}
    for relid, attname, typ, not_null in rows:
        column = Column(str(attname), hashes.get(str(typ)), bool(not_null), bases.get(str(typ)))
        out.setdefault(str(relid), []).append(column)
    return out


def _row_hash(columns: list[Column]) -> sql.Composable:
    """One 64-bit hash per row: per-column seeded hashes, xor-ed, then mixed again.

    The seed is the column's position, so equal values in different columns (or a
    swap between them) hash differently; the final mix makes the row hash a
    non-linear function of its columns, so a sum over rows also catches values
    swapped between rows, not only changed ones. NULL contributes 0.
    """
    terms: list[sql.Composable] = []
    for seed, (name, hasher, not_null, _base) in enumerate(columns, start=1):
        col: sql.Composable = sql.SQL("t.{}").format(sql.Identifier(name))
        if hasher is None:
            fn, col = "hashtextextended", sql.SQL("{}::text").format(col)
        else:
            fn, cast = hasher
            # a schema-qualified, quoted name (never a typmod: `character` alone would be
            # char(1)), only where the function takes another, binary-coercible type
            if cast:
                col = sql.SQL("{}::{}").format(col, sql.SQL(cast))
        call = sql.SQL("{}({}, {})").format(sql.SQL(fn), col, sql.Literal(seed))
        terms.append(call if not_null else sql.SQL("coalesce({}, 0)").format(call))
    if not terms:
        terms = [sql.SQL("0::bigint")]
    return sql.SQL("hashint8extended({}, 0)").format(sql.SQL(" # ").join(terms))


# The "portable" method: a column of one of these built-in types is hashed by the
# type's own function, which exists under the same name and gives the same result in
# every major from 13 to 18 (measured), and tells apart every two values that print
# differently. Every other column is hashed through its text output, byte by byte
# (collation "C"): the type's own hash would treat 1.50 and 1.5000, 0 and -0, '1 day'
# and '24 hours', or two spellings under a case-insensitive collation as equal, and it
# changes between majors (bytea, timestamptz, date, bool got their own functions in 17
# and 18). Text output is pinned by the session settings above.
_PORTABLE_HASHES = {
    "int2": "hashint2extended",
    "int4": "hashint4extended",
    "int8": "hashint8extended",
    "oid": "hashoidextended",
    "uuid": "uuid_hash_extended",
    "timestamp": "timestamp_hash_extended",
}


def _portable_row_hash(columns: list[Column]) -> sql.Composable:
    """Like :func:`_row_hash` (seeded per column, xor-ed, mixed again), with hashes that
    are the same on every supported major and as discriminating as the text."""
    terms: list[sql.Composable] = []
    for seed, column in enumerate(columns, start=1):
        col = sql.SQL("t.{}").format(sql.Identifier(column.name))
        fn = _PORTABLE_HASHES.get(column.base or "")
        if fn is None:
            call = sql.SQL('hashtextextended({}::text COLLATE "C", {})').format(
                col, sql.Literal(seed)
            )
        else:
            call = sql.SQL("{}({}, {})").format(sql.SQL(fn), col, sql.Literal(seed))
        terms.append(call if column.not_null else sql.SQL("coalesce({}, 0)").format(call))
    if not terms:
        terms = [sql.SQL("0::bigint")]
    return sql.SQL("hashint8extended({}, 0)").format(sql.SQL(" # ").join(terms))


# Row hash expressions by method tag (the tag prefixes the table's digest). "record"
# and "text" are what earlier versions recorded: kept so that a drill of an older
# backup recomputes the same sums instead of failing on a changed definition.
_ROW_TEXT = sql.SQL("hashtextextended(t::text, 0)")
_LEGACY = {
    "record": sql.SQL("hash_record(t)::bigint"),
    "text": sql.SQL("hashtext(t::text)::bigint"),
}


def _table_item(
    conn: psycopg.Connection[tuple[object, ...]],
    db: str,
    name: str,
    ident: sql.Identifier,
    columns: list[Column],
    expected: str | None = None,
) -> FingerprintItem:
    """Row count and sum of row hashes, per column (~2x faster than hashing the whole
    row's text, which is the fallback); the method is part of the digest. New backups
    use "portable", which gives the same digest on every supported major, so a restore
    into the target version of an upgrade compares with its source. ``expected``: the
    method the backup recorded for this table, tried first (a restored copy must be
    hashed the way its source was; "cols" is what earlier versions recorded)."""
    methods: list[tuple[str, sql.Composable]] = [
        ("portable", _portable_row_hash(columns)),
        ("rowtext", _ROW_TEXT),
    ]
    if expected == "cols":
        methods.insert(0, ("cols", _row_hash(columns)))
    if expected in _LEGACY:
        methods.insert(0, (expected, _LEGACY[expected]))
    elif expected:
        methods.sort(key=lambda m: m[0] != expected)
    for method, expr in methods:
        query = sql.SQL("SELECT count(*), coalesce(sum({}), 0) FROM ONLY {} AS t").format(
            expr, ident
        )
        try:
            with conn.transaction():  # a savepoint: a type without hashing must not abort
                row = conn.execute(query).fetchone()
        except (psycopg.errors.UndefinedFunction, psycopg.errors.FeatureNotSupported):
            continue
        assert row is not None
        return FingerprintItem(db, name, int(str(row[0])), f"{method}:{row[1]}")
    raise ExternalError(f"postgres: cannot fingerprint table {db}/{name}")
