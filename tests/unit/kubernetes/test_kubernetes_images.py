"""kustomize ``images:`` names are Go regexps to kustomize (``IsImageMatched``); the
expected images below are what ``kubectl kustomize`` (kustomize v5.5.0) printed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.kubernetes.load import load_kubernetes
from stategate.kubernetes.manifest import GoRegexpError, go_regexp, split_image
from stategate.source import WorkTree
from tests.conftest import Tree

SHA1 = "sha256:" + "1" * 64
SHA2 = "sha256:" + "2" * 64
IMAGES = (
    "postgres:16",
    "registry.local:5000/team/postgres:16",
    f"postgres@{SHA1}",
    f"postgres:16.4@{SHA1}",
    "postgres",
    "mypostgres:1",
    "docker.io/library/postgres:16",
)


def pod(images: tuple[str, ...], kind: str = "Pod") -> str:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    spec = {"containers": containers}
    if kind == "CronJob":
        body = {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": spec}}}}
        return json.dumps(
            {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": "p"}, "spec": body}
        )
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})


def built(tree: Tree, entries: str, kind: str = "Pod") -> list[str]:
    files = {
        "pod.yaml": pod(IMAGES, kind),
        "kustomization.yaml": f"resources: [pod.yaml]\nimages:\n{entries}",
    }
    kset = load_kubernetes(WorkTree(tree(files)))
    return [c.image or "" for w in kset.workloads for c in w.containers]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "postgres",
            ["postgres:17", IMAGES[1], "postgres:17", "postgres:17", "postgres:17", *IMAGES[5:]],
        ),
        (
            '"postgre[s]"',
            ["postgres:17", IMAGES[1], "postgres:17", "postgres:17", "postgres:17", *IMAGES[5:]],
        ),
        (
            '".*"',
            [
                "postgres:17",
                "registry.local:5000/team/postgres:17",
                *["postgres:17"] * 3,
                "mypostgres:17",
                "docker.io/library/postgres:17",
            ],
        ),
        (
            '"registry.local:5000/team/postgres"',
            ["postgres:16", "registry.local:5000/team/postgres:17", *IMAGES[2:]],
        ),
        ('"postgres@sha256"', ["postgres:16", IMAGES[1], "postgres:17", *IMAGES[3:]]),
        # the name is spliced into "^" + name + "(:tag)?(@digest)?$": "|" splits it
        (
            '"x|postgres"',
            [
                "postgres:17",
                "registry.local:5000/team/postgres:17",
                *["postgres:17"] * 3,
                "mypostgres:17",
                "docker.io/library/postgres:17",
            ],
        ),
        (
            '"p.stgres"',
            ["postgres:17", IMAGES[1], "postgres:17", "postgres:17", "postgres:17", *IMAGES[5:]],
        ),
    ],
)
def test_names_match_as_kustomize_regexps(tree: Tree, name: str, expected: list[str]) -> None:
    assert built(tree, f"  - name: {name}\n    newTag: '17'\n") == expected


def test_entries_chain_and_each_applies_twice_except_on_cron_jobs(tree: Tree) -> None:
    chained = "  - {name: postgres, newName: mydb}\n  - {name: mydb, newTag: '99'}\n"
    assert built(tree, chained)[:2] == ["mydb:99", IMAGES[1]]
    reverse = "  - {name: mydb, newTag: '99'}\n  - {name: postgres, newName: mydb}\n"
    assert built(tree, reverse)[0] == "mydb:16"
    # the legacy filter and the field-spec filter both run (v5.5.0): a suffix twice
    suffix = "  - {name: postgres, tagSuffix: '-x'}\n"
    assert built(tree, suffix)[:3] == ["postgres:16-x-x", IMAGES[1], "postgres:-x-x"]
    assert built(tree, suffix, "CronJob")[:3] == ["postgres:16-x", IMAGES[1], "postgres:-x"]
    digest = f"  - {{name: postgres, digest: '{SHA2}'}}\n"
    assert built(tree, digest)[3] == f"postgres@{SHA2}"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ('"postgre[s"', "unbalanced parenthesis"),  # the class takes in kustomize's tail
        ('"post("', "missing )"),
        ('"a**"', "nested repetition"),
        ('"(?i)postgres"', "not supported"),
        ('"[[:alpha:]]+"', "not supported"),
        ('"\\\\x41"', "not supported"),
    ],
)
def test_a_name_that_does_not_compile_is_an_error_at_its_line(
    tree: Tree, name: str, needle: str
) -> None:
    with pytest.raises(InputError) as caught:
        built(tree, f"  - {{name: postgres, newTag: '1'}}\n  - name: {name}\n    newTag: '17'\n")
    assert needle in caught.value.message
    assert str(caught.value).startswith("kustomization.yaml:4")


def test_a_digest_other_kustomize_versions_match_differently_is_refused(tree: Tree) -> None:
    files = {
        "pod.yaml": pod(("postgres:16@sha512:abcd",)),
        "kustomization.yaml": "resources: [pod.yaml]\nimages:\n  - {name: postgres, newTag: '17'}\n",
    }
    with pytest.raises(InputError, match="some kustomize versions"):
        load_kubernetes(WorkTree(tree(files)))


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^a$", "a\n", False),  # Go's $ is the end of the text
        ("^a{,2}$", "a{,2}", True),  # not a repetition in Go
        ("^a{2}$", "aa", True),
        ("^[]a]+$", "]a", True),
        ("^[a-c&&]+$", "a&", True),
        ("^\\s$", "\v", False),  # Go's \s is [\t\n\f\r ]
        ("^.$", "\n", False),
    ],
)
def test_go_regexp_semantics(pattern: str, text: str, matches: bool) -> None:
    assert bool(go_regexp(pattern).search(text)) is matches


@pytest.mark.parametrize("pattern", ["\\pL", "(?s).", "a{1001}", "*a", "\\Q.\\E", "[\\x41]"])
def test_go_regexp_refuses_what_it_does_not_translate(pattern: str) -> None:
    with pytest.raises(GoRegexpError):
        go_regexp(pattern)


def test_split_image_as_kustomize() -> None:
    assert split_image("localhost:5000/app") == ("localhost:5000/app", None, None)
    assert split_image("localhost:5000") == ("localhost", "5000", None)
    assert split_image(f"a/b:1@{SHA1}") == ("a/b", "1", SHA1)
    assert split_image(f"a/b@{SHA1}") == ("a/b", None, SHA1)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize(
    "name", ["postgres", "postgre[s]", ".*", "x|postgres", "(?:[", "[^m]ostgres", "\\w+:16"]
)
@pytest.mark.parametrize("kind", ["Pod", "CronJob"])
def test_same_images_as_kubectl_kustomize(tmp_path: Path, name: str, kind: str) -> None:
    entries = f"  - name: {json.dumps(name)}\n    newTag: '17'\n    tagSuffix: '-x'\n"
    (tmp_path / "pod.yaml").write_text(pod(IMAGES, kind))
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [pod.yaml]\nimages:\n{entries}  - {{name: mydb, newName: other}}\n"
    )
    proc = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    theirs = [line.split("image: ", 1)[1] for line in proc.stdout.splitlines() if "image: " in line]
    kset = load_kubernetes(WorkTree(tmp_path))
    assert [c.image for w in kset.workloads for c in w.containers] == theirs
