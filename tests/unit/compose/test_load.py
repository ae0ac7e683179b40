from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stategate.compose.canonical import canonical_project
from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.source import WorkTree
from tests.conftest import Tree


def _config(root: Any, files: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    result = load_compose(WorkTree(root), files, **kw)
    assert len(result.projects) == 1
    return canonical_project(result.projects[0])


def test_override_file_merge_semantics(tree: Tree) -> None:
    root = tree(
        {
            "compose.yaml": """
                name: demo
                services:
                  web:
                    image: nginx:1.25
                    command: ["a", "b"]
                    environment: [A=1, B=2]
                    labels: {x: "1"}
                    ports: ["80:80"]
                    volumes: ["data:/data", "./conf:/etc/conf:ro"]
                    dns: [1.1.1.1]
                volumes: {data: {}, other: {}}
            """,
            "override.yaml": """
                services:
                  web:
                    command: c
                    environment: {B: "3", C: "4"}
                    labels: [y=2]
                    ports: ["443:443"]
                    volumes: ["other:/data"]
                    dns: !reset []
            """,
        }
    )
    web = _config(root, ["compose.yaml", "override.yaml"])["services"]["web"]
    assert web["command"] == ["c"]  # replaced (a string is split into words, as compose)
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}  # merged by key
    assert web["labels"] == {"x": "1", "y": "2"}
    assert [p["published"] for p in web["ports"]] == ["80", "443"]  # concatenated
    data = [v for v in web["volumes"] if v["target"] == "/data"]
    assert len(data) == 1 and data[0]["source"] == "other"  # merged by container path
    assert "dns" not in web  # !reset


def test_override_tag_replaces_instead_of_merging(tree: Tree) -> None:
    root = tree(
        {
            "a.yml": "services:\n  s:\n    image: x\n    environment: {A: '1', B: '2'}\n",
            "b.yml": "services:\n  s:\n    environment: !override {C: '3'}\n",
        }
    )
    assert _config(root, ["a.yml", "b.yml"])["services"]["s"]["environment"] == {"C": "3"}


def test_long_syntax_of_ports_and_volumes(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": """
                services:
                  s:
                    image: x
                    ports: ["127.0.0.1:5432:5432", "8080:80/udp", 9000, "[::1]:53:53"]
                    volumes: [/var/run/docker.sock:/var/run/docker.sock:ro, /anon]
            """
        }
    )
    svc = _config(root)["services"]["s"]
    assert svc["ports"][0] == {
        "mode": "ingress",
        "host_ip": "127.0.0.1",
        "target": 5432,
        "published": "5432",
        "protocol": "tcp",
    }
    assert svc["ports"][1]["protocol"] == "udp"
    assert svc["ports"][2] == {"mode": "ingress", "target": 9000, "protocol": "tcp"}
    assert svc["ports"][3]["host_ip"] == "::1"
    assert svc["volumes"][0]["type"] == "bind" and svc["volumes"][0]["read_only"] is True
    assert svc["volumes"][1] == {"type": "volume", "target": "/anon", "volume": {}}


def test_env_file_interpolation_and_unresolved_warning(tree: Tree) -> None:
    root = tree(
        {
            ".env": "PG_TAG=16.4\n",
            "compose.yml": "services:\n  db:\n    image: postgres:${PG_TAG}\n  app:\n    image: app:${APP_TAG}\n",
        }
    )
    result = load_compose(WorkTree(root))
    services = result.projects[0].services
    assert services["db"].spec["image"] == "postgres:16.4"
    assert services["app"].spec["image"] == "app:"  # as compose: unset is empty
    assert [str(w) for w in result.warnings] == [
        "compose.yml:5: variable APP_TAG is not set; substituted an empty string"
        " (set it in the env file, or list it in the policy's compose.host_variables)"
    ]


def test_env_file_references_see_extra_env_first_and_extra_env_wins(tree: Tree) -> None:
    # compose looks a .env reference up in the process environment first (--env here)
    root = tree(
        {
            ".env": "A=file\nB=${A}-${C}\nC=late\nD\n",
            "compose.yml": "services:\n  db:\n    image: pg:${A}.${B}.${D}\n",
        }
    )
    result = load_compose(WorkTree(root), extra_env={"A": "cli", "D": "d"})
    assert result.projects[0].services["db"].spec["image"] == "pg:cli.cli-.d"
    assert any("variable C is not set" in str(w) for w in result.warnings)


def test_a_refused_env_file_names_the_file_and_line(tree: Tree) -> None:
    root = tree({".env": 'A=1\nB="open\nC=2\n', "compose.yml": "services:\n  db:\n    image: pg\n"})
    with pytest.raises(InputError, match=r"^\.env:2: unterminated quoted value"):
        load_compose(WorkTree(root))


def test_extends_same_file_and_other_file(tree: Tree) -> None:
    root = tree(
        {
            "base.yml": "services:\n  common:\n    image: base:1\n    environment: {A: '1'}\n",
            "compose.yml": """
                services:
                  tmpl:
                    image: t:1
                    restart: always
                  a:
                    extends: tmpl
                    environment: {X: '1'}
                  b:
                    extends: {file: base.yml, service: common}
                    environment: {B: '2'}
            """,
        }
    )
    services = _config(root, ["compose.yml"])["services"]
    assert services["a"]["image"] == "t:1" and services["a"]["restart"] == "always"
    assert services["b"]["image"] == "base:1"
    assert services["b"]["environment"] == {"A": "1", "B": "2"}


def test_extends_cycle_is_an_error(tree: Tree) -> None:
    root = tree({"compose.yml": "services:\n  a: {extends: b}\n  b: {extends: a}\n"})
    with pytest.raises(InputError, match="extends cycle"):
        load_compose(WorkTree(root), ["compose.yml"])


def test_include_and_its_errors(tree: Tree) -> None:
    root = tree(
        {
            "compose.yml": "include: [sub/db.yml]\nservices:\n  app: {image: app}\n",
            "sub/db.yml": "services:\n  db: {image: 'postgres:${V}'}\n",
            "sub/.env": "V=16\n",
            "missing.yml": "include: [nope.yml]\n",
            "cyc1.yml": "include: [cyc2.yml]\n",
            "cyc2.yml": "include: [cyc1.yml]\n",
        }
    )
    result = load_compose(WorkTree(root), ["compose.yml"])
    services = result.projects[0].services
    assert services["db"].spec["image"] == "postgres:16"
    assert services["db"].file == "sub/db.yml"
    with pytest.raises(InputError, match=r"include target nope\.yml not found"):
        load_compose(WorkTree(root), ["missing.yml"])
    with pytest.raises(InputError, match="include cycle"):
        load_compose(WorkTree(root), ["cyc1.yml"])


def test_include_cannot_escape_the_repo(tree: Tree) -> None:
    root = tree({"compose.yml": "include: [../../etc/passwd]\n"})
    with pytest.raises(InputError, match="escapes the repository"):
        load_compose(WorkTree(root), ["compose.yml"])


def test_an_include_path_with_an_unset_variable_is_refused_not_skipped(tree: Tree) -> None:
    # unset variables are empty as in compose: the path becomes /db.yml, refused with its
    # line, where it used to be skipped with a warning and its services judged by nobody
    root = tree({"compose.yml": "include:\n  - ${MISSING}/db.yml\nservices: {a: {image: a}}\n"})
    with pytest.raises(InputError, match="outside the repository") as caught:
        load_compose(WorkTree(root), ["compose.yml"])
    assert (caught.value.file, caught.value.line) == ("compose.yml", 2)


def test_profiles_filter_only_when_asked(tree: Tree) -> None:
    root = tree(
        {"compose.yml": "services:\n  a: {image: a}\n  dbg: {image: b, profiles: [debug]}\n"}
    )
    assert set(_config(root)["services"]) == {"a", "dbg"}
    assert set(_config(root, profiles=["prod"])["services"]) == {"a"}
    assert set(_config(root, profiles=["debug"])["services"]) == {"a", "dbg"}


def test_discovery_groups_files_by_project_and_merges_override(tree: Tree) -> None:
    root = tree(
        {
            "compose/db.yml": "name: plat\nservices:\n  db: {image: postgres}\n",
            "compose/app.yml": "name: plat\nservices:\n  app: {image: app}\n",
            "other/docker-compose.yml": "services:\n  x: {image: x:1}\n",
            "other/docker-compose.override.yml": "services:\n  x: {image: x:2}\n",
            "notes.yml": "services: {}\n",
        }
    )
    result = load_compose(WorkTree(root))
    by_name = {p.name: p for p in result.projects}
    assert set(by_name) == {"plat", "other"}
    assert set(by_name["plat"].services) == {"app", "db"}
    assert by_name["other"].services["x"].spec["image"] == "x:2"


def test_symlink_out_of_the_repo_is_refused(tree: Tree, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yml"
    outside.write_text("services:\n  x: {image: x}\n")
    root = tree({"compose.yml": "include: [linked.yml]\n"})
    (root / "linked.yml").symlink_to(outside)
    with pytest.raises(InputError, match="outside the repository"):
        load_compose(WorkTree(root), ["compose.yml"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("container_name: 123", "container_name must be a string"),
        ("container_name: [x]", "container_name must be a string"),
        ("network_mode: 'service:'", "network_mode 'service:' names no service"),
        ("network_mode: 'container: '", "network_mode 'container: ' names no container"),
    ],
)
def test_what_binds_a_sidecar_must_name_something(tree: Tree, line: str, message: str) -> None:
    # compose refuses these too; stategate used to ignore them or bind to a ghost
    root = tree({"compose.yml": f"services:\n  a:\n    image: nginx\n    {line}\n"})
    with pytest.raises(InputError, match=message) as caught:
        load_compose(WorkTree(root), ["compose.yml"])
    assert (caught.value.file, caught.value.line) == ("compose.yml", 4)


def test_the_including_projects_variables_win_over_the_included_env_file(tree: Tree) -> None:
    """As compose reads them (checked with docker compose v2.40.3): busybox:parent-sub."""
    root = tree(
        {
            ".env": "WORD=parent\n",
            "compose.yaml": "include:\n  - sub/compose.yaml\nservices:\n  a:\n    image: x\n",
            "sub/.env": "WORD=included\nONLY=sub\n",
            "sub/compose.yaml": "services:\n  extra:\n    image: busybox:${WORD:-1}-${ONLY:-none}\n",
        }
    )
    services = load_compose(WorkTree(root), ["compose.yaml"]).projects[0].services
    assert services["extra"].spec["image"] == "busybox:parent-sub"


def test_profiles_decide_which_services_compose_checks(tree: Tree) -> None:
    """Checked with docker compose v2.40.3: a disabled service's missing env file is not
    looked for, and an enabled service may not depend on a disabled one."""
    root = tree(
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    profiles: [p]\n"
            "    env_file: missing.env\n  b:\n    image: x\n"
            "  c:\n    image: x\n    profiles: [q]\n    depends_on: [a]\n",
        }
    )
    loaded = load_compose(WorkTree(root), ["compose.yaml"], profiles=["other"])
    assert sorted(loaded.projects[0].services) == ["b"]
    with pytest.raises(InputError, match="depends on undefined service 'a'") as caught:
        load_compose(WorkTree(root), ["compose.yaml"], profiles=["q"])
    assert (caught.value.file, caught.value.line) == ("compose.yaml", 11)
    with pytest.raises(InputError, match=r"env file missing\.env not found"):
        load_compose(WorkTree(root), ["compose.yaml"], profiles=["p"])


@pytest.mark.parametrize(
    ("text", "where", "line"),
    [
        (
            "services:\n  s:\n    image: x\n    environment:\n      123: x\n",
            "services.s.environment",
            5,
        ),
        ("services:\n  s:\n    image: x\n    labels:\n      true: x\n", "services.s.labels", 5),
        ("services:\n  s:\n    image: x\nx-a:\n  1.5: {}\n", "x-a", 5),
        ("services:\n  s:\n    image: x\nx-b:\n  ~: 1\n", "x-b", 5),
    ],
)
def test_a_key_that_is_not_a_string_is_refused_as_compose_does(
    tree: Tree, text: str, where: str, line: int
) -> None:
    """docker compose v2.40.3: 'non-string key in services.s.environment: 123'; quoted
    ('123': x) it is a string and accepted."""
    root = tree({"compose.yaml": text})
    with pytest.raises(InputError, match=f"non-string key in {where}") as caught:
        load_compose(WorkTree(root), ["compose.yaml"])
    assert (caught.value.file, caught.value.line) == ("compose.yaml", line)
    quoted = text.replace("123:", "'123':").replace("true:", "'true':")
    quoted = quoted.replace("1.5:", "'1.5':").replace("~:", "'~':")
    load_compose(WorkTree(tree({"compose.yaml": quoted})), ["compose.yaml"])
