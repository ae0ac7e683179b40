"""PostgreSQL: the schema and configuration fingerprint beside the data fingerprint.

A restore that brings back every row can still lose what makes the database work:
a trigger, a function, an RLS policy, a grant, an owner, a comment, a sequence's
position, a large object, a database setting, a role or a membership. Each of
these becomes one fingerprint item whose digest is the SHA-256 of its definition as
the server prints it (``pg_get_indexdef``, ``pg_get_functiondef``, ``format_type``,
ACLs as text), read with ``search_path = ''`` so every name is schema-qualified on
both sides. A drill compares them as it compares tables, and names the object that
is missing or differs: ``app (schema)/trigger public.orders.audit: missing after
restore``.

Items of a database go to the group ``<db> (schema)``; roles, memberships and role
settings of the whole cluster to ``(cluster)``. A database whose name would collide
with such a group is refused. Objects that belong to an extension are covered by the
extension's item (name, version, schema), not one by one; the connecting role and
the built-in ``pg_*`` roles are left out (a sandbox's superuser is its own).

A sequence's position is read before ``pg_dump`` starts, and a restored sequence
matches when it is at least there (``at-least:<n>``): sequences move outside
transactions, so the dump may hold a later value, never an earlier one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import psycopg

from stategate.errors import ExternalError
from stategate.providers.fingerprint import AT_LEAST, FingerprintItem, printed_digest
from stategate.providers.pg_preflight import IN_PLACE_DBS

CLUSTER_GROUP = "(cluster)"
SCHEMA_SUFFIX = " (schema)"

Conn = psycopg.Connection[tuple[object, ...]]

_USER_NS = """
  n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
"""


def _not_in_extension(catalog: str, column: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '{catalog}'::regclass "
        f"AND dep.objid = {column} AND dep.deptype = 'e')"
    )


def _acl(acl: str, kind: str, owner: str) -> str:
    """An ACL as sorted ``grantee:PRIVILEGE[*] by grantor`` entries, the built-in default
    when none is set (so an explicit default equals none), without ``MAINTAIN`` (which
    PostgreSQL 17 added to every owner's default: a restore into 17 or later has it)."""
    return f"""(SELECT string_agg(e.entry, ',' ORDER BY e.entry) FROM (
      SELECT format('%s:%s%s by %s',
        CASE WHEN x.grantee = 0 THEN 'public' ELSE pg_get_userbyid(x.grantee) END,
        x.privilege_type, CASE WHEN x.is_grantable THEN '*' ELSE '' END,
        pg_get_userbyid(x.grantor)) AS entry
      FROM aclexplode(COALESCE({acl}, acldefault({kind}, {owner}))) x
      WHERE x.privilege_type <> 'MAINTAIN') e)"""


class Query(NamedTuple):
    kind: str  # the item's name starts with it
    sql: str  # rows of (name, definition)
    printed: bool = False  # definition deparsed by the server: compared on one major only
    level: int = 1  # the fingerprint level that added it (see LEVEL)
    until: int | None = None  # the last level it is read at (a later one replaced it)


# Level 1: the first schema fingerprint. Level 2 adds the kinds a restore can also lose
# (event triggers, publications, subscriptions, text search, casts, operators and their
# classes, collations, extended statistics, foreign data wrappers, servers and user
# mappings, domain defaults, inheritance, column statistics and compression, sequence
# owners, aggregate details, partitions' trigger states, extensions' members' grants).
# A backup records its level as an item; its drill reads the sandbox at that level, so
# a backup of an earlier level is compared on what it holds.
LEVEL = 2
LEVEL_ITEM = "schema fingerprint level"


def _owner_acl(acl: str, kind: str, owner: str) -> str:
    """Like :func:`_acl`, the owner named ``owner`` (an extension's members belong to
    whoever created it: in a sandbox, its superuser)."""
    return f"""(SELECT string_agg(e.entry, ',' ORDER BY e.entry) FROM (
      SELECT format('%s:%s%s by %s',
        CASE WHEN x.grantee = 0 THEN 'public' WHEN x.grantee = {owner} THEN 'owner'
             ELSE pg_get_userbyid(x.grantee) END,
        x.privilege_type, CASE WHEN x.is_grantable THEN '*' ELSE '' END,
        CASE WHEN x.grantor = {owner} THEN 'owner' ELSE pg_get_userbyid(x.grantor) END) AS entry
      FROM aclexplode(COALESCE({acl}, acldefault({kind}, {owner}))) x
      WHERE x.privilege_type <> 'MAINTAIN') e)"""


_REL_ACL_KIND = "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\""


_NS = "(SELECT format('%I', x.nspname) FROM pg_namespace x WHERE x.oid = {0})"

_LEVEL_2: tuple[Query, ...] = (
    Query(
        "event trigger",
        f"""SELECT format('%I', e.evtname), concat_ws(' | ', 'event ' || e.evtevent,
              'owner ' || pg_get_userbyid(e.evtowner), 'function ' || e.evtfoid::regprocedure::text,
              'enabled ' || e.evtenabled::text, 'tags ' || array_to_string(e.evttags, ','),
              'comment ' || obj_description(e.oid, 'pg_event_trigger'))
            FROM pg_event_trigger e WHERE {_not_in_extension("pg_event_trigger", "e.oid")}""",
        level=2,
    ),
    Query(
        "publication",
        """SELECT format('%I', p.pubname), concat_ws(' | ', 'owner ' || pg_get_userbyid(p.pubowner),
              'all tables ' || p.puballtables, 'insert ' || p.pubinsert,
              'update ' || p.pubupdate, 'delete ' || p.pubdelete, 'truncate ' || p.pubtruncate,
              'via root ' || (to_jsonb(p) ->> 'pubviaroot'),
              'tables ' || (SELECT string_agg(to_jsonb(t)::text, ','
                 ORDER BY t.schemaname, t.tablename) FROM pg_publication_tables t
                 WHERE t.pubname = p.pubname),
              'comment ' || obj_description(p.oid, 'pg_publication'))
            FROM pg_publication p""",
        printed=True,  # row filters are deparsed
        level=2,
    ),
    Query(
        "subscription",
        # restored disabled and unconnected (pg_dump's connect = false): not compared
        """SELECT format('%I', s.subname), concat_ws(' | ', 'owner ' || pg_get_userbyid(s.subowner),
              'publications ' || array_to_string(s.subpublications, ','),
              'slot ' || s.subslotname, 'comment ' || shobj_description(s.oid, 'pg_subscription'))
            FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
            WHERE d.datname = current_database()""",
        level=2,
    ),
    Query(
        "text search configuration",
        f"""SELECT format('%I.%I', n.nspname, c.cfgname), concat_ws(' | ',
              'owner ' || pg_get_userbyid(c.cfgowner),
              'parser ' || (SELECT {_NS.format("p.prsnamespace")} || '.' || format('%I', p.prsname)
                 FROM pg_ts_parser p WHERE p.oid = c.cfgparser),
              'mapping ' || (SELECT string_agg(m.maptokentype || ':' || m.mapseqno || ':'
                 || m.mapdict::regdictionary::text, ',' ORDER BY m.maptokentype, m.mapseqno)
                 FROM pg_ts_config_map m WHERE m.mapcfg = c.oid),
              'comment ' || obj_description(c.oid, 'pg_ts_config'))
            FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_ts_config", "c.oid")}""",
        level=2,
    ),
    Query(
        "text search dictionary",
        f"""SELECT format('%I.%I', n.nspname, d.dictname), concat_ws(' | ',
              'owner ' || pg_get_userbyid(d.dictowner),
              'template ' || (SELECT {_NS.format("t.tmplnamespace")} || '.' || format('%I', t.tmplname)
                 FROM pg_ts_template t WHERE t.oid = d.dicttemplate),
              'options ' || d.dictinitoption,
              'comment ' || obj_description(d.oid, 'pg_ts_dict'))
            FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_ts_dict", "d.oid")}""",
        level=2,
    ),
    Query(
        "cast",
        f"""SELECT format('%s as %s', c.castsource::regtype, c.casttarget::regtype), concat_ws(' | ',
              'function ' || CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END,
              'context ' || c.castcontext::text, 'method ' || c.castmethod::text,
              'comment ' || obj_description(c.oid, 'pg_cast'))
            FROM pg_cast c WHERE c.oid >= 16384 AND {_not_in_extension("pg_cast", "c.oid")}""",
        level=2,
    ),
    Query(
        "operator",
        f"""SELECT format('%I.%s(%s, %s)', n.nspname, o.oprname, o.oprleft::regtype,
                 o.oprright::regtype), concat_ws(' | ', 'owner ' || pg_get_userbyid(o.oprowner),
              'function ' || o.oprcode::regprocedure::text, 'result ' || o.oprresult::regtype,
              'commutator ' || o.oprcom::regoperator::text, 'negator ' || o.oprnegate::regoperator::text,
              'restrict ' || o.oprrest::text, 'join ' || o.oprjoin::text,
              'hashes ' || o.oprcanhash, 'merges ' || o.oprcanmerge,
              'comment ' || obj_description(o.oid, 'pg_operator'))
            FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_operator", "o.oid")}""",
        level=2,
    ),
    Query(
        "operator class",
        f"""SELECT format('%I.%I using %I', n.nspname, c.opcname, a.amname), concat_ws(' | ',
              'owner ' || pg_get_userbyid(c.opcowner), 'type ' || c.opcintype::regtype,
              'default ' || c.opcdefault,
              'family ' || (SELECT {_NS.format("f.opfnamespace")} || '.' || format('%I', f.opfname)
                 FROM pg_opfamily f WHERE f.oid = c.opcfamily),
              'operators ' || (SELECT string_agg(o.amopstrategy || ':' || o.amopopr::regoperator::text,
                 ',' ORDER BY o.amopstrategy, o.amopopr::regoperator::text) FROM pg_amop o
                 WHERE o.amopfamily = c.opcfamily AND o.amoplefttype = c.opcintype),
              'functions ' || (SELECT string_agg(p.amprocnum || ':' || p.amproc::regprocedure::text,
                 ',' ORDER BY p.amprocnum, p.amproc::regprocedure::text) FROM pg_amproc p
                 WHERE p.amprocfamily = c.opcfamily AND p.amproclefttype = c.opcintype),
              'comment ' || obj_description(c.oid, 'pg_opclass'))
            FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
            JOIN pg_am a ON a.oid = c.opcmethod
            WHERE {_USER_NS} AND {_not_in_extension("pg_opclass", "c.oid")}""",
        level=2,
    ),
    Query(
        "collation",
        f"""SELECT format('%I.%I', n.nspname, c.collname), concat_ws(' | ',
              'owner ' || pg_get_userbyid(c.collowner), 'provider ' || c.collprovider::text,
              'deterministic ' || c.collisdeterministic, 'collate ' || c.collcollate,
              'ctype ' || c.collctype,
              'locale ' || COALESCE(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale'),
              'rules ' || (to_jsonb(c) ->> 'collicurules'),
              'comment ' || obj_description(c.oid, 'pg_collation'))
            FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_collation", "c.oid")}""",
        printed=True,  # the catalogue's columns moved between majors
        level=2,
    ),
    Query(
        "statistics",
        f"""SELECT format('%I.%I', n.nspname, s.stxname), concat_ws(' | ',
              pg_get_statisticsobjdef(s.oid), 'owner ' || pg_get_userbyid(s.stxowner),
              'target ' || NULLIF(to_jsonb(s) ->> 'stxstattarget', '-1'),
              'comment ' || obj_description(s.oid, 'pg_statistic_ext'))
            FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_statistic_ext", "s.oid")}""",
        printed=True,
        level=2,
    ),
    Query(
        "foreign data wrapper",
        f"""SELECT format('%I', w.fdwname), concat_ws(' | ', 'owner ' || pg_get_userbyid(w.fdwowner),
              'handler ' || w.fdwhandler::regproc::text, 'validator ' || w.fdwvalidator::regproc::text,
              'options ' || (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(w.fdwoptions) o), 'acl ' || {_acl("w.fdwacl", "'F'", "w.fdwowner")},
              'comment ' || obj_description(w.oid, 'pg_foreign_data_wrapper'))
            FROM pg_foreign_data_wrapper w
            WHERE {_not_in_extension("pg_foreign_data_wrapper", "w.oid")}""",
        level=2,
    ),
    Query(
        "foreign server",
        f"""SELECT format('%I', s.srvname), concat_ws(' | ', 'owner ' || pg_get_userbyid(s.srvowner),
              'wrapper ' || (SELECT format('%I', w.fdwname) FROM pg_foreign_data_wrapper w
                 WHERE w.oid = s.srvfdw),
              'type ' || s.srvtype, 'version ' || s.srvversion, 'options ' || (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(s.srvoptions) o),
              'acl ' || {_acl("s.srvacl", "'S'", "s.srvowner")},
              'comment ' || obj_description(s.oid, 'pg_foreign_server'))
            FROM pg_foreign_server s
            WHERE {_not_in_extension("pg_foreign_server", "s.oid")}""",
        level=2,
    ),
    Query(
        "user mapping",
        # its options may hold a password: only their digest is kept, like every item's
        # (pg_dump writes every option list sorted by name)
        """SELECT format('%s on %I', CASE WHEN m.umuser = 0 THEN 'public'
                 ELSE pg_get_userbyid(m.umuser) END, m.srvname),
              (SELECT string_agg(o, ',' ORDER BY o) FROM unnest(m.umoptions) o)
            FROM pg_user_mappings m""",
        level=2,
    ),
    Query(
        "domain default",
        f"""SELECT format('%I.%I', n.nspname, t.typname), pg_get_expr(t.typdefaultbin, 0)
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype = 'd' AND t.typdefaultbin IS NOT NULL AND {_USER_NS}
              AND {_not_in_extension("pg_type", "t.oid")}""",
        printed=True,
        level=2,
    ),
    Query(
        "inheritance",
        f"""SELECT format('%I.%I', n.nspname, c.relname), string_agg(format('%I.%I', pn.nspname,
                 p.relname), ',' ORDER BY i.inhseqno)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace pn ON pn.oid = p.relnamespace
            WHERE NOT c.relispartition AND c.relkind IN ('r', 'p', 'f') AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}
            GROUP BY n.nspname, c.relname""",
        level=2,
    ),
    Query(
        "column details",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), concat_ws(' | ',
              'statistics ' || NULLIF(to_jsonb(a) ->> 'attstattarget', '-1'),
              'compression ' || NULLIF(to_jsonb(a) ->> 'attcompression', ''))
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm', 'f')
              AND (NULLIF(to_jsonb(a) ->> 'attstattarget', '-1') IS NOT NULL
                   OR NULLIF(to_jsonb(a) ->> 'attcompression', '') IS NOT NULL)
              AND {_USER_NS} AND {_not_in_extension("pg_class", "c.oid")}""",
        level=2,
    ),
    Query(
        "sequence owner",
        f"""SELECT format('%I.%I', n.nspname, s.relname), format('%I.%I.%I', tn.nspname, t.relname,
                 a.attname) || ' ' || d.deptype::text
            FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_namespace n ON n.oid = s.relnamespace JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
              AND d.deptype IN ('a', 'i') AND {_USER_NS}
              AND {_not_in_extension("pg_class", "s.oid")}""",
        level=2,
    ),
    Query(
        "aggregate details",
        f"""SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
              concat_ws(' ', 'kind ' || g.aggkind::text, 'args ' || g.aggnumdirectargs,
              'combine ' || g.aggcombinefn::text, 'serial ' || g.aggserialfn::text,
              'deserial ' || g.aggdeserialfn::text, 'moving ' || g.aggmtransfn::text,
              'inverse ' || g.aggminvtransfn::text, 'moving final ' || g.aggmfinalfn::text,
              'final extra ' || g.aggfinalextra, 'final modify ' || g.aggfinalmodify::text,
              'sort ' || g.aggsortop::regoperator::text, 'parallel ' || p.proparallel::text,
              'moving init ' || g.aggminitval)
            FROM pg_aggregate g JOIN pg_proc p ON p.oid = g.aggfnoid
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_proc", "p.oid")}""",
        level=2,
    ),
    Query(
        "partition trigger state",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, g.tgname), 'enabled ' || g.tgenabled::text
            FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT g.tgisinternal AND g.tgparentid <> 0 AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
        level=2,
    ),
    Query(
        "extension members' grants",
        # only grants changed after CREATE EXTENSION (pg_init_privs holds its own): what
        # pg_dump restores; the members themselves change with the extension's version
        f"""SELECT format('%I', e.extname), (SELECT string_agg(m.entry, ',' ORDER BY m.entry)
            FROM (
              SELECT 'relation ' || c.oid::regclass::text || ' '
                || {_owner_acl("c.relacl", _REL_ACL_KIND, "c.relowner")} AS entry
              FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
              LEFT JOIN pg_init_privs ip ON ip.objoid = c.oid
                AND ip.classoid = 'pg_class'::regclass AND ip.objsubid = 0
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
                AND d.refobjid = e.oid AND d.deptype = 'e'
                AND {_owner_acl("c.relacl", _REL_ACL_KIND, "c.relowner")} IS DISTINCT FROM
                    {_owner_acl("ip.initprivs", _REL_ACL_KIND, "c.relowner")}
              UNION ALL
              SELECT 'function ' || p.oid::regprocedure::text || ' '
                || {_owner_acl("p.proacl", "'f'", "p.proowner")}
              FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
              LEFT JOIN pg_init_privs ip ON ip.objoid = p.oid
                AND ip.classoid = 'pg_proc'::regclass AND ip.objsubid = 0
              WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
                AND d.refobjid = e.oid AND d.deptype = 'e'
                AND {_owner_acl("p.proacl", "'f'", "p.proowner")} IS DISTINCT FROM
                    {_owner_acl("ip.initprivs", "'f'", "p.proowner")}) m)
            FROM pg_extension e""",
        printed=True,  # a member's signature may change with the target's extension version
        level=2,
    ),
)


_QUERIES: tuple[Query, ...] = (
    Query(
        "schema",
        f"""SELECT format('%I', n.nspname), concat_ws(' | ', 'owner ' || pg_get_userbyid(n.nspowner),
              'acl ' || {_acl("n.nspacl", "'n'", "n.nspowner")},
              'comment ' || obj_description(n.oid, 'pg_namespace'))
            FROM pg_namespace n WHERE {_USER_NS} AND {_not_in_extension("pg_namespace", "n.oid")}""",
    ),
    Query(
        "extension",
        # not the version: pg_dump's CREATE EXTENSION names none, so a restore creates
        # the server's default version whatever the source ran
        """SELECT format('%I', e.extname), 'schema ' || format('%I', n.nspname)
            FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace""",
    ),
    Query(
        "relation",
        f"""SELECT format('%I.%I', n.nspname, c.relname), concat_ws(' | ', 'kind ' || c.relkind::text,
              'persistence ' || c.relpersistence::text, 'owner ' || pg_get_userbyid(c.relowner),
              'acl ' || CASE WHEN c.relkind <> 'c' THEN
                 {_acl("c.relacl", _REL_ACL_KIND, "c.relowner")} END,
              'options ' || c.reloptions::text,
              'rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity,
              'replica identity ' || c.relreplident::text,
              'comment ' || obj_description(c.oid, 'pg_class'))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    Query(
        "definition",
        f"""SELECT format('%I.%I', n.nspname, c.relname), concat_ws(' | ',
              'view ' || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
              'partitioned by ' || CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
              'partition of ' || (SELECT format('%I.%I', pn.nspname, p.relname) || ' '
                 || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
                 JOIN pg_class p ON p.oid = i.inhparent
                 JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 WHERE i.inhrelid = c.oid AND c.relispartition))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE (c.relkind IN ('v', 'm', 'p') OR c.relispartition) AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
        printed=True,
    ),
    Query(
        "column",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), concat_ws(' | ',
              'position ' || (SELECT count(*) FROM pg_attribute b WHERE b.attrelid = c.oid
                 AND b.attnum > 0 AND NOT b.attisdropped AND b.attnum <= a.attnum),
              'type ' || format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attnotnull THEN 'not null' END,
              -- a partition's from its parent (inherited from PostgreSQL 17 on, not before)
              'identity ' || CASE WHEN NOT c.relispartition THEN NULLIF(a.attidentity::text, '') END,
              'generated ' || NULLIF(a.attgenerated::text, ''),
              'collation ' || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN (SELECT format('%I.%I', cn.nspname, co.collname) FROM pg_collation co
                       JOIN pg_namespace cn ON cn.oid = co.collnamespace
                       WHERE co.oid = a.attcollation) END,
              'storage ' || CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END,
              'acl ' || CASE WHEN a.attacl IS NOT NULL THEN
                 {_acl("a.attacl", "'c'", "c.relowner")} END,
              'options ' || a.attoptions::text,
              'comment ' || col_description(c.oid, a.attnum))
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    Query(
        "default",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
            JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT a.attisdropped AND {_USER_NS} AND {_not_in_extension("pg_class", "c.oid")}""",
        printed=True,
    ),
    Query(
        "sequence options",
        f"""SELECT format('%I.%I', n.nspname, c.relname), concat_ws(' ',
              format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
              s.seqcache, CASE WHEN s.seqcycle THEN 'cycle' END)
            FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    Query(
        "index",
        f"""SELECT format('%I.%I', n.nspname, c.relname), concat_ws(' | ', pg_get_indexdef(c.oid),
              'comment ' || obj_description(c.oid, 'pg_class'))
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_class", "i.indrelid")}""",
        printed=True,
    ),
    Query(
        "index state",
        f"""SELECT format('%I.%I', n.nspname, c.relname), concat_ws(' ',
              CASE WHEN i.indisclustered THEN 'clustered' END,
              CASE WHEN NOT i.indisvalid THEN 'invalid' ELSE 'valid' END)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_class", "i.indrelid")}""",
    ),
    Query(
        "constraint",
        # not-null constraints (pg_constraint from PostgreSQL 18) are in the column's item
        f"""SELECT format('%I.%I.%I', n.nspname, COALESCE(r.relname, t.typname, ''), k.conname),
              concat_ws(' | ', pg_get_constraintdef(k.oid),
              CASE WHEN NOT k.convalidated THEN 'not valid' END,
              'comment ' || obj_description(k.oid, 'pg_constraint'))
            FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
            LEFT JOIN pg_class r ON r.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
            WHERE {_USER_NS} AND k.conparentid = 0 AND k.contype <> 'n'
              AND {_not_in_extension("pg_constraint", "k.oid")}""",
        printed=True,
    ),
    Query(
        "trigger",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, g.tgname), concat_ws(' | ',
              pg_get_triggerdef(g.oid), 'comment ' || obj_description(g.oid, 'pg_trigger'))
            FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
        printed=True,
    ),
    Query(
        "trigger state",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, g.tgname), 'enabled ' || g.tgenabled::text
            FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND {_USER_NS}
              AND {_not_in_extension("pg_class", "c.oid")}""",
    ),
    Query(
        "function",
        f"""SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
              concat_ws(' | ', 'kind ' || p.prokind::text,
              CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END,
              CASE WHEN p.prokind = 'a' THEN (SELECT concat_ws(' ', g.aggtransfn::text,
                 g.aggfinalfn::text, g.aggtranstype::regtype::text, g.agginitval)
                 FROM pg_aggregate g WHERE g.aggfnoid = p.oid) END)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_proc", "p.oid")}""",
        printed=True,
    ),
    Query(
        "function privileges",
        f"""SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
              concat_ws(' | ', 'owner ' || pg_get_userbyid(p.proowner),
              'acl ' || {_acl("p.proacl", "'f'", "p.proowner")},
              'comment ' || obj_description(p.oid, 'pg_proc'))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE {_USER_NS} AND {_not_in_extension("pg_proc", "p.oid")}""",
    ),
    Query(
        "type",
        f"""SELECT format('%I.%I', n.nspname, t.typname), concat_ws(' | ', 'kind ' || t.typtype::text,
              'owner ' || pg_get_userbyid(t.typowner),
              'acl ' || {_acl("t.typacl", "'T'", "t.typowner")},
              'base ' || CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
              CASE WHEN t.typtype = 'd' AND t.typnotnull THEN 'not null' END,
              'labels ' || CASE WHEN t.typtype = 'e' THEN (SELECT string_agg(e.enumlabel, ','
                 ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) END,
              'comment ' || obj_description(t.oid, 'pg_type'))
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype IN ('d', 'e', 'r', 'm') AND {_USER_NS}
              AND {_not_in_extension("pg_type", "t.oid")}""",
    ),
    Query(
        "policy",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, p.polname), concat_ws(' | ',
              'command ' || p.polcmd::text, CASE WHEN p.polpermissive THEN 'permissive'
                 ELSE 'restrictive' END,
              'roles ' || (SELECT string_agg(n.name, ',' ORDER BY n.name) FROM (SELECT
                 CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END AS name
                 FROM unnest(p.polroles) r) n),
              'using ' || pg_get_expr(p.polqual, p.polrelid),
              'check ' || pg_get_expr(p.polwithcheck, p.polrelid))
            FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NS}""",
        printed=True,
    ),
    Query(
        "rule",
        f"""SELECT format('%I.%I.%I', n.nspname, c.relname, r.rulename), pg_get_ruledef(r.oid)
            FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE r.rulename <> '_RETURN' AND {_USER_NS}""",
        printed=True,
    ),
    Query(
        "default privileges",
        """SELECT concat_ws(' ', pg_get_userbyid(d.defaclrole),
              CASE WHEN n.oid IS NULL THEN '*' ELSE format('%I', n.nspname) END,
              d.defaclobjtype::text), d.defaclacl::text
            FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace""",
    ),
    Query(
        "large object",
        f"""SELECT m.oid::text, concat_ws(' | ', 'owner ' || pg_get_userbyid(m.lomowner),
              'acl ' || {_acl("m.lomacl", "'L'", "m.lomowner")},
              'sha256 ' || encode(sha256(lo_get(m.oid)), 'hex'),
              'comment ' || obj_description(m.oid, 'pg_largeobject'))
            FROM pg_largeobject_metadata m""",
        until=1,
    ),
    Query(
        "large object",
        # in 64 MiB pieces (one bytea holds at most 1 GB); an object in one piece (nearly
        # all) has its plain sha256, read once, with no descriptor opened: only a larger
        # one is measured (lo_open), and its pieces' hashes follow each other
        f"""SELECT m.oid::text, concat_ws(' | ', 'owner ' || pg_get_userbyid(m.lomowner),
              'acl ' || {_acl("m.lomacl", "'L'", "m.lomowner")},
              'sha256 ' || (SELECT CASE WHEN octet_length(f.piece) < 67108864
                   THEN encode(sha256(f.piece), 'hex')
                   ELSE (SELECT string_agg(encode(sha256(lo_get(m.oid, o, 67108864)), 'hex'),
                     '' ORDER BY o) FROM generate_series(0::bigint,
                     lo_lseek64(lo_open(m.oid, 262144), 0, 2) - 1, 67108864) o) END
                 FROM (SELECT lo_get(m.oid, 0, 67108864) AS piece) f),
              'comment ' || obj_description(m.oid, 'pg_largeobject'))
            FROM pg_largeobject_metadata m""",
        level=2,
    ),
    Query(
        "database",
        f"""SELECT format('%I', d.datname), concat_ws(' | ', 'owner ' || pg_get_userbyid(d.datdba),
              'acl ' || {_acl("d.datacl", "'d'", "d.datdba")},
              'encoding ' || pg_encoding_to_char(d.encoding),
              'collate ' || d.datcollate, 'ctype ' || d.datctype,
              'connection limit ' || d.datconnlimit,
              'settings ' || (SELECT s.setconfig::text FROM pg_db_role_setting s
                 WHERE s.setdatabase = d.oid AND s.setrole = 0),
              'comment ' || shobj_description(d.oid, 'pg_database'))
            FROM pg_database d WHERE d.datname = current_database()""",
    ),
    Query(
        "role settings here",
        """SELECT pg_get_userbyid(s.setrole), s.setconfig::text FROM pg_db_role_setting s
            JOIN pg_database d ON d.oid = s.setdatabase
            WHERE d.datname = current_database() AND s.setrole <> 0""",
    ),
    *_LEVEL_2,
)

_SEQUENCES = f"""
SELECT format('%I.%I', n.nspname, c.relname), s.seqincrement < 0 FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_sequence s ON s.seqrelid = c.oid
WHERE c.relkind = 'S' AND {_USER_NS} AND {_not_in_extension("pg_class", "c.oid")}
ORDER BY 1
"""

_CLUSTER: tuple[Query, ...] = (
    Query(
        "role",
        """SELECT r.rolname, concat_ws(' ', CASE WHEN r.rolsuper THEN 'superuser' END,
              CASE WHEN NOT r.rolinherit THEN 'noinherit' END,
              CASE WHEN r.rolcreaterole THEN 'createrole' END,
              CASE WHEN r.rolcreatedb THEN 'createdb' END,
              CASE WHEN r.rolcanlogin THEN 'login' END,
              CASE WHEN r.rolreplication THEN 'replication' END,
              CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
              'connection limit ' || r.rolconnlimit, 'valid until ' || r.rolvaliduntil,
              'comment ' || shobj_description(r.oid, 'pg_authid'))
            FROM pg_roles r WHERE r.rolname !~ '^pg_' AND r.rolname <> current_user""",
    ),
    Query(
        "membership",
        # keyed by grantor too (16 allows one per grantor)
        """SELECT pg_get_userbyid(m.member) || ' in ' || pg_get_userbyid(m.roleid)
                || ' granted by ' || pg_get_userbyid(m.grantor),
              CASE WHEN m.admin_option THEN 'with admin option' ELSE 'member' END
            FROM pg_auth_members m
            WHERE pg_get_userbyid(m.roleid) !~ '^pg_' AND pg_get_userbyid(m.member) !~ '^pg_'""",
    ),
    Query(
        "membership options",
        # INHERIT and SET per membership exist from PostgreSQL 16 on: one major's view
        """SELECT pg_get_userbyid(m.member) || ' in ' || pg_get_userbyid(m.roleid)
                || ' granted by ' || pg_get_userbyid(m.grantor),
              concat_ws(' ', 'inherit ' || (to_jsonb(m) ->> 'inherit_option'),
                'set ' || (to_jsonb(m) ->> 'set_option'))
            FROM pg_auth_members m
            WHERE pg_get_userbyid(m.roleid) !~ '^pg_' AND pg_get_userbyid(m.member) !~ '^pg_'""",
        printed=True,
    ),
    Query(
        "role settings",
        """SELECT pg_get_userbyid(s.setrole), s.setconfig::text FROM pg_db_role_setting s
            WHERE s.setdatabase = 0 AND s.setrole <> 0""",
    ),
)


PASSWORD_KIND = "role-password "
_PASSWORDS = """SELECT rolname, rolpassword FROM pg_authid
    WHERE rolpassword IS NOT NULL AND rolname !~ '^pg_' AND rolname <> current_user"""
# the owner of a database restored in place is the sandbox's superuser: the grants are
# compared without the owner's own, and with the owner as a grantor named "owner"
_IN_PLACE_DATABASE = """SELECT format('%I', d.datname), concat_ws(' | ', 'acl ' || (
      SELECT string_agg(e.entry, ',' ORDER BY e.entry) FROM (SELECT format('%s:%s%s by %s',
        CASE WHEN x.grantee = 0 THEN 'public' ELSE pg_get_userbyid(x.grantee) END,
        x.privilege_type, CASE WHEN x.is_grantable THEN '*' ELSE '' END,
        CASE WHEN x.grantor = d.datdba THEN 'owner' ELSE pg_get_userbyid(x.grantor) END)
        AS entry
      FROM aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) x
      WHERE x.grantee <> d.datdba) e),
      'connection limit ' || d.datconnlimit,
      'settings ' || (SELECT s.setconfig::text FROM pg_db_role_setting s
         WHERE s.setdatabase = d.oid AND s.setrole = 0),
      'comment ' || shobj_description(d.oid, 'pg_database'))
    FROM pg_database d WHERE d.datname = current_database()"""


def level_of(items: Iterable[FingerprintItem]) -> int:
    """The schema fingerprint level a backup's items were read at (1: before levels)."""
    for item in items:
        if item.group == CLUSTER_GROUP and item.name == LEVEL_ITEM:
            try:
                return min(int(item.digest), LEVEL)
            except ValueError:
                return 1
    return 1


def schema_group(db: str) -> str:
    return db + SCHEMA_SUFFIX


def is_schema_group(group: str) -> bool:
    return group == CLUSTER_GROUP or group.endswith(SCHEMA_SUFFIX)


def refuse_collisions(databases: list[str]) -> None:
    """A database called like another's schema group (``app (schema)``) would mix the
    two in a fingerprint: refused."""
    taken = {schema_group(db) for db in databases} | {CLUSTER_GROUP}
    clash = sorted(taken & set(databases))
    if clash:
        raise ExternalError(
            f"postgres: database {clash[0]!r} has the name stategate gives another "
            "database's schema fingerprint; rename it or list databases explicitly"
        )


def _items(conn: Conn, group: str, queries: tuple[Query, ...]) -> list[FingerprintItem]:
    major = ""
    items: list[FingerprintItem] = []
    for query in queries:
        try:
            rows = conn.execute(query.sql).fetchall()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExternalError(f"postgres: reading the {query.kind} items: {first}") from exc
        for name, definition in rows:
            digest = hashlib.sha256(str(definition or "").encode()).hexdigest()
            if query.printed:
                major = major or _major(conn)
                digest = printed_digest(major, digest)
            items.append(FingerprintItem(group, f"{query.kind} {name}", 1, digest))
    return items


def _major(conn: Conn) -> str:
    row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None
    return str(row[0])


def sequence_positions(conn: Conn, db: str) -> list[FingerprintItem]:
    """Where each sequence is now (before the dump starts): ``at-least:<n>``, n the
    values handed out so far in the sequence's direction (``is_called``: the last one
    was), so a later position compares as more."""
    items: list[FingerprintItem] = []
    with _qualified(conn):
        for name, descending in conn.execute(_SEQUENCES).fetchall():
            row = conn.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
            assert row is not None
            value = int(str(row[0])) * (-1 if descending else 1)
            position = value * 2 + (1 if row[1] else 0)
            items.append(
                FingerprintItem(schema_group(db), f"sequence {name}", 1, f"{AT_LEAST}{position}")
            )
    return items


def schema_items(conn: Conn, db: str, level: int = LEVEL) -> list[FingerprintItem]:
    """Every schema and configuration item of the connected database, of the kinds of
    fingerprint ``level`` (``postgres`` or ``template1``: its owner is not compared)."""
    with _qualified(conn):
        queries = tuple(
            q for q in _QUERIES if q.level <= level and (q.until is None or level <= q.until)
        )
        items = _items(conn, schema_group(db), queries)
        if db in IN_PLACE_DBS:
            row = conn.execute(_IN_PLACE_DATABASE).fetchone()
            assert row is not None
            items = [i for i in items if not i.name.startswith("database ")]
            digest = hashlib.sha256(str(row[1] or "").encode()).hexdigest()
            items.append(FingerprintItem(schema_group(db), f"database {row[0]}", 1, digest))
    return items


def cluster_items(
    conn: Conn, *, passwords: bool = False, level: int = LEVEL
) -> list[FingerprintItem]:
    """Roles (but the connecting one), memberships and role settings; with
    ``passwords`` (a superuser), each role's password hash, as a digest only; from
    level 2 on, the level itself (what a drill reads the sandbox at)."""
    with _qualified(conn):
        items = _items(conn, CLUSTER_GROUP, _CLUSTER)
        if level >= 2:
            items.append(FingerprintItem(CLUSTER_GROUP, LEVEL_ITEM, 1, str(level)))
        if passwords:
            items += _items(conn, CLUSTER_GROUP, (Query(PASSWORD_KIND.strip(), _PASSWORDS),))
        return items


@contextmanager
def _qualified(conn: Conn) -> Iterator[None]:
    """Every name printed schema-qualified; the session's search path back afterwards
    (the data fingerprint hashes text that depends on it)."""
    conn.execute("SET search_path = ''")
    yield  # (on an error the transaction is over: nothing to set back)
    conn.execute("RESET search_path")
