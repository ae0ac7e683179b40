"""Every image a Kubernetes workload runs is judged, not only the first one that changed
(attack review, issue 19): pinning and major versions of each container count."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_check_kubernetes import judge
from tests.gitrepo import Repo, init_repo

EXPORTER_OLD = "quay.io/prometheuscommunity/postgres-exporter:v0.15.0@sha256:" + "55" * 32
EXPORTER_NEW = "quay.io/prometheuscommunity/postgres-exporter:v0.15.1@sha256:" + "66" * 32
PG = "postgres:16.4@sha256:" + "11" * 32

STATEFULSET = f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: pg, namespace: data}}
spec:
  serviceName: pg
  selector: {{matchLabels: {{app: pg}}}}
  template:
    metadata: {{labels: {{app: pg}}}}
    spec:
      initContainers:
        - name: upgrade
          image: {PG}
          command: [sh, -c, "true"]
      containers:
        - name: exporter
          image: {EXPORTER_OLD}
        - name: postgres
          image: {PG}
          volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = init_repo(tmp_path / "platform")
    repo.write("k8s/pg.yaml", STATEFULSET)
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    return repo


def test_an_unpinned_major_behind_a_pinned_first_change_still_stops(repo: Repo) -> None:
    text = (repo.path / "k8s/pg.yaml").read_text(encoding="utf-8")
    text = text.replace(EXPORTER_OLD, EXPORTER_NEW).replace(
        f"name: postgres\n          image: {PG}", "name: postgres\n          image: postgres:17"
    )
    repo.write("k8s/pg.yaml", text)
    repo.commit("exporter v0.15.1, postgres 17")
    v = judge(repo)
    (change,) = v.changes
    assert (change.from_image, change.to_image) == (EXPORTER_OLD, EXPORTER_NEW)
    assert [(m.container, m.to_image, m.semver) for m in change.other_images] == [
        ("postgres", "postgres:17", "major")
    ]
    stops = {s.condition.value: s.message for s in v.stops}
    assert "postgres:17 is not pinned" in stops["floating-tag"]
    assert "postgres:17" in stops["major-without-migration-note"]
    assert v.verdict.value == "stop"


def test_an_init_container_image_counts_too(repo: Repo) -> None:
    repo.replace(
        "k8s/pg.yaml",
        f"name: upgrade\n          image: {PG}",
        "name: upgrade\n          image: postgres:16.6",
    )
    repo.commit("init image 16.6, unpinned")
    v = judge(repo)
    (change,) = v.changes
    assert change.to_image == "postgres:16.6"
    assert "floating-tag" in {s.condition.value for s in v.stops}
