"""Edges found by a review of the compose parity work: each input is checked against
docker compose v2.40.3 where compose has a say (comments say what it does)."""

from __future__ import annotations

import pytest

from stategate.compose import load as load_module
from stategate.compose.load import load_compose
from stategate.compose.rebase import rebase_path
from stategate.errors import InputError
from stategate.source import WorkTree
from tests.conftest import Tree

SECRET = "hunter2sekrit"


@pytest.mark.parametrize(
    "line",
    [
        'ports: ["${DB_PASSWORD}"]',
        "env_file: ${DB_PASSWORD}",
        'depends_on: ["${DB_PASSWORD}"]',
        'volumes: ["${DB_PASSWORD}::/x"]',
        'healthcheck: {test: "true", interval: "${DB_PASSWORD}"}',
    ],
)
def test_a_refusal_never_quotes_a_credential(tree: Tree, line: str) -> None:
    """Compose quotes the value; stategate names the file and line and masks it."""
    root = tree(
        {
            ".env": f"DB_PASSWORD={SECRET}\n",
            "compose.yaml": f"services:\n  a:\n    image: alpine\n    {line}\n",
        }
    )
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(root), ["compose.yaml"])
    assert SECRET not in str(caught.value)
    assert (caught.value.file, caught.value.line) == ("compose.yaml", 4)


def test_two_projects_named_alike_by_their_env_files_are_refused(tree: Tree) -> None:
    """A .env naming a second project like the first would otherwise hide a service."""
    root = tree(
        {
            "a/compose.yaml": "services:\n  db:\n    image: postgres:16\n",
            "a/.env": "COMPOSE_PROJECT_NAME=shared\n",
            "b/compose.yaml": "services:\n  db:\n    image: nginx\n",
            "b/.env": "COMPOSE_PROJECT_NAME=shared\n",
        }
    )
    with pytest.raises(InputError, match="both named 'shared'"):
        load_compose(WorkTree(root))


def test_an_include_without_paths_includes_nothing(tree: Tree) -> None:
    """Compose accepts ``include: [{path: []}]``."""
    root = tree({"compose.yaml": "include:\n  - path: []\nservices: {}\n"})
    assert load_compose(WorkTree(root), ["compose.yaml"]).projects[0].services == {}


def test_a_missing_include_env_file_is_refused(tree: Tree) -> None:
    """Compose: 'stat .../missing.env: no such file or directory'."""
    root = tree(
        {
            "compose.yaml": "include:\n  - path: sub/compose.yaml\n    env_file: missing.env\n",
            "sub/compose.yaml": "services:\n  s:\n    image: x\n",
        }
    )
    with pytest.raises(InputError, match=r"include env file missing\.env not found") as caught:
        load_compose(WorkTree(root), ["compose.yaml"])
    assert caught.value.line == 2


def test_an_empty_service_in_a_later_file_overrides_nothing(tree: Tree) -> None:
    """Compose accepts ``a:`` in an override of a defined ``a`` and refuses a new ``b:``."""
    root = tree(
        {
            "compose.yaml": "services: {a: {image: x}}\n",
            "o.yaml": "services:\n  a:\n",
            "n.yaml": "services:\n  b:\n",
        }
    )
    loaded = load_compose(WorkTree(root), ["compose.yaml", "o.yaml"])
    assert loaded.projects[0].services["a"].spec["image"] == "x"
    with pytest.raises(InputError, match=r"services\.b must be a mapping") as caught:
        load_compose(WorkTree(root), ["compose.yaml", "n.yaml"])
    assert (caught.value.file, caught.value.line) == ("n.yaml", 2)


def test_a_rebased_path_that_leaves_the_repository_keeps_leaving_it() -> None:
    """Compose resolves sub/../../../r/data outside the checkout; never clamp it inside."""
    assert rebase_path("../../../r/data", "sub", "") == "../../r/data"
    assert rebase_path("./x", "common", "") == "common/x"
    assert rebase_path("x", "a", "a/c") == "../x"


def test_expanded_port_ranges_are_bounded(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "MAX_PORTS", 50)
    root = tree({"compose.yaml": 'services:\n  s:\n    image: x\n    ports: ["1-60:1-60"]\n'})
    with pytest.raises(InputError, match="more than 50 ports") as caught:
        load_compose(WorkTree(root), ["compose.yaml"])
    assert caught.value.line == 2
    ok = tree({"compose.yaml": 'services:\n  s:\n    image: x\n    ports: ["1-40:1-40", "5"]\n'})
    assert (
        len(load_compose(WorkTree(ok), ["compose.yaml"]).projects[0].services["s"].spec["ports"])
        == 41
    )
