"""The printed model agrees with ``docker compose --profile '*' config --format json``
(v2.40.3): each expectation below is what the binary printed for the same input,
with host paths relative to the repository root."""

from __future__ import annotations

from typing import Any

import pytest

from stategate.compose.canonical import canonical_project
from stategate.compose.canonical.shell import ShellSplitError, shell_split
from stategate.compose.canonical.units import go_duration, parse_duration, ram_bytes
from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.source import WorkTree
from tests.conftest import Tree


def _config(tree: Tree, compose: str, **files: str) -> dict[str, Any]:
    root = tree({"p/compose.yaml": compose, **{f"p/{k}": v for k, v in files.items()}})
    source = WorkTree(root)
    return canonical_project(load_compose(source, ["p/compose.yaml"]).projects[0], source)


def _service(tree: Tree, service: str, top: str = "", **files: str) -> dict[str, Any]:
    compose = "services:\n  a:\n" + "".join(f"    {line}\n" for line in service.splitlines())
    return _config(tree, compose + top, **files)["services"]["a"]


def test_command_absent_is_null_and_a_string_is_split_like_go_shellwords(tree: Tree) -> None:
    svc = _service(tree, """image: x\ncommand: -notify-sighup "a b" 'c d' e\\ f "x\\"y" """)
    assert svc["command"] == ["-notify-sighup", "a b", "c d", "e f", 'x"y']
    assert svc["entrypoint"] is None


def test_shell_split_stops_at_an_unquoted_operator_and_empty_is_no_words() -> None:
    assert shell_split("echo a; echo b") == ["echo", "a"]
    assert shell_split("sh -c 'a && b' | c") == ["sh", "-c", "a && b"]
    assert shell_split("") == []
    with pytest.raises(ShellSplitError):
        shell_split("echo 'open")


def test_unsplittable_command_is_an_input_error(tree: Tree) -> None:
    with pytest.raises(InputError):
        _service(tree, 'image: x\ncommand: echo "open')


def test_service_volumes_in_compose_long_form(tree: Tree) -> None:
    svc = _service(
        tree,
        "image: x\nvolumes: [data:/data, ./x/:/var/mail/:Z, /srv/data:/srv, ./q/../y:/y:ro]",
        "volumes:\n  data:\n",
    )
    assert svc["volumes"] == [
        {"type": "volume", "source": "data", "target": "/data", "volume": {}},
        {
            "type": "bind",
            "source": "p/x",
            "target": "/var/mail",
            "bind": {"selinux": "Z", "create_host_path": True},
        },
        {
            "type": "bind",
            "source": "/srv/data",
            "target": "/srv",
            "bind": {"create_host_path": True},
        },
        {
            "type": "bind",
            "source": "p/y",
            "target": "/y",
            "read_only": True,
            "bind": {"create_host_path": True},
        },
    ]


def test_devices_in_long_form(tree: Tree) -> None:
    svc = _service(tree, "image: x\ndevices: [/dev/net/tun:/dev/net/tun, /dev/a]")
    assert svc["devices"] == [
        {"source": "/dev/net/tun", "target": "/dev/net/tun", "permissions": "rwm"},
        {"source": "/dev/a", "target": "/dev/a", "permissions": "rwm"},
    ]


def test_top_level_resources_used_named_and_unused_dropped(tree: Tree) -> None:
    out = _config(
        tree,
        """
        services:
          a:
            image: x
            networks: [n1, n2]
            volumes: [data:/data, vol:/v]
            secrets: [s1]
            configs: [c1]
        volumes: {data: {}, vol: {external: true}, unused: {}, blank: {name: ""}}
        networks: {n1: {enable_ipv6: "true", external: false}, n2: {external: true}}
        secrets: {s1: {file: ./sub/s1}}
        configs: {c1: {file: ./c1}, c2: {content: x}}
        """,
    )
    assert out["volumes"] == {"data": {"name": "p_data"}, "vol": {"name": "vol", "external": True}}
    assert out["networks"] == {
        "n1": {"name": "p_n1", "ipam": {}, "enable_ipv6": True},
        "n2": {"name": "n2", "ipam": {}, "external": True},
    }
    assert out["secrets"] == {"s1": {"name": "p_s1", "file": "p/sub/s1"}}
    assert out["configs"] == {"c1": {"name": "p_c1", "file": "p/c1"}}


def test_default_network_and_top_level_extensions(tree: Tree) -> None:
    out = _config(tree, 'x-foo: {a: "$$x"}\nservices:\n  a:\n    image: x\n    x-bar: 1\n')
    assert out["networks"] == {"default": {"name": "p_default", "ipam": {}}}
    assert out["x-foo"] == {"a": "$$x"}
    assert "x-bar" not in out["services"]["a"]


@pytest.mark.parametrize(
    ("written", "printed"),
    [("90s", "1m30s"), ("1m", "1m0s"), ("500ms", "500ms"), ("3600s", "1h0m0s"),
     ("1.5s", "1.5s"), ("2d", "48h0m0s"), ("10us", "10µs"), ("0s", "0s")],
)  # fmt: skip
def test_durations_as_go_prints_them(written: str, printed: str) -> None:
    nanos = parse_duration(written)
    assert nanos is not None and go_duration(nanos) == printed


def test_healthcheck_string_test_and_durations(tree: Tree) -> None:
    svc = _service(
        tree,
        "image: x\nhealthcheck: {test: curl -f x || exit 1, interval: 90s}\nstop_grace_period: 1m",
    )
    assert svc["healthcheck"] == {"test": ["CMD-SHELL", "curl -f x || exit 1"], "interval": "1m30s"}
    assert svc["stop_grace_period"] == "1m0s"


def test_deploy_and_byte_sizes(tree: Tree) -> None:
    svc = _service(
        tree,
        'image: x\nmem_limit: 200M\nshm_size: 1gb\nmem_reservation: "512k"\n'
        'deploy: {replicas: "2", resources: {limits: {cpus: "0.5", memory: 200M}}}',
    )
    assert svc["deploy"] == {
        "replicas": 2,
        "resources": {"limits": {"cpus": 0.5, "memory": "209715200"}},
        "placement": {},
    }
    assert (svc["mem_limit"], svc["shm_size"], svc["mem_reservation"]) == (
        "209715200",
        "1073741824",
        "524288",
    )
    assert ram_bytes("1.5g") == "1610612736"
    assert _service(tree, "image: x\ndeploy: {replicas: 1}")["deploy"] == {
        "replicas": 1,
        "resources": {},
        "placement": {},
    }


def test_dollars_escaped_in_the_printed_model_only(tree: Tree) -> None:
    root = tree(
        {
            "compose.yaml": """
                services:
                  a:
                    image: "nginx$$"
                    command: ["a", "$$b"]
                    environment: {A: "a$$b"}
                    labels: ["l=$$v"]
                    healthcheck: {test: "pg_isready $${DB}"}
            """
        }
    )
    project = load_compose(WorkTree(root)).projects[0]
    svc = canonical_project(project)["services"]["a"]
    assert svc["image"] == "nginx$$" and svc["command"] == ["a", "$$b"]
    assert svc["environment"] == {"A": "a$$b"} and svc["labels"] == {"l": "$$v"}
    assert svc["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready $${DB}"]
    assert project.services["a"].spec["environment"]["A"] == "a$b"  # judged as loaded


def test_env_files_read_into_environment_and_dropped(tree: Tree) -> None:
    svc = _service(
        tree,
        "image: x\nenvironment: {A: mine, B: null}\n"
        "env_file: [e1.env, {path: missing.env, required: false}]",
        **{"e1.env": "A=fromfile\nC=c\n"},
    )
    assert "env_file" not in svc
    assert svc["environment"] == {"A": "mine", "B": None, "C": "c"}


def test_missing_required_env_file_is_refused(tree: Tree) -> None:
    with pytest.raises(InputError, match=r"env file p/gone\.env not found"):
        _service(tree, "image: x\nenv_file: gone.env")


def test_empty_depends_on_and_ports_are_omitted(tree: Tree) -> None:
    svc = _service(tree, "image: x\nports: []\ndepends_on: {}")
    assert "ports" not in svc and "depends_on" not in svc


def test_implied_dependencies(tree: Tree) -> None:
    out = _config(
        tree,
        "services:\n  a: {image: x, network_mode: 'service:b', volumes_from: [c]}\n"
        "  b: {image: x}\n  c: {image: x}\n",
    )
    assert out["services"]["a"]["depends_on"] == {
        "b": {"condition": "service_started", "restart": True, "required": True},
        "c": {"condition": "service_started", "required": True},
    }


def test_service_secrets_get_their_default_target(tree: Tree) -> None:
    out = _config(
        tree,
        "services:\n  a: {image: x, secrets: [s1, {source: s2, target: t2}], configs: [s1]}\n"
        "secrets: {s1: {file: s1}, s2: {environment: X}}\nconfigs: {s1: {file: s1}}\n",
    )
    svc = out["services"]["a"]
    assert svc["secrets"] == [
        {"source": "s1", "target": "/run/secrets/s1"},
        {"source": "s2", "target": "t2"},
    ]
    assert svc["configs"] == [{"source": "s1"}]  # compose fills no target for configs


def test_build_context_relative_to_the_repo_and_default_dockerfile(tree: Tree) -> None:
    out = _config(
        tree,
        "services:\n  a: {build: ./sub}\n  b: {build: {context: ., dockerfile: sub/Dockerfile}}\n",
    )
    assert out["services"]["a"]["build"] == {"context": "p/sub", "dockerfile": "Dockerfile"}
    assert out["services"]["b"]["build"] == {"context": "p", "dockerfile": "sub/Dockerfile"}


def test_project_name_from_compose_project_name_before_name(tree: Tree) -> None:
    root = tree(
        {
            "d/compose.yaml": "name: top\nservices:\n  a: {image: x, command: [$COMPOSE_PROJECT_NAME]}\n",
            "d/.env": "COMPOSE_PROJECT_NAME=fromenv\n",
            "e/compose.yaml": "name: top\nservices:\n  a: {image: x, command: [$COMPOSE_PROJECT_NAME]}\n",
        }
    )
    for path, name in (("d/compose.yaml", "fromenv"), ("e/compose.yaml", "top")):
        project = load_compose(WorkTree(root), [path]).projects[0]
        assert project.name == name
        assert canonical_project(project)["services"]["a"]["command"] == [name]
