"""Classification of real Kubernetes manifests we did not write (kubernetes/examples,
../shared/corpus/kubernetes; SOURCES.md there says where they come from). Read in place,
never copied; skipped where the corpus is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.kubernetes.classify import classify_kubernetes
from stategate.kubernetes.load import load_kubernetes
from stategate.policy.classify import Module
from stategate.policy.default import default_policy
from stategate.policy.schema import UpgradeClass
from stategate.source import WorkTree
from tests.conftest import SHARED, installed_cli
from tests.gitrepo import init_repo

CORPUS = SHARED / "corpus" / "kubernetes"
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the project"),
]
C = UpgradeClass


def classify(*paths: str) -> dict[str, Module]:
    kset = load_kubernetes(WorkTree(CORPUS), paths)
    return classify_kubernetes(kset, default_policy())


def where(module: Module, cls: UpgradeClass) -> list[str]:
    return [f"{r.loc}" for r in module.reasons if r.cls is cls]


def test_cockroachdb_statefulset() -> None:
    rel = "_archived/cockroachdb/cockroachdb-statefulset.yaml"
    db = classify(rel)["default/cockroachdb"]
    assert C.STATEFUL in db.classes
    assert f"{rel}:169" in where(db, C.STATEFUL)  # volumeClaimTemplates: datadir
    assert f"{rel}:128" in where(db, C.STATEFUL)  # image cockroachdb/cockroach


def test_minio_distributed_statefulset() -> None:
    rel = "_archived/storage/minio/minio-distributed-statefulset.yaml"
    minio = classify(rel, "_archived/storage/minio/minio-distributed-service.yaml")["default/minio"]
    assert minio.classes[:2] == [C.STATEFUL, C.SECRET_BEARING]
    assert where(minio, C.STATEFUL) == [f"{rel}:43", f"{rel}:25"]
    assert f"{rel}:21" in where(minio, C.SECRET_BEARING)  # MINIO_ACCESS_KEY
    assert C.PUBLIC_EDGE in minio.classes  # the LoadBalancer Service selects it


def test_mysql_with_a_cinder_volume() -> None:
    rel = "databases/mysql-cinder-pd/mysql.yaml"
    mysql = classify("databases/mysql-cinder-pd")["default/mysql"]
    assert mysql.classes == [C.STATEFUL, C.SECRET_BEARING]
    assert where(mysql, C.STATEFUL) == [f"{rel}:26", f"{rel}:12"]
    assert where(mysql, C.SECRET_BEARING) == [f"{rel}:18"]


def test_cassandra_statefulset() -> None:
    cassandra = classify("databases/cassandra")["default/cassandra"]
    assert cassandra.classes == [C.STATEFUL]


def test_guestbook_frontend_behind_a_nodeport_service() -> None:
    names = ["frontend-deployment", "frontend-service", "redis-master-deployment"]
    found = classify(*(f"web/guestbook/{n}.yaml" for n in names))
    frontend = found["default/frontend"]
    assert frontend.classes == [C.PUBLIC_EDGE]
    assert where(frontend, C.PUBLIC_EDGE)[0] == "web/guestbook/frontend-service.yaml:10"
    assert found["default/redis-master"].classes == [C.STATELESS]  # redis without persistence


def test_javaweb_init_container_fills_the_shared_volume() -> None:
    rel = "_archived/javaweb-tomcat-sidecar/javaweb.yaml"
    web = classify(rel)["default/javaweb"]
    assert C.SIDECAR_BOUND in web.classes and web.parent == "default/javaweb"
    assert where(web, C.SIDECAR_BOUND) == [f"{rel}:11"]


def test_sysdig_daemonset_controls_the_host() -> None:
    rel = "_archived/sysdig-cloud/sysdig-daemonset.yaml"
    agent = classify(rel)["default/sysdig-agent"]
    assert C.PRIVILEGED in agent.classes and C.STATEFUL not in agent.classes
    reasons = {r.reason: str(r.loc) for r in agent.reasons if r.cls is C.PRIVILEGED}
    assert reasons["container engine socket /var/run/docker.sock"] == f"{rel}:19"
    assert reasons["hostNetwork: true"] == f"{rel}:38"
    assert reasons["securityContext.privileged: true (sysdig-agent)"] == f"{rel}:44"


def test_vllm_reads_a_secret_key() -> None:
    rel = "AI/vllm-deployment/vllm-deployment.yaml"
    vllm = classify(rel)["default/vllm-gemma-deployment"]
    assert where(vllm, C.SECRET_BEARING) == [f"{rel}:50"]


def test_tensorflow_serving_behind_an_ingress() -> None:
    found = classify("AI/model-serving-tensorflow")
    serving = found["default/tf-serving"]
    assert serving.classes == [C.STATEFUL, C.PUBLIC_EDGE]
    assert where(serving, C.PUBLIC_EDGE) == ["AI/model-serving-tensorflow/ingress.yaml:14"]


# kubernetes/examples keeps a few manifests as {{var}} templates (not Helm charts), each
# named *-template.yaml: discovery skips them with a warning naming each (a manifest that
# does not load under any other name is an error: tests/unit/kubernetes)
def _loads(path: Path) -> bool:
    try:
        load_kubernetes(WorkTree(CORPUS), (str(path.relative_to(CORPUS)),))
    except InputError:
        return False
    return True


TEMPLATES = sorted(
    str(p.relative_to(CORPUS))
    for p in CORPUS.rglob("*.yaml")
    if "{{" in p.read_text() and not _loads(p)
)


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_whole_corpus_through_the_cli_names_its_templates() -> None:
    assert len(TEMPLATES) == 6 and all("template" in t for t in TEMPLATES)
    proc = run_cli("classify", "--source", "kubernetes", str(CORPUS), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["modules"]) == 59
    skipped = [w for w in doc["warnings"] if "template, not YAML until rendered" in w]
    assert sorted(w.split(":", 1)[0] for w in skipped) == TEMPLATES
    counts = Counter(c for m in doc["modules"] for c in m["classes"])
    assert counts[C.STATEFUL.value] >= 15 and counts[C.PRIVILEGED.value] >= 5
    assert all(m["reasons"] and m["reasons"][0]["line"] > 0 for m in doc["modules"])


def test_a_statefulset_image_bump_on_the_corpus_is_blocked(tmp_path: Path) -> None:
    # the whole kubernetes/examples corpus as a platform repo (copied to a temporary git
    # repo, never into the project); the PR bumps cockroachdb's StatefulSet image
    repo = init_repo(tmp_path / "platform", CORPUS)
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    rel = "_archived/cockroachdb/cockroachdb-statefulset.yaml"
    pinned = "cockroachdb/cockroach:v1.1.9@sha256:" + "ab" * 32  # a floating tag would stop
    repo.replace(rel, "image: cockroachdb/cockroach:v1.1.0", f"image: {pinned}")
    repo.commit("cockroach 1.1.9")
    proc = subprocess.run(
        [installed_cli(), "check", "--repo", str(repo.path), "--base", "main", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    verdict = json.loads(proc.stdout)
    assert verdict["verdict"] == "blocked"
    (change,) = verdict["changes"]
    assert change["module"] == "default/cockroachdb"
    assert (change["file"], change["kind"], change["to"]) == (rel, "image-tag", pinned)
    missing = {r["id"] for r in verdict["requirements"] if r["status"] == "missing"}
    assert {"merge/packet", "merge/rollback-path"} <= missing
