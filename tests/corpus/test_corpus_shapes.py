"""The sidecar and implicit-state shapes of issue 19 on real compose files we did not write
(read from ../shared/corpus/compose, never copied). Shapes the corpus does not hold are
in tests/unit/policy/test_sidecar_shapes.py."""

from __future__ import annotations

import pytest

from stategate.compose.load import load_compose
from stategate.compose.model import services_of
from stategate.policy.classify import Module, classify
from stategate.policy.default import default_policy
from stategate.source import WorkTree
from tests.conftest import SHARED

CORPUS = SHARED / "corpus" / "compose"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the project"),
]


def _module(path: str, name: str) -> Module:
    repo, rel = path.split("/", 1)
    loaded = load_compose(WorkTree(CORPUS / repo), [rel])
    inventory = classify([s for p in loaded.projects for s in services_of(p)], default_policy())
    return next(m for m in inventory.modules.values() if m.service.name == name)


def _reason(module: Module, cls: str) -> tuple[str, str, int, str]:
    r = next(r for r in module.reasons if r.cls.value == cls)
    return r.reason, r.loc.file, r.loc.line, r.confidence


def test_network_mode_service_vpn_sidecar() -> None:
    # tailscale-docker-sidecar-configs: the app joins the tailscale container's network
    m = _module(
        "2Tiny2Scale__tailscale-docker-sidecar-configs/services/nextcloud/docker-compose.yml",
        "application",
    )
    assert m.parent == "nextcloud/tailscale"
    reason = _reason(m, "sidecar-bound")
    assert reason == (
        "shares the network of tailscale (network_mode)",
        "services/nextcloud/docker-compose.yml",
        40,
        "certain",
    )


def test_cron_running_the_parents_own_image_against_its_data() -> None:
    # nextcloud's example: cron runs nextcloud:apache with /cron.sh on the app's volume
    m = _module(
        "nextcloud__docker/.examples/docker-compose/insecure/mariadb/apache/compose.yaml", "cron"
    )
    assert m.parent == "apache/app"
    text, _, line, confidence = _reason(m, "sidecar-bound")
    assert text == "runs app's own image against its data (data volume nextcloud with app)"
    assert (line, confidence) == (46, "certain")
    # the app is never bound to its own cron
    assert (
        _module(
            "nextcloud__docker/.examples/docker-compose/insecure/mariadb/apache/compose.yaml", "app"
        ).parent
        is None
    )


def test_backup_agent_bound_to_the_database_it_dumps() -> None:
    # zammad's backup service shares the app's storage but serves the database
    m = _module("zammad__zammad-docker-compose/docker-compose.yml", "zammad-backup")
    assert m.parent == "zammad__zammad-docker-compose/zammad-postgresql"
    assert _reason(m, "sidecar-bound")[0] == "backup agent of zammad-postgresql (depends on it)"
    # workers on the shared storage bind to an app service, never to the backup agent
    for name in ("zammad-scheduler", "zammad-websocket"):
        parent = _module("zammad__zammad-docker-compose/docker-compose.yml", name).parent
        assert parent != "zammad__zammad-docker-compose/zammad-backup", name


def test_redis_without_a_volume_is_stateful() -> None:
    # nextcloud's example: redis:alpine with no volume still snapshots into /data
    m = _module(
        "nextcloud__docker/.examples/docker-compose/insecure/mariadb/apache/compose.yaml", "redis"
    )
    assert [c.value for c in m.classes] == ["stateful"]
    text, _, _, confidence = _reason(m, "stateful")
    assert "saves RDB snapshots by default" in text and confidence == "likely"


def test_conf_d_bind_mount_is_config_not_state() -> None:
    # mailcow: nginx's conf.d comes from the repo's data/conf/nginx
    m = _module("mailcow__mailcow-dockerized/docker-compose.yml", "nginx-mailcow")
    miss = [n for n in m.near_misses if n.rule == "data mount" and "conf.d" in n.why]
    assert miss and "config-provisioning" in miss[0].why and miss[0].loc.line == 446
    assert not any(r.cls.value == "stateful" and "conf.d" in r.reason for r in m.reasons), m.reasons


def test_connection_string_with_credentials_stays_a_secret() -> None:
    # lago: DATABASE_URL interpolates to postgresql://lago:changeme@db:5432/lago
    m = _module("getlago__lago/deploy/docker-compose.production.yml", "api")
    assert ("credential variable DATABASE_URL", 27) in [(r.reason, r.loc.line) for r in m.reasons]


def test_job_moves_with_the_database_not_the_cache_beside_it() -> None:
    # mediacms: migrations depend on redis and db; redis is stateful now, db is the store
    m = _module(
        "mediacms-io__mediacms/docker-compose/docker-compose-letsencrypt.yaml", "migrations"
    )
    assert m.parent is not None and m.parent.endswith("/db")
