"""PostgreSQL: what a backup must hold, checked before anything is written, and what
its tools said.

* **Every database.** Without a ``databases:`` list, every database but ``template0``
  is dumped, ``template1`` and other templates included; one that refuses connections
  (``ALLOW_CONNECTIONS false``) cannot be dumped, so the backup fails and says so. With
  a list, every other database holding anything is a finding in the record.
* **The rights to read it all.** A role that is neither a superuser nor a member of
  ``pg_read_all_data`` must be able to read every table, sequence and schema; what it
  cannot read is named before anything is written. Role passwords (``pg_authid``) need
  a superuser, unless the policy leaves them out (``role_passwords: false``).
* **Nothing swallowed.** Every warning of ``pg_dump`` and ``pg_dumpall`` is kept as a
  finding; one that says something was left out (not dumped, permission denied,
  skipped) fails the backup with it.
* **Globals that restore.** ``globals.sql`` is run with ``ON_ERROR_STOP``; the lines
  that create or alter the connecting role are left out, as the sandbox's superuser is
  that role (a non-superuser backup role would otherwise demote it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import psycopg

from stategate.errors import ExternalError

Conn = psycopg.Connection[tuple[object, ...]]
Connect = Callable[[str], AbstractContextManager[Conn]]

IN_PLACE_DBS = ("postgres", "template1")  # restored into the sandbox's own, not created
_SHOWN = 5  # names listed in a message

_DATABASES = "SELECT datname, datallowconn FROM pg_database WHERE datname <> 'template0' ORDER BY 1"

_USER_OBJECTS = """
SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%')
  OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
"""

_ROLE = """
SELECT rolsuper, CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_read_all_data')
  THEN pg_has_role(current_user, 'pg_read_all_data', 'MEMBER') ELSE false END
FROM pg_roles WHERE rolname = current_user
"""

_UNREADABLE = """
SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'SELECT')
               ELSE has_table_privilege(c.oid, 'SELECT') END
UNION ALL
SELECT format('schema %I', n.nspname) FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND NOT has_schema_privilege(n.oid, 'USAGE')
ORDER BY 1
"""

_UNREADABLE_LOS = """
SELECT m.oid::text FROM pg_largeobject_metadata m
WHERE current_setting('lo_compat_privileges') <> 'on'
  AND NOT pg_has_role(current_user, m.lomowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM aclexplode(m.lomacl) x WHERE x.privilege_type = 'SELECT'
                  AND (x.grantee = 0 OR pg_has_role(current_user, x.grantee, 'USAGE')))
ORDER BY m.oid
"""

# a warning that says something is not in the dump
_MISSING = re.compile(
    r"not dumped|will not be dumped|permission denied|skipp|could not|no privilege|"
    r"not supported|ignored",
    re.IGNORECASE,
)


def plan_databases(connect: Connect, listed: Sequence[str]) -> tuple[list[str], list[str]]:
    """The databases to dump, and the findings about the others."""
    with connect("postgres") as conn:
        rows = [(str(name), bool(allowed)) for name, allowed in conn.execute(_DATABASES)]
    refusing = [name for name, allowed in rows if not allowed]
    if not listed:
        if refusing:
            raise ExternalError(
                f"postgres: database {refusing[0]} does not allow connections "
                "(ALLOW_CONNECTIONS false), so it cannot be dumped: allow them for the "
                "backup, or list the databases to back up (databases:) to leave it out "
                "knowingly"
            )
        return [name for name, _allowed in rows], []
    wanted = set(listed)
    closed = [name for name in refusing if name in wanted]
    if closed:
        raise ExternalError(
            f"postgres: database {closed[0]} does not allow connections "
            "(ALLOW_CONNECTIONS false), so it cannot be dumped"
        )
    findings: list[str] = []
    for name, allowed in rows:
        if name in wanted:
            continue
        if not allowed:
            findings.append(
                f"database {name} is not backed up (not in databases:, and it refuses connections)"
            )
        elif name not in IN_PLACE_DBS or _holds_objects(connect, name):
            findings.append(f"database {name} is not backed up (not in databases:)")
    return list(listed), findings


def _holds_objects(connect: Connect, db: str) -> bool:
    with connect(db) as conn:
        row = conn.execute(_USER_OBJECTS).fetchone()
    return bool(row and row[0])


def check_rights(connect: Connect, databases: Sequence[str], *, role_passwords: bool) -> None:
    """Refuse, before anything is written, a role that cannot read what it must dump."""
    with connect("postgres") as conn:
        row = conn.execute(_ROLE).fetchone()
        user = str(conn.info.user)
    superuser, read_all = (bool(row[0]), bool(row[1])) if row else (False, False)
    if role_passwords and not superuser:
        raise ExternalError(
            f"postgres: role {user} is not a superuser, so pg_dumpall cannot read the role "
            "passwords (pg_authid): back up as a superuser, or set role_passwords: false to "
            "leave them out knowingly (they must then be set again after a restore)"
        )
    if superuser:
        return
    unreadable: list[str] = []
    for db in databases:
        with connect(db) as conn:
            if not read_all:
                unreadable += [f"{db}/{r[0]}" for r in conn.execute(_UNREADABLE).fetchall()]
            # pg_read_all_data does not cover large objects
            unreadable += [f"{db}/large object {r[0]}" for r in conn.execute(_UNREADABLE_LOS)]
    if unreadable:
        more = f" and {len(unreadable) - _SHOWN} more" if len(unreadable) > _SHOWN else ""
        raise ExternalError(
            f"postgres: role {user} cannot read {', '.join(unreadable[:_SHOWN])}{more}: grant "
            "it pg_read_all_data (PostgreSQL 14 and later) or SELECT and USAGE on them, or "
            "back up as a superuser"
        )


# the user mappings whose options the connected role cannot see (pg_user_mappings shows
# them to a superuser, the mapped user, or the server's owner, with USAGE on it): pg_dump
# writes those mappings without their options, and says nothing
_HIDDEN_MAPPINGS = """
SELECT format('%s on %s', COALESCE(m.usename, 'public'), m.srvname) FROM pg_user_mappings m
JOIN pg_foreign_server s ON s.oid = m.srvid
WHERE NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
  AND m.umoptions IS NULL
  AND NOT ((m.umuser = 0 OR m.usename = current_user OR pg_get_userbyid(s.srvowner) = current_user)
           AND has_server_privilege(s.oid, 'USAGE'))
ORDER BY 1
"""


def hidden_user_mappings(connect: Connect, databases: Sequence[str]) -> list[str]:
    """A finding per database holding user mappings whose options (a remote user and
    password, typically) the backup role cannot read: the restore has them without."""
    findings: list[str] = []
    for db in databases:
        with connect(db) as conn:
            hidden = [str(r[0]) for r in conn.execute(_HIDDEN_MAPPINGS).fetchall()]
        if hidden:
            findings.append(
                f"database {db}: the options of user mapping(s) {', '.join(hidden[:_SHOWN])} "
                "are not readable by the backup role (not a superuser): the backup holds "
                "those mappings without them; set them again after a restore"
            )
    return findings


def warnings_of(tool: str, stderr: str) -> list[str]:
    """Every warning a dump tool printed, as findings; one that says something was left
    out fails the backup."""
    found: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        if "warning:" not in text.lower():
            continue
        if _MISSING.search(text):
            raise ExternalError(f"{tool} left something out: {text}")
        found.append(f"{tool}: {text}")
    return found


_ROLE_LINE = re.compile(
    r'^(?:CREATE ROLE (?P<c>"(?:[^"]|"")*"|[^\s;"]+);|ALTER ROLE (?P<a>"(?:[^"]|"")*"|[^\s;"]+) WITH )'
)


def _ident(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


_TABLESPACE_LINE = re.compile(
    r"^(?:CREATE|ALTER|COMMENT ON|(?:GRANT|REVOKE) .* ON) TABLESPACE ", re.IGNORECASE
)


def globals_for(text: str, user: str) -> str:
    """``globals.sql`` for a sandbox whose superuser is ``user``: without the lines that
    create that role or set its attributes, and without tablespaces (their locations are
    production's; the sandbox restores everything into its default one). Everything
    else, that role's memberships and settings included, is kept."""
    kept = []
    for line in text.splitlines(keepends=True):
        match = _ROLE_LINE.match(line)
        if match and _ident(match.group("c") or match.group("a")) == user:
            continue
        if _TABLESPACE_LINE.match(line):
            continue
        kept.append(line)
    return "".join(kept)
