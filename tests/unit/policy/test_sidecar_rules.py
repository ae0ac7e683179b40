"""Each sidecar rule pinned: the parent, the reason's text, file line and confidence,
and the guards that keep a long-running service unbound (issue 19; these tests exist
so that the mutation run of policy/sidecar.py finds no rule nothing checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.platform import load_platform
from stategate.policy.classify import Module
from tests.conftest import Tree

RULES = """\
name: p
services:
  vpn:
    image: qmcgaw/gluetun:v3.39
    container_name: gw
  viaservice:
    image: alpine:3.20
    network_mode: service:vpn
  viacontainer:
    image: alpine:3.20
    network_mode: container:gw
  data:
    image: postgres:16.4
    volumes: [pg:/var/lib/postgresql/data]
  reader:
    image: alpine:3.20
    volumes_from: ["data:ro"]
  app:
    image: ex/app:1.0
    volumes: [uploads:/srv/uploads, ./files:/srv/files]
  app-worker:
    image: ex/app:1.0
    depends_on: [app]
  app-cron:
    image: ex/cron:1.0
    volumes: [uploads:/srv/uploads]
  migrate:
    image: ex/app:1.0
    deploy:
      restart_policy: {condition: none}
    volumes: [./files/tmp:/srv/tmp]
  archiver:
    image: ex/archiver:1.0
    depends_on: [app]
    volumes: [./files/archive:/archive]
  app-push:
    image: ex/push:1.0
    volumes: [uploads:/srv/uploads]
  sync:
    image: rclone/rclone:1.68
    volumes: [./files:/in]
  collector-backup:
    image: ex/backup:1.0
    volumes: [./files:/src]
  replica:
    image: ex/app:1.0
    depends_on: [app]
volumes: {pg: {}, uploads: {}}
"""

GUARDS = """\
name: q
services:
  a1:
    image: ex/a:1.0
    volumes: [a1:/data, a1s:/static]
  a2:
    image: ex/b:1.0
    volumes: [a2:/data]
  db:
    image: postgres:16.4
    volumes: [pg:/var/lib/postgresql/data]
  a3:
    image: ex/c:1.0
    volumes: [a3:/data, a3s:/static]
  front:
    image: nginx:1.27
    depends_on: [a1, a2]
    volumes: [a1s:/srv/static]
  front1:
    image: nginx:1.27
    depends_on: [a3, db]
    volumes: [a3s:/srv/static]
  m1:
    image: ex/m1:1.0
    volumes: [./media:/media]
  media-cron:
    image: ex/mc:1.0
    volumes: [./media/tv/a:/a]
  m3:
    image: ex/m3:1.0
    volumes: [./media/tv/b:/b]
  pool-user:
    image: ex/pu:1.0
    depends_on: [m1]
    volumes: [./media/tv:/tv]
  feeder-sync:
    image: ex/feeder:1.0
    volumes: ["./readonly:/ro:ro", "site:/git"]
  site-web:
    image: nginx:1.27
    volumes: ["site:/usr/share/nginx/html:ro"]
  app:
    image: ex/app:1.0
    volumes: [./app:/app, ./cfg:/cfg]
  app-push:
    image: ex/push:1.0
    volumes: [./app/push:/push]
  indexer:
    image: ex/idx:1.0
    volumes: [./app/push/cache:/cache]
  tidy:
    image: ex/tidy:1.0
    depends_on: [db]
    deploy:
      restart_policy: {condition: none}
volumes: {a1: {}, a1s: {}, a2: {}, a3: {}, a3s: {}, pg: {}, site: {}}
"""

MORE = """\
name: r
services:
  db:
    image: postgres:16.4
    volumes: [pg:/var/lib/postgresql/data]
  db-backup:
    image: ex/dumper:1.0
    depends_on: [db]
    volumes: [./dumps:/dumps]
  web:
    image: nginx:1.27
  init-web:
    image: alpine:3.20
    restart: "no"
    depends_on: [web]
  app:
    image: ex/app:1.0
    volumes: [./files:/srv/files]
  seed:
    image: alpine:3.20
    restart: "no"
    volumes: [./files:/seed]
  shop:
    image: ex/shop:1.0
    volumes: [shop:/data, ./shop-cfg:/cfg]
  shop-daemon:
    image: ex/shopd:1.0
    volumes: [shop:/data]
  lonely:
    image: alpine:3.20
    volumes_from: ["container:nowhere"]
  content:
    image: registry.k8s.io/git-sync/git-sync:v4.2.4
    volumes: [pages:/git]
  pages-web:
    image: nginx:1.27
    volumes: ["pages:/usr/share/nginx/html:ro"]
  pages-cron:
    image: ex/cron:1.0
    volumes: ["pages:/pages:ro"]
  two-sync:
    image: ex/feeder-sync:1.0
    volumes: [both:/out]
  reader-a:
    image: nginx:1.27
    volumes: ["both:/a:ro"]
  reader-b:
    image: nginx:1.27
    volumes: ["both:/b:ro"]
  host-backup:
    image: ex/host-backup:1.0
    volumes: ["/:/host"]
  hostapp:
    image: ex/hostapp:1.0
    volumes: ["/srv/hostapp:/data"]
  c1:
    image: ex/c1:1.0
    volumes: [crowd:/c]
  c2:
    image: ex/c2:1.0
    volumes: [crowd:/c]
  c3:
    image: ex/c3:1.0
    volumes: [crowd:/c]
  c4:
    image: ex/c4:1.0
    volumes: [crowd:/c]
  c5:
    image: ex/c5:1.0
    volumes: [crowd:/c]
  c1x:
    image: ex/c1x:1.0
    volumes: [crowd:/c]
  files-tool:
    image: ex/tool:1.0
    depends_on: [app]
    entrypoint: /data/bin/tool
    volumes: ["./files:/data:ro"]
  w-cron:
    image: ex/w:1.0
    volumes: [wv:/w]
  w-beat:
    image: ex/w:1.0
    volumes: [wv:/w]
  z-cron:
    image: ex/z:1.0
    volumes: [./hv:/hv]
  h1-cron:
    image: ex/h1:1.0
    volumes: [./hv:/hv]
  h2-cron:
    image: ex/h2:1.0
    volumes: [./hv:/hv]
  h3-cron:
    image: ex/h3:1.0
    volumes: [./hv:/hv]
  h4-cron:
    image: ex/h4:1.0
    volumes: [./hv:/hv]
  gallery:
    image: ex/gallery:1.0
    depends_on: [thumbs]
    volumes: [./g:/g]
  thumbs:
    image: ex/thumbs:1.0
    volumes: [./g/thumbs:/t]
volumes: {pg: {}, shop: {}, pages: {}, both: {}, crowd: {}, wv: {}}
"""

Bound = tuple[str | None, tuple[str, int, str] | None]


def _bindings(tree: Tree, text: str) -> dict[str, Module]:
    root: Path = tree({"compose.yml": text})
    return dict(load_platform(root).modules)


def _bound(module: Module) -> Bound:
    first = next((r for r in module.reasons if r.cls.value == "sidecar-bound"), None)
    return module.parent, (first.reason, first.loc.line, first.confidence) if first else None


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("p/viaservice", ("p/vpn", ("shares the network of vpn (network_mode)", 8, "certain"))),
        (
            "p/viacontainer",
            ("p/vpn", ("shares the network of container gw (p/vpn)", 11, "certain")),
        ),
        ("p/reader", ("p/data", ("volumes_from data", 17, "certain"))),
        (
            "p/app-worker",
            ("p/app", ("helper of app (same image, depends on it)", 22, "certain")),
        ),
        ("p/app-cron", ("p/app", ("shares data volume uploads with app", 26, "likely"))),
        (
            "p/migrate",
            (
                "p/app",
                (
                    "a job running app's own image against its data "
                    "(bind path files/tmp inside app's files)",
                    31,
                    "certain",
                ),
            ),
        ),
        (
            "p/archiver",
            ("p/app", ("shares bind path files/archive inside app's files", 35, "likely")),
        ),
        ("p/app-push", (None, None)),  # app-cron writes its volume too: no companion
        (
            "p/sync",
            ("p/app", ("backup agent of app (bind path files with app)", 41, "certain")),
        ),
        (
            "p/collector-backup",
            ("p/app", ("backup agent of app (bind path files with app)", 44, "certain")),
        ),
        ("p/app", (None, None)),
        ("p/vpn", (None, None)),
        ("p/replica", (None, None)),  # same image, but not a helper: a replica
    ],
)
def test_each_rule_binds_with_its_reason(tree: Tree, module: str, expected: Bound) -> None:
    assert _bound(_bindings(tree, RULES)[module]) == expected


@pytest.mark.parametrize(
    ("module", "expected", "why"),
    [
        ("q/front", (None, None), "data volume a1s with a1, but it is a front for a1, a2"),
        ("q/front1", ("q/a3", ("shares data volume a3s with a3", 22, "likely")), None),
        (
            "q/pool-user",
            (None, None),
            "bind path media/tv inside m1's media, but the data is a pool that m1, m3 write",
        ),
        (
            "q/media-cron",
            ("q/m1", ("shares bind path media/tv/a inside m1's media", 28, "likely")),
            None,
        ),
        (
            "q/feeder-sync",
            ("q/site-web", ("feeds site-web's data (site is read-only there)", 38, "likely")),
            None,
        ),
        (
            "q/app-push",
            (None, None),
            "bind path app/push inside app's app, but it is no job, helper, backup agent or "
            "companion of app and does not depend on it",
        ),
        (
            "q/tidy",
            ("q/db", ("deploy.restart_policy condition none; depends on db", 55, "certain")),
            None,
        ),
    ],
)
def test_guards_and_their_near_misses(
    tree: Tree, module: str, expected: Bound, why: str | None
) -> None:
    found = _bindings(tree, GUARDS)[module]
    assert _bound(found) == expected
    if why is not None:
        assert why in [n.why for n in found.near_misses if n.rule == "shared data"]


def test_near_miss_rules_and_lines(tree: Tree) -> None:
    mods = _bindings(tree, RULES)
    archiver = [(n.rule, n.loc.line, n.why) for n in mods["p/archiver"].near_misses]
    assert (
        "depends_on",
        34,
        "depends on app: that alone does not bind a long-running service",
    ) in archiver
    migrate = [(n.rule, n.loc.line) for n in mods["p/migrate"].near_misses]
    assert ("one-shot job", 30) in migrate
    backup = [n.why for n in mods["p/collector-backup"].near_misses if n.rule == "sidecar"]
    assert backup == [
        "backup agent of archiver (bind path files with archiver): also true, but already "
        "bound to p/app",
        "backup agent of sync (bind path files with sync): also true, but already bound to p/app",
    ]


@pytest.mark.parametrize(
    ("module", "expected", "miss"),
    [
        ("r/db-backup", ("r/db", ("backup agent of db (depends on it)", 8, "certain")), None),
        (
            "r/init-web",
            ("r/web", ("one-shot job (restart: no); depends on web", 14, "certain")),
            None,
        ),
        ("r/seed", ("r/app", ("job writing bind path files with app", 22, "likely")), None),
        (
            "r/shop-daemon",
            (
                "r/shop",
                (
                    "companion of shop: all its data lives in its volumes (data volume shop "
                    "with shop)",
                    28,
                    "likely",
                ),
            ),
            None,
        ),
        ("r/lonely", (None, None), ("volumes_from", 31, "container nowhere is not declared here")),
        (
            "r/content",
            ("r/pages-web", ("feeds pages-web's data (pages is read-only there)", 34, "likely")),
            None,
        ),
        (
            "r/two-sync",
            (None, None),
            ("feeds data", 43, "writes both that reader-a, reader-b read: not bound to one"),
        ),
        (
            "r/shop",
            (None, None),
            (
                "shared data",
                25,
                "data volume shop with shop-daemon, but it is no job, helper, backup agent or "
                "companion of shop-daemon and does not depend on it",
            ),
        ),
        (
            "r/host-backup",
            ("r/hostapp", ("backup agent of hostapp (bind path / with hostapp)", 52, "certain")),
            None,
        ),
    ],
)
def test_more_rules_with_their_lines(
    tree: Tree, module: str, expected: Bound, miss: tuple[str, int, str] | None
) -> None:
    found = _bindings(tree, MORE)[module]
    assert _bound(found) == expected
    if miss is not None:
        assert miss in [(n.rule, n.loc.line, n.why) for n in found.near_misses]


def test_many_unrelated_sharers_make_one_near_miss(tree: Tree) -> None:
    found = _bindings(tree, MORE)["r/c1"]
    assert found.parent is None
    assert [(n.rule, n.loc.line, n.why) for n in found.near_misses] == [
        (
            "shared data",
            58,
            "data volume crowd shared with c2, c3, c4 and 2 more, but it is no job, helper, "
            "backup agent or companion of any of them and depends on none",
        )
    ]


@pytest.mark.parametrize(
    ("module", "expected", "miss"),
    [
        (
            "r/c1x",  # "c1" begins its name but with no separator: not its companion
            (None, None),
            (
                "shared data",
                73,
                "data volume crowd shared with c1, c2, c3 and 2 more, but it is no job, "
                "helper, backup agent or companion of any of them and depends on none",
            ),
        ),
        (
            "r/files-tool",
            (
                "r/app",
                (
                    "runs what it finds in app's data (bind path files with app read-only)",
                    78,
                    "certain",
                ),
            ),
            None,
        ),
        (
            "r/w-beat",
            (
                "r/w-cron",
                (
                    "runs w-cron's own image against its data (data volume wv with w-cron)",
                    84,
                    "certain",
                ),
            ),
            None,
        ),
        (
            "r/w-cron",
            (None, None),
            (
                "sidecar",
                81,
                "bound to w-beat, which is bound to it: w-beat moves with w-cron, not both ways",
            ),
        ),
        (
            "r/z-cron",
            (None, None),
            (
                "shared data",
                87,
                "bind path hv shared with h1-cron, h2-cron, h3-cron and 1 more, but it is no "
                "job, helper, backup agent or companion of any of them and depends on none",
            ),
        ),
        ("r/gallery", ("r/thumbs", ("shares bind path g with thumbs", 103, "likely")), None),
    ],
)
def test_sharers_helpers_and_folders(
    tree: Tree, module: str, expected: Bound, miss: tuple[str, int, str] | None
) -> None:
    found = _bindings(tree, MORE)[module]
    assert _bound(found) == expected
    if miss is not None:
        assert miss in [(n.rule, n.loc.line, n.why) for n in found.near_misses]
