"""The pure parts of the PostgreSQL preflight: tool warnings, and globals for a sandbox."""

from __future__ import annotations

import pytest

from stategate.errors import ExternalError
from stategate.providers.pg_preflight import globals_for, warnings_of


def test_warnings_are_findings_and_a_warning_of_something_left_out_fails() -> None:
    assert warnings_of("pg_dump", "") == []
    stderr = "pg_dump: warning: there are circular foreign-key constraints on this table:\n"
    assert warnings_of("pg_dump", stderr + "pg_dump: detail: a\n") == [
        "pg_dump: pg_dump: warning: there are circular foreign-key constraints on this table:"
    ]
    for line in (
        "pg_dump: warning: subscriptions not dumped because current user is not a superuser",
        "pg_dumpall: WARNING: permission denied for table x",
        "pg_dump: warning: skipping large object 42",
        "pg_dump: warning: could not read the comment",
    ):
        with pytest.raises(ExternalError) as caught:
            warnings_of("pg_dump", f"ok\n{line}\n")
        assert str(caught.value) == f"pg_dump left something out: {line}"


def test_globals_for_a_sandbox_leave_out_only_its_superusers_create_and_attributes() -> None:
    text = (
        "CREATE ROLE app;\n"
        "ALTER ROLE app WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$x';\n"
        'CREATE ROLE "we""ird one";\n'
        'ALTER ROLE "we""ird one" WITH LOGIN;\n'
        "ALTER ROLE app SET work_mem TO '1MB';\n"
        "CREATE ROLE application;\n"
        "GRANT application TO app;\n"
    )
    assert globals_for(text, "app") == (
        'CREATE ROLE "we""ird one";\n'
        'ALTER ROLE "we""ird one" WITH LOGIN;\n'
        "ALTER ROLE app SET work_mem TO '1MB';\n"
        "CREATE ROLE application;\n"
        "GRANT application TO app;\n"
    )
    kept = globals_for(text, 'we"ird one')
    assert '"we""ird one"' not in kept and kept.startswith("CREATE ROLE app;\n")
    assert globals_for(text, "nobody") == text


def test_globals_for_a_sandbox_leave_out_production_tablespaces() -> None:
    text = (
        "CREATE ROLE app;\n"
        "CREATE TABLESPACE fast OWNER app LOCATION '/srv/fast';\n"
        "ALTER TABLESPACE fast SET (random_page_cost=1.1);\n"
        "GRANT ALL ON TABLESPACE fast TO app;\n"
        "COMMENT ON TABLESPACE fast IS 'ssd';\n"
        "GRANT application TO app;\n"
    )
    assert globals_for(text, "postgres") == "CREATE ROLE app;\nGRANT application TO app;\n"
