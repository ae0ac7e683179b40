from __future__ import annotations

from pathlib import Path

from stategate.platform import load_platform
from tests.conftest import EXAMPLE, Tree


def _classes(root: Path, files: list[str] | None = None) -> dict[str, list[str]]:
    platform = load_platform(root, [root / f for f in files] if files else None)
    return {m.service.name: [c.value for c in m.classes] for m in platform.modules.values()}


def test_example_platform_classification() -> None:
    platform = load_platform(EXAMPLE)
    mods = {m.service.name: m for m in platform.modules.values()}
    got = {n: [c.value for c in m.classes] for n, m in mods.items()}
    assert got["minio-init"][:1] == ["sidecar-bound"] and mods["minio-init"].parent == (
        "platform/minio"
    )
    assert "stateful" in got["minio"] and mods["minio"].backup_reference
    assert {"stateful", "secret-bearing"} <= set(got["postgres"])
    assert mods["postgres"].tier == "core"
    assert "stateful" in got["redis"]
    assert {"public-edge", "privileged"} <= set(got["traefik"])
    assert "auth" in got["authelia"]
    assert "public-edge" not in got["postgres"]  # 127.0.0.1 only
    for module in platform.modules.values():
        for cls in module.classes:
            reasons = [r for r in module.reasons if r.cls is cls]
            assert reasons, f"{module.id} {cls} has no reason"
            assert all(r.loc.line > 0 and r.loc.file for r in reasons)


def test_init_job_volumes_from_and_network_mode_service(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                services:
                  minio:
                    image: minio/minio:RELEASE.2024-01-01T00-00-00Z
                    volumes: [data:/data]
                  createbuckets:
                    image: minio/mc
                    depends_on: [minio]
                    entrypoint: /bin/sh -c "mc mb local/b"
                  app:
                    image: nginx:1
                    volumes: [html:/usr/share/nginx/html]
                  gen:
                    image: nginxproxy/docker-gen
                    volumes_from: [app]
                  vpn:
                    image: tailscale/tailscale
                  web:
                    image: jellyfin/jellyfin
                    network_mode: service:vpn
                volumes: {data: {}, html: {}}
            """
        }
    )
    platform = load_platform(root)
    mods = {m.service.name: m for m in platform.modules.values()}
    assert (mods["createbuckets"].parent or "").endswith("/minio")
    assert "sidecar-bound" in [c.value for c in mods["createbuckets"].classes]
    assert (mods["gen"].parent or "").endswith("/app")
    assert (mods["web"].parent or "").endswith("/vpn")
    assert "public-edge" in [c.value for c in mods["vpn"].classes]  # tunnel image


def test_public_edge_rules(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                services:
                  local: {image: a, ports: ["127.0.0.1:80:80"], expose: ["81"]}
                  open: {image: a, ports: ["8080:80"]}
                  routed: {image: a, labels: ["traefik.http.routers.r.rule=Host(`x`)"]}
                  disabled:
                    image: a
                    labels: {traefik.enable: "false", traefik.http.routers.r.rule: x}
                  vhost: {image: a, environment: {VIRTUAL_HOST: x.example}}
                  caddy: {image: a, labels: {caddy: x.example}}
            """
        }
    )
    got = _classes(root)
    assert got["local"] == ["stateless"]
    assert got["disabled"] == ["stateless"]
    for name in ("open", "routed", "vhost", "caddy"):
        assert got[name] == ["public-edge"], name


def test_secret_privileged_auth_rules(tree: Tree) -> None:
    root = tree(
        {
            "app.env": "A=1\n",
            "compose.yml": """
                services:
                  s1: {image: a, environment: [API_TOKEN=x]}
                  s2: {image: a, env_file: app.env}
                  s3: {image: a, environment: {DB_PASSWORD_FILE: /run/secrets/db}}
                  s4: {image: a, secrets: [db]}
                  s5: {image: a, volumes: ["./tls/server.key:/etc/server.key:ro"]}
                  p1: {image: a, privileged: true}
                  p2: {image: a, network_mode: host}
                  p3: {image: a, cap_add: [NET_ADMIN]}
                  p4: {image: a, volumes: [/var/run/docker.sock:/var/run/docker.sock:ro]}
                  p5: {image: a, devices: [/dev/dri:/dev/dri]}
                  mild: {image: a, cap_add: [CHOWN], environment: {LOG_LEVEL: debug}}
                  kc: {image: quay.io/keycloak/keycloak:25.0}
                  o2p: {image: quay.io/oauth2-proxy/oauth2-proxy:v7.6.0}
                secrets: {db: {file: ./db.txt}}
            """,
        }
    )
    got = _classes(root)
    for name in ("s1", "s2", "s3", "s4", "s5"):
        assert got[name] == ["secret-bearing"], name
    for name in ("p1", "p2", "p3", "p4", "p5"):
        assert got[name] == ["privileged"], name
    assert got["mild"] == ["stateless"]
    assert got["kc"] == ["auth"] and got["o2p"] == ["auth"]


def test_stateful_rules_and_redis_persistence(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                x-db: &db
                  image: postgres:16
                services:
                  pg: *db
                  cache: {image: redis:7, command: redis-server --save ""}
                  queue: {image: redis:7, command: redis-server --appendonly yes}
                  kv: {image: valkey/valkey:8, volumes: [kvdata:/data]}
                  conf: {image: a, volumes: ["./nginx.conf:/etc/nginx/nginx.conf"]}
                  ro: {image: a, volumes: ["./data:/data:ro"]}
                  tmp: {image: a, tmpfs: [/tmp]}
                  rw: {image: a, volumes: ["./uploads:/srv/uploads"]}
                volumes: {kvdata: {}}
            """
        }
    )
    got = _classes(root)
    assert got["pg"] == ["stateful"]
    assert got["cache"] == ["stateless"]
    assert got["queue"] == ["stateful"]
    assert got["kv"] == ["stateful"]
    for name in ("conf", "ro", "tmp"):
        assert got[name] == ["stateless"], name
    assert got["rw"] == ["stateful"]


def test_tier_counts_reverse_depends_on_not_networks(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                services:
                  db: {image: postgres:16, networks: [n]}
                  a: {image: a, depends_on: [db], networks: [n]}
                  b: {image: a, depends_on: {db: {condition: service_healthy}}}
                  c: {image: a, networks: [n]}
                networks: {n: {}}
            """
        }
    )
    platform = load_platform(root)
    mods = {m.service.name: m for m in platform.modules.values()}
    assert mods["db"].tier == "core" and len(mods["db"].dependents) == 2
    assert mods["c"].tier == "leaf"


def test_policy_overrides_and_relaxation_needs_decision(tree: Tree) -> None:
    files = {
        "compose.yml": "name: p\nservices:\n  db: {image: postgres:16}\n  web: {image: a}\n",
        "stategate.yaml": """
            modules:
              p/db:
                classes: {remove: [stateful]}
              p/web:
                classes: {add: [auth]}
                tier: core
        """,
    }
    root = tree(files)
    platform = load_platform(root)
    assert [c.value for c in platform.modules["p/db"].classes] == ["stateful"]  # kept
    assert any("removes always-manual class stateful" in str(r) for r in platform.relaxations)
    assert platform.modules["p/web"].tier == "core"
    assert [c.value for c in platform.modules["p/web"].classes] == ["auth"]
    root = tree(
        {
            "decisions/0040-db-is-scratch.md": "# db is scratch\n",
            "stategate.yaml": """
                modules:
                  p/db:
                    decision: decisions/0040-db-is-scratch.md
                    classes: {remove: [stateful]}
            """,
        }
    )
    platform = load_platform(root)
    assert platform.relaxations == []
    assert [c.value for c in platform.modules["p/db"].classes] == ["stateless"]
