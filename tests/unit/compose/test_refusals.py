"""stategate refuses what Docker Compose v2.40.3 refuses, naming the file and line.

Every ``refused`` input below was run through ``docker-compose config`` v2.40.3
(the parity oracle) and exits 1 with the message quoted in its ``compose`` field;
every ``twin`` (the same input, made valid) exits 0.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.source import WorkTree


@dataclass(frozen=True)
class Refusal:
    id: str
    compose: str  # what compose says (v2.40.3)
    refused: str  # compose.yaml that compose refuses
    line: int  # the line stategate names
    fragment: str  # in stategate's message
    twin: str  # a valid near-twin compose accepts
    files: tuple[tuple[str, str], ...] = ()  # other files beside compose.yaml


CASES = [
    Refusal(
        "undefined-network",
        'service "a" refers to undefined network back: invalid compose project',
        """
        services:
          a:
            image: x
            networks:
              - front
              - back
        networks:
          front: {}
        """,
        6,
        "undefined network back",
        """
        services:
          a:
            image: x
            networks: [front, back, default]
        networks:
          front: {}
          back: {}
        """,
    ),
    Refusal(
        "undefined-volume",
        'service "a" refers to undefined volume data: invalid compose project',
        """
        services:
          a:
            image: x
            volumes:
              - ./conf:/conf
              - data:/data
        """,
        6,
        "undefined volume data",
        """
        services:
          a:
            image: x
            volumes: [./conf:/conf, data:/data, /anonymous]
        volumes:
          data: {}
        """,
    ),
    Refusal(
        "undefined-secret",
        'service "a" refers to undefined secret pw: invalid compose project',
        """
        services:
          a:
            image: x
            secrets: [pw]
        """,
        4,
        "undefined secret pw",
        """
        services:
          a:
            image: x
            secrets: [pw]
        secrets:
          pw: {file: ./pw.txt}
        """,
    ),
    Refusal(
        "undefined-build-secret",
        'service "a" refers to undefined build secret pw: invalid compose project',
        """
        services:
          a:
            build:
              context: .
              secrets:
                - pw
        """,
        6,
        "undefined build secret pw",
        """
        services:
          a:
            build:
              context: .
              secrets: [pw]
        secrets:
          pw: {environment: PW}
        """,
    ),
    Refusal(
        "undefined-config",
        'service "a" refers to undefined config c: invalid compose project',
        """
        services:
          a:
            image: x
            configs:
              - source: c
                target: /c
        """,
        5,
        "undefined config c",
        """
        services:
          a:
            image: x
            configs: [{source: c, target: /c}]
        configs:
          c: {file: ./c.conf}
        """,
    ),
    Refusal(
        "undefined-depends-on",
        'service "a" depends on undefined service "b": invalid compose project',
        """
        services:
          a:
            image: x
            depends_on:
              b:
                condition: service_started
                required: false
        """,
        5,
        "depends on undefined service 'b'",
        """
        services:
          a:
            image: x
            depends_on:
              b: {condition: service_started, required: false}
          b:
            image: x
        """,
    ),
    Refusal(
        "undefined-volumes-from",
        'service "a" depends on undefined service "b": invalid compose project',
        """
        services:
          a:
            image: x
            volumes_from: ["b:ro"]
        """,
        4,
        "undefined service 'b'",
        """
        services:
          a:
            image: x
            volumes_from: ["b:ro", "container:elsewhere"]
          b:
            image: x
        """,
    ),
    Refusal(
        "undefined-link",
        'service "a" depends on undefined service "b": invalid compose project',
        """
        services:
          a:
            image: x
            links: ["b:alias"]
        """,
        4,
        "undefined service 'b'",
        """
        services:
          a:
            image: x
            links: ["b:alias"]
          b:
            image: x
        """,
    ),
    Refusal(
        "undefined-network-mode-service",
        'service "a" depends on undefined service "vpn": invalid compose project',
        """
        services:
          a:
            image: x
            network_mode: service:vpn
        """,
        4,
        "undefined service 'vpn'",
        """
        services:
          a:
            image: x
            network_mode: service:vpn
          vpn:
            image: x
        """,
    ),
    Refusal(
        "network-mode-and-networks",
        "service a declares mutually exclusive `network_mode` and `networks`",
        """
        services:
          a:
            image: x
            networks: [default]
            network_mode: host
        """,
        5,
        "mutually exclusive",
        """
        services:
          a:
            image: x
            network_mode: host
        """,
    ),
    Refusal(
        "no-image-no-build",
        'service "a" has neither an image nor a build context specified',
        """
        services:
          b:
            image: x
          a:
            restart: always
        """,
        4,
        "neither an image nor a build context",
        """
        services:
          b:
            image: x
          a:
            build: .
            restart: always
        """,
    ),
    Refusal(
        "healthcheck-test",
        'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"',
        """
        services:
          a:
            image: x
            healthcheck:
              test: [curl, -f, http://localhost]
        """,
        5,
        "healthcheck.test must start",
        """
        services:
          a:
            image: x
            healthcheck:
              test: [CMD, curl, -f, http://localhost]
        """,
    ),
    Refusal(
        "dependency-cycle",
        "dependency cycle detected: a -> b -> a",
        """
        services:
          a:
            image: x
            depends_on: [b]
          b:
            image: x
            depends_on: [a]
        """,
        7,
        "dependency cycle detected: a -> b -> a",
        """
        services:
          a:
            image: x
            depends_on: [b]
          b:
            image: x
        """,
    ),
    Refusal(
        "tmpfs-and-volume-target",
        "services.a.volumes[0]: target /d already mounted as services.a.tmpfs[0]",
        """
        services:
          a:
            image: x
            tmpfs: [/d]
            volumes:
              - /host:/d
        """,
        6,
        "already mounted",
        """
        services:
          a:
            image: x
            tmpfs: [/t]
            volumes: [/host:/d]
        """,
    ),
    Refusal(
        "secret-without-source",
        "secrets.s: one of file|environment must be set",
        """
        services:
          a:
            image: x
        secrets:
          s:
            name: shared
        """,
        5,
        "one of file|environment",
        """
        services:
          a:
            image: x
        secrets:
          s: {name: shared, external: true}
        """,
    ),
    Refusal(
        "env-file-missing",
        "env file /.../missing.env not found: stat ...: no such file or directory",
        """
        services:
          a:
            image: x
            env_file:
              - present.env
              - missing.env
        """,
        6,
        "env file missing.env not found",
        """
        services:
          a:
            image: x
            env_file:
              - present.env
              - path: missing.env
                required: false
        """,
        files=(("present.env", "A=1\n"),),
    ),
    Refusal(
        "volume-empty-section",
        "invalid spec: :/data: empty section between colons",
        """
        services:
          a:
            image: x
            volumes:
              - ${DATA_DIR}:/data
        """,
        5,
        "empty section between colons",
        """
        services:
          a:
            image: x
            volumes:
              - ${DATA_DIR:-./data}:/data
              - C:/windows:/w:ro
        """,
    ),
    Refusal(
        "volume-too-many-colons",
        "invalid spec: ./a:/b:ro:z: too many colons",
        """
        services:
          a:
            image: x
            volumes: ["./a:/b:ro:z"]
        """,
        4,
        "too many colons",
        """
        services:
          a:
            image: x
            volumes: ["./a:/b:ro,z"]
        """,
    ),
    Refusal(
        "port-proto",
        "invalid proto: xyz",
        """
        services:
          a:
            image: x
            ports:
              - 8080:80/xyz
        """,
        5,
        "invalid proto: xyz",
        """
        services:
          a:
            image: x
            ports: [8080:80/udp, "127.0.0.1:53:53/sctp", "[::1]:8000-8001:8000-8001"]
        """,
    ),
    Refusal(
        "port-container",
        "invalid containerPort: http",
        """
        services:
          a:
            image: x
            ports: ["8080:http"]
        """,
        4,
        "invalid containerPort http",
        """
        services:
          a:
            image: x
            ports: ["8080:80"]
        """,
    ),
    Refusal(
        "port-host-ip",
        "invalid IP address: localhost",
        """
        services:
          a:
            image: x
            ports: ["localhost:8080:80"]
        """,
        4,
        "invalid IP address localhost",
        """
        services:
          a:
            image: x
            ports: ["127.0.0.1:8080:80"]
        """,
    ),
    Refusal(
        "cast-boolean",
        "error while interpolating services.a.read_only: failed to cast to expected type: "
        "invalid boolean: maybe",
        """
        services:
          a:
            image: x
            read_only: ${RO}
        """,
        4,
        "services.a.read_only: failed to cast to expected type: invalid boolean",
        """
        services:
          a:
            image: x
            read_only: ${RO_OK}
            privileged: "no"
        """,
        files=((".env", "RO=maybe\nRO_OK=true\n"),),
    ),
    Refusal(
        "cast-integer",
        "error while interpolating services.a.ports.[].target: failed to cast to expected "
        'type: strconv.Atoi: parsing "http": invalid syntax',
        """
        services:
          a:
            image: x
            ports:
              - target: ${PORT}
                published: "8080"
        """,
        5,
        "services.a.ports.[].target: failed to cast to expected type: not an integer",
        """
        services:
          a:
            image: x
            ports:
              - target: ${PORT_OK}
                published: "8080"
            ulimits:
              nofile: {soft: "1024", hard: "2048"}
        """,
        files=((".env", "PORT=http\nPORT_OK=80\n"),),
    ),
    Refusal(
        "schema-additional-property",
        "validating compose.yaml: services.a additional properties 'imagee' not allowed",
        """
        services:
          a:
            image: x
            imagee: y
        """,
        4,
        "services.a additional properties 'imagee' not allowed",
        """
        services:
          a:
            image: x
            x-note: y
        """,
    ),
    Refusal(
        "schema-null-environment",
        "validating compose.yaml: services.a.environment must be a mapping",
        """
        services:
          a:
            image: x
            environment:
              # all set elsewhere
        """,
        4,
        "services.a.environment must be a",
        """
        services:
          a:
            image: x
            environment: {}
        """,
    ),
    Refusal(
        "schema-type",
        "validating compose.yaml: services.a.ports.0 must be a number",
        """
        services:
          a:
            image: x
            ports:
              - [80, 80]
        """,
        5,
        "services.a.ports.0",
        """
        services:
          a:
            image: x
            ports:
              - 80
        """,
    ),
    Refusal(
        "schema-top-level",
        "validating compose.yaml: additional properties 'service' not allowed",
        """
        name: demo
        service:
          a:
            image: x
        """,
        2,
        "additional properties 'service' not allowed",
        """
        name: demo
        services:
          a:
            image: x
        """,
    ),
    Refusal(
        "schema-enum",
        "validating compose.yaml: services.a.depends_on.b.condition value must be one of "
        "'service_started', ...",
        """
        services:
          a:
            image: x
            depends_on:
              b:
                condition: service_ready
          b:
            image: x
        """,
        6,
        "must be one of",
        """
        services:
          a:
            image: x
            depends_on:
              b:
                condition: service_healthy
          b:
            image: x
        """,
    ),
    Refusal(
        "duration",
        '\'services[a].healthcheck.interval\' time: unknown unit " s" in duration "5 s"',
        """
        services:
          a:
            image: x
            stop_grace_period: 1m30s
            healthcheck:
              interval: 5 s
        """,
        6,
        "services.a.healthcheck.interval: invalid duration",
        """
        services:
          a:
            image: x
            stop_grace_period: 1m30s
            healthcheck:
              interval: 5s
              timeout: "0"
              start_period: 1.5h
        """,
    ),
]


def _write(root: Path, case: Refusal, text: str) -> Path:
    (root / "compose.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    for rel, content in case.files:
        (root / rel).write_text(content, encoding="utf-8")
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_compose_refusal_is_refused_at_its_line(tmp_path: Path, case: Refusal) -> None:
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(_write(tmp_path, case, case.refused)), ["compose.yaml"])
    assert (caught.value.file, caught.value.line) == ("compose.yaml", case.line)
    assert case.fragment in caught.value.message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_valid_twin_loads(tmp_path: Path, case: Refusal) -> None:
    (project,) = load_compose(
        WorkTree(_write(tmp_path, case, case.twin)), ["compose.yaml"]
    ).projects
    assert project.services
