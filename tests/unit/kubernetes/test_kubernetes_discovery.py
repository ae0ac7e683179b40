"""Discovery cannot be made to lose a workload: Helm charts, templates, encodings,
sizes, and the places stategate skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.kubernetes.load import load_kubernetes
from stategate.source import WorkTree
from tests.conftest import Tree

PG = (
    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: pg}\n"
    "spec:\n  template:\n    spec:\n      containers: [{name: pg, image: 'postgres:16'}]\n"
)
CHART = "apiVersion: v2\nname: app\nversion: 1.0.0\n"


def ids(root: Path) -> list[str]:
    return [w.id for w in load_kubernetes(WorkTree(root)).workloads]


def test_a_root_chart_skips_only_its_templates(tree: Tree) -> None:
    root = tree(
        {
            "Chart.yaml": CHART,
            "templates/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n{{ .Values.x }}\n",
            "pg.yaml": PG,
            "rendered/web.yaml": PG.replace("name: pg}", "name: web}"),
        }
    )
    kset = load_kubernetes(WorkTree(root))
    assert [w.id for w in kset.workloads] == ["default/pg", "default/web"]
    assert any("templates/ not rendered" in w.message for w in kset.warnings)


def test_a_nested_chart_skips_only_its_templates(tree: Tree) -> None:
    root = tree(
        {
            "charts/app/Chart.yaml": CHART,
            "charts/app/templates/x.yaml": "apiVersion: v1\nkind: Pod\n{{ bad }}: [\n",
            "charts/app/rendered.yaml": PG,
        }
    )
    assert ids(root) == ["default/pg"]


@pytest.mark.parametrize(
    "text",
    [
        "# rendered by ci {{ build }}\n" + PG + "metadata: {name: twice}\n",
        "# {{ x }}\n" + PG.replace("name: pg}", "name: Bad_Name}"),
        PG + "  x: [\n",
    ],
)
def test_a_manifest_that_does_not_load_is_an_error_even_with_braces(tree: Tree, text: str) -> None:
    with pytest.raises(InputError) as caught:
        ids(tree({"k8s/pg.yaml": text}))
    assert str(caught.value).startswith("k8s/pg.yaml:")


BROKEN_TEMPLATE = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: {{name}}\n"


def test_a_template_by_its_name_is_skipped_with_a_warning(tree: Tree) -> None:
    # kubernetes/examples' vitess *-template.yaml: placeholders, rendered by a script
    root = tree({"k8s/etcd-template.yaml": BROKEN_TEMPLATE, "k8s/pg.yaml": PG})
    kset = load_kubernetes(WorkTree(root))
    assert [w.id for w in kset.workloads] == ["default/pg"]
    (warning,) = [w for w in kset.warnings if "template" in w.message]
    assert warning.loc.file == "k8s/etcd-template.yaml"


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("k8s/etcd.yaml", BROKEN_TEMPLATE),  # placeholders, but not named a template
        ("k8s/etcd-template.yaml", "# {{ x }}\n" + PG + "metadata: {name: twice}\n"),
    ],
)
def test_only_a_named_template_with_real_placeholders_is_skipped(
    tree: Tree, rel: str, text: str
) -> None:
    with pytest.raises(InputError) as caught:
        ids(tree({rel: text}))
    assert str(caught.value).startswith(f"{rel}:")


def test_non_utf8_manifest_is_an_error_other_bytes_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "pg.yaml").write_bytes(PG.encode() + b"# \xff\xfe\n")
    with pytest.raises(InputError, match="UTF-8") as caught:
        ids(tmp_path)
    assert str(caught.value).startswith("pg.yaml")
    (tmp_path / "pg.yaml").write_bytes(PG.encode("utf-16"))  # no ASCII apiVersion line
    kset = load_kubernetes(WorkTree(tmp_path))
    assert kset.workloads == [] and "not a manifest" in kset.warnings[0].message
    (tmp_path / "pg.yaml").write_bytes(b"data: \xff\n")
    assert ids(tmp_path) == []


def test_a_discovered_yaml_file_too_large_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pg.yaml").write_text(PG + "#" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(InputError, match="too large") as caught:
        ids(tmp_path)
    assert str(caught.value).startswith("pg.yaml")


def test_the_total_limit_is_an_error_not_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stategate.kubernetes.load.MAX_MANIFEST_BYTES", len(PG) + 10)
    (tmp_path / "a.yaml").write_text(PG.replace("name: pg}", "name: a}"))
    (tmp_path / "b.yaml").write_text(PG)
    (tmp_path / "notes.yaml").write_text("x: " + "y" * 500 + "\n")  # not a manifest: not counted
    with pytest.raises(InputError, match="manifests total more than"):
        ids(tmp_path)
    (tmp_path / "b.yaml").unlink()
    assert ids(tmp_path) == ["default/a"]


@pytest.mark.parametrize(
    "rel", ["compose.yaml", "pg.compose.yaml", "docker-compose.prod.yml", "compose/pg.yaml"]
)
def test_a_manifest_named_like_a_compose_file_is_read(tree: Tree, rel: str) -> None:
    assert ids(tree({rel: PG})) == ["default/pg"]


@pytest.mark.parametrize(
    "rel", [".github/pg.yaml", "packets/pg.yaml", "evidence/x/pg.yaml", "stategate.yaml"]
)
def test_a_workload_moved_where_stategate_reads_no_manifests_is_an_error(
    tree: Tree, rel: str
) -> None:
    with pytest.raises(InputError, match="stategate owns") as caught:
        ids(tree({rel: PG}))
    assert str(caught.value).startswith(rel)


def test_stategate_files_and_other_objects_there_are_fine(tree: Tree) -> None:
    root = tree(
        {
            ".github/kind.yaml": "apiVersion: kind.x-k8s.io/v1alpha4\nkind: Cluster\n",
            ".github/workflows/ci.yml": "on: push\njobs: {}\n",
            "packets/x.yaml": "apiVersion: stategate/v1\nkind: Packet\nbroken: [\n",
            "pg.yaml": PG,
        }
    )
    assert ids(root) == ["default/pg"]


def test_manifests_no_kustomization_includes_are_named_in_a_warning(tree: Tree) -> None:
    root = tree(
        {
            "k8s/kustomization.yaml": "resources: [pg.yaml]\n",
            "k8s/pg.yaml": PG,
            "k8s/old.yaml": PG.replace("name: pg}", "name: old}"),
        }
    )
    kset = load_kubernetes(WorkTree(root))
    assert [w.id for w in kset.workloads] == ["default/pg"]
    assert any("k8s/old.yaml" in w.message for w in kset.warnings)
