"""`stategate check` on pull requests that change Kubernetes manifests (real git repos):
the same verdicts as the compose equivalents in tests/integration/test_check_merge.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stategate.policy.gate import Verdict, evaluate_merge
from stategate.pullrequest import load_pull_request
from tests.conftest import installed_cli
from tests.gitrepo import Repo, init_repo

PG_OLD = "postgres:16.4@sha256:" + "11" * 32
PG_NEW = "postgres:16.6@sha256:" + "22" * 32
WEB_OLD = "ghcr.io/example/web:1.4.0@sha256:" + "33" * 32
WEB_NEW = "ghcr.io/example/web:1.5.0@sha256:" + "44" * 32

POSTGRES = f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: postgres
  namespace: data
spec:
  serviceName: postgres
  selector:
    matchLabels: {{app: postgres}}
  template:
    metadata:
      labels: {{app: postgres}}
    spec:
      containers:
        - name: postgres
          image: {PG_OLD}
          env:
            - name: POSTGRES_PASSWORD
              valueFrom:
                secretKeyRef: {{name: pg, key: password}}
          volumeMounts:
            - {{name: data, mountPath: /var/lib/postgresql/data}}
        - name: exporter
          image: quay.io/prometheuscommunity/postgres-exporter:v0.15.0
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources: {{requests: {{storage: 10Gi}}}}
---
apiVersion: v1
kind: Service
metadata:
  name: postgres
  namespace: data
spec:
  selector: {{app: postgres}}
  ports: [{{port: 5432}}]
"""

WEB = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: data
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: {WEB_OLD}
"""

KUSTOMIZATION = """\
resources:
  - postgres.yaml
  - web.yaml
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = init_repo(tmp_path / "platform")
    repo.write("k8s/postgres.yaml", POSTGRES)
    repo.write("k8s/web.yaml", WEB)
    repo.write("k8s/kustomization.yaml", KUSTOMIZATION)
    repo.write("README.md", "# platform\n")
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    return repo


def judge(repo: Repo) -> Verdict:
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    return evaluate_merge(pr)


def cli_check(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_cli(), "check", "--repo", str(repo.path), "--base", "main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_statefulset_image_bump_without_packet_is_blocked(repo: Repo) -> None:
    repo.replace("k8s/postgres.yaml", PG_OLD, PG_NEW)
    repo.commit("postgres 16.6")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    (change,) = v.changes
    assert (change.module, change.kind.value, change.semver) == (
        "data/postgres",
        "image-tag",
        "minor",
    )
    assert (change.from_image, change.to_image) == (PG_OLD, PG_NEW)
    assert (change.file, change.line) == ("k8s/postgres.yaml", 16)
    assert {"merge/packet", "merge/rollback-path"} <= {r.id for r in v.missing}
    assert "merge/auto" not in v.labels
    proc = cli_check(repo, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "blocked"
    text = cli_check(repo)
    assert text.returncode == 1 and "verdict: blocked (merge stage)" in text.stdout


def test_kustomize_new_tag_bump_is_blocked(repo: Repo) -> None:
    digest = PG_NEW.split("@")[1]
    repo.write(
        "k8s/kustomization.yaml",
        KUSTOMIZATION + f"images:\n  - name: postgres\n    newTag: '16.6'\n    digest: {digest}\n",
    )
    repo.commit("postgres 16.6 via kustomize")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    (change,) = v.changes
    assert (change.module, change.kind.value) == ("data/postgres", "image-tag")
    assert (change.from_image, change.to_image) == (PG_OLD, PG_NEW)
    assert {"merge/packet", "merge/rollback-path"} <= {r.id for r in v.missing}
    assert cli_check(repo).returncode == 1


def test_kustomize_floating_tag_on_a_statefulset_stops(repo: Repo) -> None:
    repo.write(
        "k8s/kustomization.yaml", KUSTOMIZATION + "images:\n  - name: postgres\n    newTag: '17'\n"
    )
    repo.commit("postgres 17, floating")
    v = judge(repo)
    assert v.verdict.value == "stop"  # as for compose: a stateful module on a floating tag
    assert "floating-tag" in {s.condition.value for s in v.stops}
    assert v.changes[0].to_image == "postgres:17"
    assert cli_check(repo).returncode == 3


def test_second_container_image_bump_is_an_image_change(repo: Repo) -> None:
    repo.replace("k8s/postgres.yaml", "postgres-exporter:v0.15.0", "postgres-exporter:v0.16.0")
    repo.commit("exporter v0.16.0")
    v = judge(repo)
    (change,) = v.changes
    assert (change.module, change.kind.value, change.semver) == (
        "data/postgres",
        "image-tag",
        "minor",
    )
    assert change.from_image == "quay.io/prometheuscommunity/postgres-exporter:v0.15.0"
    assert change.to_image == "quay.io/prometheuscommunity/postgres-exporter:v0.16.0"
    assert "containers.exporter" in change.fields
    assert v.verdict.value != "pass"


def test_stateless_deployment_bump_passes_like_compose(repo: Repo) -> None:
    repo.replace("k8s/web.yaml", WEB_OLD, WEB_NEW)
    repo.commit("web 1.5.0")
    v = judge(repo)
    assert v.verdict.value == "pass", v.missing
    assert "merge/auto" in v.labels
    (change,) = v.changes
    assert (change.module, change.kind.value, change.semver) == ("data/web", "image-tag", "minor")
    proc = cli_check(repo)
    assert proc.returncode == 0 and "verdict: pass (merge stage)" in proc.stdout


def test_exposure_change_is_a_change_of_the_workload(repo: Repo) -> None:
    repo.write(
        "k8s/web.yaml",
        WEB
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: data}\n"
        + "spec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    )
    repo.commit("expose web")
    v = judge(repo)
    (change,) = v.changes
    assert (change.module, change.kind.value, change.fields) == (
        "data/web",
        "config",
        ("services.web",),
    )
    assert v.verdict.value != "pass"


def test_added_and_removed_workloads(repo: Repo) -> None:
    repo.write("k8s/kustomization.yaml", "resources:\n  - postgres.yaml\n  - cache.yaml\n")
    repo.write(
        "k8s/cache.yaml",
        WEB.replace("web", "cache").replace(WEB_OLD.replace("web", "cache"), "memcached:1.6.21"),
    )
    repo.commit("cache instead of web")
    v = judge(repo)
    kinds = {(c.module, c.kind.value) for c in v.changes}
    assert kinds == {("data/cache", "added"), ("data/web", "removed")}


def test_compose_and_kubernetes_in_one_repo(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "p")
    repo.write("docker-compose.yml", "services:\n  cache: {image: 'memcached:1.6.20'}\n")
    repo.write("k8s/postgres.yaml", POSTGRES)
    repo.commit("base")
    repo.replace("k8s/postgres.yaml", PG_OLD, PG_NEW)
    repo.commit("bump")
    pr, sides = load_pull_request(repo.path, "HEAD~1", None)
    assert {"p/cache", "data/postgres"} <= set(sides.head.modules)
    assert [c.module for c in pr.changes] == ["data/postgres"]
    assert evaluate_merge(pr).verdict.value == "blocked"


@pytest.mark.parametrize("name", ["postgre[s]", ".*", "x|postgres"])
def test_kustomize_image_name_pattern_is_an_image_change(repo: Repo, name: str) -> None:
    digest = PG_NEW.split("@")[1]
    repo.write(
        "k8s/kustomization.yaml",
        KUSTOMIZATION + f"images:\n  - name: '{name}'\n    newTag: '16.6'\n    digest: {digest}\n",
    )
    repo.commit("postgres 16.6 via a kustomize name pattern")
    v = judge(repo)
    changed = {c.module: (c.from_image, c.to_image) for c in v.changes}
    assert changed["data/postgres"] == (PG_OLD, PG_NEW)
    if name != ".*":
        assert v.verdict.value == "blocked"
        return
    # ".*" retags every image: the exporter beside postgres jumps v0.15.0 -> 16.6, a
    # major change of a stateful workload's image with no migration note
    assert v.verdict.value == "stop"
    (major,) = [s for s in v.stops if s.condition.value == "major-without-migration-note"]
    assert "postgres-exporter:v0.15.0 -> " in major.message


def test_kustomize_image_name_that_does_not_compile_exits_2(repo: Repo) -> None:
    repo.write(
        "k8s/kustomization.yaml",
        KUSTOMIZATION + "images:\n  - name: 'postgre[s'\n    newTag: '17'\n",
    )
    repo.commit("broken pattern")
    proc = cli_check(repo)
    assert proc.returncode == 2
    assert "k8s/kustomization.yaml:5" in proc.stderr


def test_a_root_chart_yaml_does_not_hide_the_workloads(repo: Repo) -> None:
    repo.write("Chart.yaml", "apiVersion: v2\nname: platform\nversion: 1.0.0\n")
    repo.replace("k8s/postgres.yaml", PG_OLD, PG_NEW)
    repo.commit("a chart at the root, and postgres 16.6")
    v = judge(repo)
    assert [(c.module, c.kind.value) for c in v.changes] == [("data/postgres", "image-tag")]
    assert v.verdict.value == "blocked"


def test_a_manifest_padded_past_the_size_limit_exits_2(repo: Repo) -> None:
    repo.write("k8s/web.yaml", WEB + "#" * (5 * 1024 * 1024) + "\n")
    repo.write("k8s/kustomization.yaml", "resources:\n  - postgres.yaml\n")
    repo.commit("web too large to read")
    proc = cli_check(repo)
    assert proc.returncode == 2 and "k8s/web.yaml" in proc.stderr
