"""What pg_restore and psql warn about while a sandbox is restored is kept, masked, for
the drill's record; their other output is not."""

from __future__ import annotations

from stategate.providers.access import PostgresAccess
from stategate.providers.postgres import PostgresProvider


def test_warning_lines_are_kept_masked_and_nothing_else() -> None:
    sandbox = PostgresProvider(PostgresAccess("/tmp/sock", 5432, "postgres", "s3cret-pw"))
    stderr = (
        b"pg_restore: warning: errors ignored on restore: 1\n"
        b"pg_restore: connecting to database for restore\n"
        b"WARNING:  role s3cret-pw does not exist\n"
    )
    sandbox._warned("pg_restore shop", stderr)
    assert sandbox.restore_warnings == (
        "pg_restore shop: pg_restore: warning: errors ignored on restore: 1",
        "pg_restore shop: WARNING:  role *** does not exist",
    )
    sandbox._warned("psql globals.sql", b"")
    assert len(sandbox.restore_warnings) == 2
