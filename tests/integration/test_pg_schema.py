"""A PostgreSQL drill verifies the schema and configuration, not only the rows.

A real source cluster (PostgreSQL 15) holds what a restore can lose: roles with
grants and memberships, RLS and a policy, a function and a trigger, a view, indexes,
constraints, comments, a sequence, a large object, database and role settings,
default privileges. The backup restores into a sandbox and compares as a match; then
each kind of object is removed or altered in the sandbox, and the comparison names
the object that is gone or differs.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from stategate.engines import discover
from stategate.evidence.records.predicates import BackupPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import drilled
from stategate.providers import pg_schema
from stategate.providers.access import PostgresAccess
from stategate.providers.config import PostgresSource
from stategate.providers.fingerprint import Fingerprint, compare
from stategate.providers.postgres import PostgresProvider
from stategate.sandbox.select import engine_for
from stategate.sandbox.servers import LocalPostgres

from .conftest import Workspace

pytestmark = pytest.mark.integration

SOURCE = """
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_user LOGIN PASSWORD 'not-in-any-output' CONNECTION LIMIT 20;
CREATE ROLE auditors NOLOGIN;
GRANT auditors TO app_user;
ALTER ROLE app_user SET statement_timeout = '5s';
ALTER DATABASE postgres SET work_mem = '6MB';
COMMENT ON DATABASE postgres IS 'the maintenance database';
GRANT CREATE ON DATABASE postgres TO app_user;
ALTER DATABASE template1 SET search_path = 'public, sales';
"""

DATABASE = """
ALTER DATABASE shop SET work_mem = '8MB';
COMMENT ON DATABASE shop IS 'the shop';
CREATE SCHEMA sales AUTHORIZATION app_owner;
COMMENT ON SCHEMA sales IS 'orders and the like';
ALTER DEFAULT PRIVILEGES IN SCHEMA sales GRANT SELECT ON TABLES TO auditors;
CREATE TYPE sales.state AS ENUM ('new', 'paid', 'sent');
CREATE TABLE sales.orders (
  id bigserial PRIMARY KEY,
  customer text NOT NULL CHECK (customer <> ''),
  total numeric(12, 2) NOT NULL DEFAULT 0,
  state sales.state NOT NULL DEFAULT 'new',
  tenant int NOT NULL,
  touched timestamptz
);
COMMENT ON COLUMN sales.orders.total IS 'in cents';
CREATE INDEX orders_customer ON sales.orders (lower(customer));
CREATE TABLE sales.lines (order_id bigint REFERENCES sales.orders (id), sku text);
ALTER TABLE sales.orders OWNER TO app_owner;
GRANT SELECT, INSERT ON sales.orders TO app_user;
GRANT USAGE ON SCHEMA sales TO app_user;
ALTER TABLE sales.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_only ON sales.orders TO app_user
  USING (tenant = current_setting('app.tenant')::int);
CREATE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := now(); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON sales.orders
  FOR EACH ROW EXECUTE FUNCTION sales.touch();
CREATE VIEW sales.paid AS SELECT id, total FROM sales.orders WHERE state = 'paid';
INSERT INTO sales.orders (customer, total, state, tenant)
  SELECT 'c' || i, i * 1.5, 'paid', i % 3 FROM generate_series(1, 50) i;
SELECT lo_from_bytea(4242, 'an invoice scan');
CREATE FUNCTION sales.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
CREATE EVENT TRIGGER ddl_watch ON ddl_command_end EXECUTE FUNCTION sales.on_ddl();
CREATE PUBLICATION orders_pub FOR TABLE sales.orders;
CREATE PUBLICATION other_pub FOR TABLE sales.lines;
CREATE SUBSCRIPTION orders_sub CONNECTION 'dbname=nowhere' PUBLICATION orders_pub
  WITH (connect = false);
CREATE TEXT SEARCH CONFIGURATION sales.english_simple (COPY = pg_catalog.english);
CREATE TEXT SEARCH DICTIONARY sales.simple_dict (TEMPLATE = pg_catalog.simple, STOPWORDS = english);
CREATE FUNCTION sales.state_text(sales.state) RETURNS text LANGUAGE sql IMMUTABLE
  AS 'SELECT format(''%s'', $1)';
CREATE CAST (sales.state AS text) WITH FUNCTION sales.state_text(sales.state);
CREATE FUNCTION sales.near(int, int) RETURNS bool LANGUAGE sql IMMUTABLE
  AS 'SELECT abs($1 - $2) < 2';
CREATE OPERATOR sales.~~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = sales.near);
CREATE OPERATOR CLASS sales.int_hash_ops FOR TYPE int USING hash AS
  OPERATOR 1 = , FUNCTION 1 hashint4(int);
CREATE COLLATION sales.plain (provider = libc, locale = 'C');
CREATE STATISTICS sales.orders_stats (dependencies) ON customer, tenant FROM sales.orders;
CREATE FOREIGN DATA WRAPPER dummy;
CREATE SERVER far FOREIGN DATA WRAPPER dummy OPTIONS (host 'far.example');
CREATE USER MAPPING FOR app_user SERVER far OPTIONS (user 'u', password 'not-in-any-output');
CREATE DOMAIN sales.positive AS int DEFAULT 1 CHECK (VALUE > 0);
CREATE TABLE sales.base (id int);
CREATE TABLE sales.child (extra text) INHERITS (sales.base);
ALTER TABLE sales.orders ALTER customer SET STATISTICS 500;
ALTER TABLE sales.orders ALTER customer SET COMPRESSION pglz;
CREATE AGGREGATE sales.total_sum(numeric) (SFUNC = numeric_add, STYPE = numeric,
  COMBINEFUNC = numeric_add, PARALLEL = SAFE);
CREATE FUNCTION sales.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE sales.events (at date, v int) PARTITION BY RANGE (at);
CREATE TABLE sales.events_2024 PARTITION OF sales.events
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TRIGGER events_noop BEFORE INSERT ON sales.events
  FOR EACH ROW EXECUTE FUNCTION sales.noop();
ALTER TABLE sales.events_2024 DISABLE TRIGGER events_noop;
CREATE EXTENSION pgcrypto;
REVOKE EXECUTE ON FUNCTION public.digest(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.digest(text, text) TO app_user;
-- a grant put back to its default: no change pg_dump writes, none the drill may see
REVOKE EXECUTE ON FUNCTION public.gen_random_bytes(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.gen_random_bytes(int) TO PUBLIC;
"""

# (statement run in the sandbox after the restore, the item the drill must name)
REMOVALS = [
    ("DROP TRIGGER orders_touch ON sales.orders", "trigger sales.orders.orders_touch: missing"),
    ("DROP POLICY tenant_only ON sales.orders", "policy sales.orders.tenant_only: missing"),
    ("ALTER TABLE sales.orders DISABLE ROW LEVEL SECURITY", "relation sales.orders: content"),
    ("REVOKE USAGE ON SCHEMA sales FROM app_user", "schema sales: content"),
    ("DROP VIEW sales.paid", "relation sales.paid: missing"),
    ("DROP INDEX sales.orders_customer", "index sales.orders_customer: missing"),
    (
        "ALTER TABLE sales.lines DROP CONSTRAINT lines_order_id_fkey",
        "constraint sales.lines.lines_order_id_fkey: missing",
    ),
    ("ALTER TABLE sales.orders ALTER total DROP DEFAULT", "default sales.orders.total: missing"),
    ("COMMENT ON COLUMN sales.orders.total IS NULL", "column sales.orders.total: content"),
    ("ALTER SEQUENCE sales.orders_id_seq RESTART WITH 1", "sequence sales.orders_id_seq: behind"),
    ("SELECT lo_unlink(4242)", "large object 4242: missing"),
    ("ALTER DATABASE shop RESET work_mem", "database shop: content"),
    ("ALTER DEFAULT PRIVILEGES IN SCHEMA sales REVOKE SELECT ON TABLES FROM auditors",
     "default privileges"),
    ("ALTER FUNCTION sales.touch() OWNER TO app_owner", "function privileges sales.touch(): content"),
    ("CREATE OR REPLACE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS "
     "$$ BEGIN RETURN NEW; END $$", "function sales.touch(): content"),
    ("ALTER TYPE sales.state ADD VALUE 'lost'", "type sales.state: content"),
    ("REVOKE auditors FROM app_user", "(cluster)/membership app_user in auditors granted by"),
    ("ALTER ROLE app_user RESET statement_timeout", "(cluster)/role settings app_user: missing"),
    ("ALTER ROLE app_user CONNECTION LIMIT 5", "(cluster)/role app_user: content"),
    ("DROP TABLE sales.lines", "shop (schema)/relation sales.lines: missing"),
    # level 2: the further kinds a restore can lose
    ("DROP EVENT TRIGGER ddl_watch", "event trigger ddl_watch: missing"),
    ("ALTER PUBLICATION orders_pub DROP TABLE sales.orders", "publication orders_pub: content"),
    ("ALTER SUBSCRIPTION orders_sub SET PUBLICATION other_pub WITH (refresh = false)",
     "subscription orders_sub: content"),
    ("DROP TEXT SEARCH CONFIGURATION sales.english_simple",
     "text search configuration sales.english_simple: missing"),
    ("ALTER TEXT SEARCH DICTIONARY sales.simple_dict (STOPWORDS = french)",
     "text search dictionary sales.simple_dict: content"),
    ("DROP CAST (sales.state AS text)", "cast sales.state as text: missing"),
    ("DROP OPERATOR sales.~~~ (int, int)", "operator sales.~~~(integer, integer): missing"),
    ("DROP OPERATOR CLASS sales.int_hash_ops USING hash",
     "operator class sales.int_hash_ops using hash: missing"),
    ("DROP COLLATION sales.plain", "collation sales.plain: missing"),
    ("DROP STATISTICS sales.orders_stats", "statistics sales.orders_stats: missing"),
    ("ALTER SERVER far OPTIONS (SET host 'near.example')", "foreign server far: content"),
    ("DROP USER MAPPING FOR app_user SERVER far", "user mapping app_user on far: missing"),
    ("ALTER DOMAIN sales.positive DROP DEFAULT", "domain default sales.positive: missing"),
    ("ALTER TABLE sales.child NO INHERIT sales.base", "inheritance sales.child: missing"),
    ("ALTER TABLE sales.orders ALTER customer SET STATISTICS -1",
     "column details sales.orders.customer: content"),
    ("ALTER TABLE sales.orders ALTER customer SET COMPRESSION default",
     "column details sales.orders.customer: missing"),
    ("ALTER SEQUENCE sales.orders_id_seq OWNED BY NONE",
     "sequence owner sales.orders_id_seq: missing"),
    ("CREATE OR REPLACE AGGREGATE sales.total_sum(numeric) (SFUNC = numeric_add, "
     "STYPE = numeric)", "aggregate details sales.total_sum(numeric): content"),
    ("ALTER TABLE sales.events_2024 ENABLE TRIGGER events_noop",
     "partition trigger state sales.events_2024.events_noop: content"),
    ("GRANT EXECUTE ON FUNCTION public.digest(text, text) TO PUBLIC",
     "extension members' grants pgcrypto: content"),
    # the properties of the databases a restore cannot create anew (postgres, template1)
    ("ALTER DATABASE postgres RESET work_mem", "postgres (schema)/database postgres: content"),
    ("ALTER DATABASE template1 RESET search_path", "template1 (schema)/database template1"),
]  # fmt: skip


def _connect(access: PostgresAccess, db: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=access.host, port=access.port, user=access.user, dbname=db, autocommit=True
    )


@pytest.fixture(scope="module")
def source() -> Iterator[PostgresAccess]:
    with LocalPostgres(bin_dir=discover().require("postgresql", "15").path) as access:
        with _connect(access, "postgres") as conn:
            conn.execute(SOURCE)
            conn.execute("CREATE DATABASE shop")
        with _connect(access, "shop") as conn:
            conn.execute(DATABASE)
        yield access


def test_a_restore_matches_and_every_removed_object_is_named(
    workspace: Workspace, source: PostgresAccess
) -> None:
    config = PostgresSource(host=source.host, port=source.port, user=source.user)
    ctx = workspace.context("data/postgres", config)
    backup = run_backup(ctx)
    pred = backup.statement.predicate
    assert isinstance(pred, BackupPredicate) and pred.result == "pass", pred.reason
    groups = set(pred.fingerprint.groups) if pred.fingerprint else set()
    assert {"shop", "shop (schema)", "postgres (schema)", "(cluster)"} <= groups
    expected = PostgresProvider(source).fingerprint()
    engine = engine_for(config.sandbox, override="local")
    with drilled(ctx, backup, engine) as done:
        comparison = done.outcome.comparison
        assert comparison is not None and comparison.match, comparison and comparison.examples
        assert done.box is not None
        sandbox = done.box.provider
        assert isinstance(sandbox, PostgresProvider)
        # a backup from before level 2 (no level item): its sandbox is read at level 1
        level_2 = {q.kind for q in pg_schema._QUERIES if q.level == 2} - {
            q.kind for q in pg_schema._QUERIES if q.level == 1
        }
        older = Fingerprint(
            i
            for i in expected.items
            if i.name != pg_schema.LEVEL_ITEM
            and not any(i.name.startswith(kind + " ") for kind in level_2)
        )
        assert len(older.items) < len(expected.items)
        as_old = PostgresProvider.restored(sandbox.access, older).fingerprint()
        old_match = compare(older, as_old)
        assert old_match.match, old_match.examples
        before: set[str] = set()
        for statement, named in REMOVALS:
            db = "postgres" if "ROLE" in statement or "REVOKE auditors" in statement else "shop"
            with _connect(sandbox.access, db) as conn:
                conn.execute(statement)
            found = compare(expected, sandbox.fingerprint(), examples=1000)
            assert not found.match
            new = set(found.examples) - before  # what this change, and only it, made differ
            assert any(named in line for line in new), (statement, sorted(new))
            before |= new
