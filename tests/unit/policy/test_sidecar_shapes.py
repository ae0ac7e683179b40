"""Sidecar and implicit-state shapes seen on real self-hosted platforms (issue 19).

The shared corpus holds none of the VPN kill-switch, volume-backup, git-sync, host-named
backup or Grafana provisioning shapes, so each is written here the way its upstream
README shows it (named in each test); tests/corpus/test_corpus_shapes.py covers the
shapes the corpus does hold.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from stategate.platform import load_platform
from stategate.policy.classify import Module
from tests.conftest import Tree, installed_cli


def _modules(root: Path) -> dict[str, Module]:
    return {m.service.name: m for m in load_platform(root).modules.values()}


def _classify(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [installed_cli(), "classify", "--repo", str(root), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _sidecar(module: Module) -> tuple[str | None, str]:
    reasons = [r for r in module.reasons if r.cls.value == "sidecar-bound"]
    return module.parent, reasons[0].confidence if reasons else "-"


def test_vpn_killswitch_by_container_name(tree: Tree) -> None:
    # gluetun's README: apps join the VPN container's network by its container_name
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  gluetun:
                    image: qmcgaw/gluetun:v3.39
                    container_name: vpn
                    cap_add: [NET_ADMIN]
                  qbittorrent:
                    image: lscr.io/linuxserver/qbittorrent:4.6.7
                    network_mode: "container:vpn"
                    volumes: [./qbt:/config]
                  prowlarr:
                    image: lscr.io/linuxserver/prowlarr:1.24.3
                    network_mode: container:vpn
                  stray:
                    image: alpine:3.20
                    network_mode: container:somewhere-else
            """
        }
    )
    mods = _modules(root)
    for name in ("qbittorrent", "prowlarr"):
        assert _sidecar(mods[name]) == ("p/gluetun", "certain"), name
        reason = next(r for r in mods[name].reasons if r.cls.value == "sidecar-bound")
        assert "container vpn" in reason.reason and reason.loc.line > 0
    assert mods["gluetun"].dependents == ["p/prowlarr", "p/qbittorrent"]
    assert mods["gluetun"].tier == "core"
    # an unknown container binds nothing but says why
    assert mods["stray"].parent is None
    assert any("somewhere-else" in n.why for n in mods["stray"].near_misses)


def test_default_container_name_and_volumes_from_container(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: media
                services:
                  vpn:
                    image: qmcgaw/gluetun:v3.39
                  app:
                    image: nginx:1.27
                    network_mode: container:media-vpn-1
                  data:
                    image: postgres:16
                    container_name: pgdata
                  reader:
                    image: alpine:3.20
                    volumes_from: ["container:pgdata:ro"]
            """
        }
    )
    mods = _modules(root)
    assert mods["app"].parent == "media/vpn"
    assert mods["reader"].parent == "media/data"


def test_volume_backup_agent_mounting_read_only(tree: Tree) -> None:
    # offen/docker-volume-backup's README: the volume to back up mounted :ro
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  app:
                    image: ghcr.io/example/wiki:1.0
                    volumes: [wiki-data:/var/lib/wiki]
                  backup:
                    image: offen/docker-volume-backup:v2.43.0
                    volumes:
                      - wiki-data:/backup/wiki-data:ro
                      - ./archive:/archive
                volumes: {wiki-data: {}}
            """
        }
    )
    mods = _modules(root)
    assert mods["backup"].parent == "p/app"
    reason = next(r for r in mods["backup"].reasons if r.cls.value == "sidecar-bound")
    assert "wiki-data" in reason.reason and "read-only" in reason.reason
    assert reason.loc.line == 9


def test_backup_agent_reaching_one_database_by_host(tree: Tree) -> None:
    # tiredofit/db-backup's README: DB_HOST names the database service, no shared volume
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  db:
                    image: postgres:16.4
                    volumes: [pg:/var/lib/postgresql/data]
                  cache:
                    image: redis:7.4
                  db-backup:
                    image: tiredofit/db-backup:4.1.4
                    environment:
                      DB01_HOST: db
                      DB01_TYPE: pgsql
                    volumes: [./backups:/backup]
                  two-backup:
                    image: tiredofit/db-backup:4.1.4
                    environment:
                      DB01_HOST: db
                      DB02_HOST: cache
                volumes: {pg: {}}
            """
        }
    )
    mods = _modules(root)
    assert _sidecar(mods["db-backup"]) == ("p/db", "likely")
    reason = next(r for r in mods["db-backup"].reasons if r.cls.value == "sidecar-bound")
    assert reason.loc.line == 11  # DB01_HOST
    # two databases: not bound to either, and the near miss names both
    assert mods["two-backup"].parent is None
    assert any("cache, db" in n.why for n in mods["two-backup"].near_misses)


def test_bind_path_inside_the_parents_bind_path(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  nextcloud:
                    image: nextcloud:29
                    volumes: [./data/nextcloud:/var/www/html]
                  photo-sync:
                    image: rclone/rclone:1.68
                    command: sync /in remote:photos
                    volumes: [./data/nextcloud/data/admin/files/Photos:/in]
                  unrelated:
                    image: rclone/rclone:1.68
                    volumes: [./data/other:/in]
            """
        }
    )
    mods = _modules(root)
    assert mods["photo-sync"].parent == "p/nextcloud"
    reason = next(r for r in mods["photo-sync"].reasons if r.cls.value == "sidecar-bound")
    assert "inside nextcloud's data/nextcloud" in reason.reason
    assert mods["unrelated"].parent is None


def test_git_sync_and_same_image_cleanup_job(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  wiki:
                    image: requarks/wiki:2.5
                    volumes: [content:/wiki/data/content]
                  git-sync:
                    image: registry.k8s.io/git-sync/git-sync:v4.2.4
                    volumes: [content:/git]
                  cleanup:
                    image: requarks/wiki:2.5
                    command: node cleanup.js
                    restart: "no"
                    volumes: [content:/wiki/data/content]
                volumes: {content: {}}
            """
        }
    )
    mods = _modules(root)
    assert mods["git-sync"].parent == "p/wiki"
    assert _sidecar(mods["cleanup"]) == ("p/wiki", "certain")
    assert "own image" in mods["cleanup"].reasons[0].reason
    assert mods["wiki"].parent is None  # the app is never bound to its own helpers


def test_companion_daemon_named_after_its_parent(tree: Tree) -> None:
    # nextcloud's notify_push beside the app: shares its volume, exists only for it
    compose = """
        name: p
        services:
          app:
            image: nextcloud:29
            volumes: [html:/var/www/html, ./config:/srv/config]
          app-push:
            image: icewind1991/notify_push:0.7
            volumes: [html:/var/www/html]
        volumes: {html: {}}
    """
    mods = _modules(tree({"compose.yml": compose}))
    assert _sidecar(mods["app-push"]) == ("p/app", "likely")
    assert mods["app"].parent is None


def test_a_third_service_on_the_volume_makes_peers_not_a_companion(tree: Tree) -> None:
    compose = """
        name: p
        services:
          app:
            image: nextcloud:29
            volumes: [html:/var/www/html, ./config:/srv/config]
          app-push:
            image: icewind1991/notify_push:0.7
            volumes: [html:/var/www/html]
          other:
            image: ghcr.io/example/indexer:1.0
            volumes: [html:/data]
        volumes: {html: {}}
    """
    mods = _modules(tree({"compose.yml": compose}))
    assert mods["app-push"].parent is None
    assert any(n.rule == "shared data" for n in mods["app-push"].near_misses)


def test_database_images_without_volumes_are_stateful(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  cache:
                    image: redis:7.4-alpine
                  nosave:
                    image: valkey/valkey:8.1
                    command: valkey-server --save "" --appendonly no
                  mssql:
                    image: mcr.microsoft.com/mssql/server:2022-latest
                  mq:
                    image: eclipse-mosquitto:2.0
                  aof:
                    image: redis:7.4
                    command: redis-server --save "" --appendonly "yes"
            """
        }
    )
    mods = _modules(root)
    cache = mods["cache"]
    assert [c.value for c in cache.classes] == ["stateful"]
    assert cache.reasons[0].confidence == "likely" and "RDB" in cache.reasons[0].reason
    assert [c.value for c in mods["nosave"].classes] == ["stateless"]
    assert any("snapshots off" in n.why for n in mods["nosave"].near_misses)
    assert "stateful" in [c.value for c in mods["mssql"].classes]
    assert "stateful" in [c.value for c in mods["mq"].classes]
    # the quotes are the shell's: AOF is on
    assert [c.value for c in mods["aof"].classes] == ["stateful"]


def test_config_provisioning_bind_is_not_state(tree: Tree) -> None:
    # grafana's provisioning docs: dashboards and datasources as folders from the repo
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  grafana:
                    image: grafana/grafana:11.2.0
                    volumes:
                      - ./grafana/provisioning:/etc/grafana/provisioning
                      - ./grafana/dashboards:/var/lib/grafana/dashboards
                  grafana2:
                    image: grafana/grafana:11.2.0
                    volumes:
                      - ./grafana/provisioning:/etc/grafana/provisioning
                      - grafana-data:/var/lib/grafana
                  sneaky:
                    image: ghcr.io/example/app:1.0
                    volumes:
                      - ./conf.d/../userdata:/srv/data
                  named-templates:
                    image: ghcr.io/example/app:1.0
                    volumes:
                      - ./templates:/app/data
                volumes: {grafana-data: {}}
            """
        }
    )
    mods = _modules(root)
    assert [c.value for c in mods["grafana"].classes] == ["stateless"]
    why = [n.why for n in mods["grafana"].near_misses if n.rule == "data mount"]
    assert len(why) == 2 and all("config-provisioning" in w for w in why)
    assert [c.value for c in mods["grafana2"].classes] == ["stateful"]
    # judged by where the folder lands, after normalising: data stays data
    assert [c.value for c in mods["sneaky"].classes] == ["stateful"]
    assert [c.value for c in mods["named-templates"].classes] == ["stateful"]


def test_connection_strings_without_credentials_are_not_secrets(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  plain:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DATABASE_URL: postgres://db:5432/app
                      REDIS_URL: redis://cache:6379/0
                      SQL_CONNECTION_STRING: "Server=db;Database=app"
                  userinfo:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DATABASE_URL: postgres://app:hunter2@db:5432/app
                  sentry:
                    image: ghcr.io/example/api:1.0
                    environment:
                      SENTRY_DSN: https://abc123@o1.ingest.example.com/1
                  keyword:
                    image: ghcr.io/example/api:1.0
                    environment:
                      PG_DSN: "host=db user=app password=x"
                  passthrough:
                    image: ghcr.io/example/api:1.0
                    environment: [DATABASE_URL]
                  emptyuser:
                    image: ghcr.io/example/api:1.0
                    environment:
                      CACHE: redis://:hunter2@cache:6379/0
                  jdbc:
                    image: ghcr.io/example/api:1.0
                    environment:
                      SPRING_DATASOURCE_URL: jdbc:postgresql://db/app?user=app&password=x
                  godsn:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DATABASE_URL: app:hunter2@tcp(db:3306)/app?parseTime=true
                  sslpassword:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DB_DSN: host=db dbname=app sslpassword=hunter2
                  slash:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DATABASE_URL: postgresql://app:pa/ss@db/app
                  sentryquery:
                    image: ghcr.io/example/api:1.0
                    environment:
                      SENTRY_DSN: https://o1.example.com/1?sentry_key=abc
                  jdbcparams:
                    image: ghcr.io/example/api:1.0
                    environment:
                      SPRING_DATASOURCE_URL: jdbc:sqlserver://db:1433;user=sa;password=S3cret
                  fragment:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DATABASE_URL: postgres://db/app#password=x
                  fileurl:
                    image: ghcr.io/example/api:1.0
                    environment:
                      DB_PASSWORD_FILE: postgres://u:pw@db/app
                  secreturl:
                    image: ghcr.io/example/api:1.0
                    environment:
                      WEBHOOK_SECRET_URL: https://hooks.example.com/services/T000/B000/XXXX
                  unsetvars:
                    image: ghcr.io/example/api:1.0
                    environment:
                      CELERY_BROKER_URL: amqp://${RABBIT_USER}:${RABBIT_PASS}@rabbit:5672//
            """
        }
    )
    mods = _modules(root)
    assert [c.value for c in mods["plain"].classes] == ["stateless"]
    assert len([n for n in mods["plain"].near_misses if "connection string" in n.why]) == 2
    others = ("jdbc", "godsn", "sslpassword", "slash", "sentryquery", "jdbcparams")
    others += ("fragment", "fileurl", "secreturl", "unsetvars")
    for name in ("userinfo", "sentry", "keyword", "passthrough", "emptyuser", *others):
        assert "secret-bearing" in [c.value for c in mods[name].classes], name


def test_policy_confirms_or_rejects_a_likely_binding(tree: Tree) -> None:
    compose = """
        name: p
        services:
          db:
            image: postgres:16.4
            volumes: [pg:/var/lib/postgresql/data]
          app:
            image: ghcr.io/example/app:1.0
          dumper-backup:
            image: tiredofit/db-backup:4.1.4
            environment: {DB01_HOST: db}
        volumes: {pg: {}}
    """
    confirmed = tree(
        {
            "compose.yml": compose,
            "stategate.yaml": "version: 1\nmodules:\n  p/dumper-backup: {parent: p/db}\n"
            "  p/app: {parent: p/db}\n",
        }
    )
    mods = _modules(confirmed)
    reason = next(r for r in mods["dumper-backup"].reasons if r.cls.value == "sidecar-bound")
    assert reason.confidence == "certain" and "confirmed by policy" in reason.reason
    assert mods["app"].parent == "p/db"  # one the rules missed, set by the operator
    assert "set by policy" in mods["app"].reasons[0].reason
    rejected = tree(
        {
            "compose.yml": compose,
            "stategate.yaml": "version: 1\nmodules:\n  p/dumper-backup:\n"
            "    classes: {remove: [sidecar-bound]}\n",
        }
    )
    mods = _modules(rejected)
    assert mods["dumper-backup"].parent is None
    assert "sidecar-bound" not in [c.value for c in mods["dumper-backup"].classes]


def test_classify_explain_names_rules_that_counted_and_that_did_not(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  db:
                    image: postgres:16.4
                    ports: ["127.0.0.1:5432:5432"]
                    volumes:
                      - pg:/var/lib/postgresql/data
                      - ./init.sql:/docker-entrypoint-initdb.d/init.sql
                  two-backup:
                    image: tiredofit/db-backup:4.1.4
                    environment: {DB01_HOST: db, DB02_HOST: cache}
                  cache:
                    image: redis:7.4
                volumes: {pg: {}}
            """
        }
    )
    out = _classify(root, "--explain", "db")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "module p/db (compose.yml:3)" in text
    assert "stateful        compose.yml:7  named volume pg" in text
    assert "published port: port 5432:5432 published on loopback only" in text
    assert "init.sql: a single configuration or script file" in text
    out = _classify(root, "--explain", "p/two-backup", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "stategate.explain/v1"
    assert doc["module"]["parent"] is None
    miss = [n for n in doc["near_misses"] if n["rule"] == "backup agent"]
    assert miss and miss[0]["line"] == 11 and "2 databases" in miss[0]["why"]
    out = _classify(root, "--explain", "nope")
    assert out.returncode == 2 and "unknown module 'nope'" in out.stderr


def test_a_port_without_host_port_is_published_on_a_random_one(tree: Tree) -> None:
    # compose publishes every ports: entry; "3306" and ":3306" (an unset $PORT) get a free
    # host port on all interfaces, as `docker run -p 3306` does
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  bare:
                    image: mariadb:11.4
                    ports: ["3306"]
                  unset:
                    image: mariadb:11.4
                    ports: ["${MARIADB_PORT}:3306"]
                  internal:
                    image: mariadb:11.4
                    expose: ["3306"]
            """
        }
    )
    mods = _modules(root)
    for name in ("bare", "unset"):
        reason = next(r for r in mods[name].reasons if r.cls.value == "public-edge")
        assert reason.reason == "port random:3306/tcp published on all interfaces", name
    assert "public-edge" not in [c.value for c in mods["internal"].classes]


def test_policy_parent_cannot_name_a_ghost_or_override_a_certain_binding(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  db:
                    image: postgres:16.4
                    volumes: [pg:/var/lib/postgresql/data]
                  web:
                    image: nginx:1.27
                  db-backup:
                    image: tiredofit/db-backup:4.1.4
                    depends_on: [db]
                    volumes: [./backups:/backup]
                  helper:
                    image: alpine:3.20
                volumes: {pg: {}}
            """,
            "stategate.yaml": "version: 1\nmodules:\n  p/db-backup: {parent: p/web}\n"
            "  p/helper: {parent: p/ghost}\n",
        }
    )
    mods = _modules(root)
    assert _sidecar(mods["db-backup"]) == ("p/db", "certain")
    assert any("p/db is certain: kept" in n.why for n in mods["db-backup"].near_misses)
    assert mods["helper"].parent is None
    assert "sidecar-bound" not in [c.value for c in mods["helper"].classes]
    assert any("not another module" in n.why for n in mods["helper"].near_misses)


def test_operator_review_shapes(tree: Tree) -> None:
    # from an operator's review of 24 real self-hosted stacks (issue 19)
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  app:
                    image: ex/app:1.0
                    depends_on: [worker, db]
                    ports: ["8000:8000"]
                    volumes: [uploads:/app/uploads]
                  worker:
                    image: ex/app:1.0
                    command: celery -A app worker
                    depends_on: [db]
                    volumes: [uploads:/app/uploads]
                  db:
                    image: postgres:16.4
                    volumes: [pg:/var/lib/postgresql/data]
                  sonarr:
                    image: lscr.io/linuxserver/sonarr:4.0
                    volumes: [./config/sonarr:/config, ./data:/data]
                  radarr:
                    image: lscr.io/linuxserver/radarr:5.0
                    volumes: [./config/radarr:/config, ./data:/data]
                  bazarr:
                    image: lscr.io/linuxserver/bazarr:1.4
                    depends_on: [sonarr, radarr]
                    volumes: [./config/bazarr:/config, ./data/media:/data/media]
                  web:
                    image: nginx:1.27
                    depends_on: [app]
                    volumes: ["uploads:/usr/share/nginx/html/uploads:ro"]
                  push:
                    image: ex/push:0.7
                    depends_on: [app]
                    entrypoint: /app/uploads/bin/push --port 7867
                    volumes: ["uploads:/app/uploads:ro"]
                  site:
                    image: nginx:1.27
                    volumes: ["site:/usr/share/nginx/html:ro"]
                  git-sync:
                    image: registry.k8s.io/git-sync/git-sync:v4.2.4
                    volumes: [site:/git]
                  volume-backup:
                    image: offen/docker-volume-backup:v2.43.0
                    volumes: ["uploads:/backup/uploads:ro", "pg:/backup/pg:ro"]
                  acme:
                    image: neilpang/acme.sh:3.0
                    volumes: [acme:/acme.sh]
                volumes: {uploads: {}, pg: {}, site: {}, acme: {}}
            """
        }
    )
    mods = _modules(root)
    # the worker moves with the app, never the app with its worker
    assert mods["worker"].parent == "p/app" and mods["app"].parent is None
    assert any("helper" in n.why for n in mods["app"].near_misses)
    # one folder of a pool several apps write is nobody's sidecar data
    assert mods["bazarr"].parent is None
    assert any("a pool" in n.why for n in mods["bazarr"].near_misses)
    # reading the app's files is not moving with it; running a binary from them is
    assert mods["web"].parent is None
    assert _sidecar(mods["push"]) == ("p/app", "certain")
    # git-sync alone writes what one service reads
    assert _sidecar(mods["git-sync"]) == ("p/site", "likely")
    # a backup agent of two stores is bound to one and names the other
    assert mods["volume-backup"].parent == "p/app"
    assert any(
        "p/app" in n.why and "backup agent of db" in n.why
        for n in mods["volume-backup"].near_misses
    )
    # a named volume called acme.sh is a folder of state, not a script
    assert "stateful" in [c.value for c in mods["acme"].classes]


def test_secrets_in_values_and_on_the_command_line(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                name: p
                services:
                  dotnet:
                    image: ex/api:1.0
                    environment:
                      ConnectionStrings__Default: "Host=db;Database=app;Username=app;Password=pw"
                  anykey:
                    image: ex/api:1.0
                    environment:
                      PG_CONN: "host=db dbname=app password=pw"
                  cli:
                    image: ex/api:1.0
                    command: ["--db", "postgres://app:hunter2@db/app"]
                  clean:
                    image: ex/api:1.0
                    command: ["--db", "postgres://db/app"]
            """
        }
    )
    mods = _modules(root)
    for name in ("dotnet", "anykey", "cli"):
        assert "secret-bearing" in [c.value for c in mods[name].classes], name
    assert [c.value for c in mods["clean"].classes] == ["stateless"]
