"""Generated compose projects for the parity harness (hypothesis strategies).

Each case is a small project of the shapes real platforms use: interpolation in
images, environment, ports and labels (variables from ``.env``, ``--env`` or unset),
``.env`` syntax, several ``-f`` files merged, ``extends`` (same file and another),
``include``, profiles, ``env_file``, and YAML anchors with merge keys. A case records
the features it uses, so the figures are per feature (scripts/compose_parity.py).
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from tests.parity.harness import Case

VARIABLES = ("TAG", "PORT", "HOST", "EMPTY", "WORD")
IMAGES = ("postgres", "redis", "nginx", "ghcr.io/acme/app", "registry.local:5000/tools/job")
NAMES = ("db", "cache", "web", "worker", "app")
KEYS = ("MODE", "DB_HOST", "LOG_LEVEL", "FEATURE_X", "URL")
WORDS = ("a", "prod", "http://x:8080/p", "two words", "x=y", "100", "true", "")

RARELY = st.sampled_from([False] * 7 + [True])  # about one case in eight
REFERENCE = st.sampled_from(
    [
        "${TAG}",
        "$TAG",
        "${TAG:-1.2}",
        "${TAG-9}",
        "${EMPTY:-fallback}",
        "${EMPTY-kept}",
        "${WORD:+set}",
        "${UNSET}",
        "${UNSET:-${WORD:-deep}}",
        "$${LITERAL}",
        "$$",
        "${HOST:?need HOST}",
    ]
)
VALUE = st.one_of(
    st.sampled_from(WORDS), REFERENCE, st.tuples(st.sampled_from(WORDS), REFERENCE).map("".join)
)
DOTENV_VALUE = st.sampled_from(
    [
        "1.4",
        "'single $TAG'",
        '"double ${WORD}"',
        '"tab\\there"',
        '"line\\nbreak"',
        "plain # a comment",
        "with#hash",
        "${WORD}-x",
        "",
        '"multi\nline"',
        "'multi\nsingle'",
        '"esc \\$ \\101 \\\\"',
    ]
)


@st.composite
def dotenv(draw: st.DrawFn) -> str:
    lines = []
    for name in draw(st.lists(st.sampled_from(VARIABLES), max_size=5, unique=True)):
        style = draw(st.sampled_from(["=", "=", " = ", ": ", "export="]))
        value = draw(DOTENV_VALUE)
        if style == "export=":
            lines.append(f"export {name}={value}")
        else:
            lines.append(f"{name}{style}{value}")
        if draw(st.booleans()):
            lines.append("# comment " + draw(st.sampled_from(WORDS)))
    return "\n".join(lines) + "\n"


def _port(draw: st.DrawFn) -> Any:
    return draw(
        st.sampled_from(
            [
                "8080:80",
                "127.0.0.1:5432:5432",
                "80",
                "${PORT:-8000}:80",
                "53:53/udp",
                "9000-9001:9000-9001",
                {"target": 80, "published": "8081", "protocol": "tcp"},
            ]
        )
    )


def _volume(draw: st.DrawFn, named: set[str]) -> Any:
    kind = draw(st.sampled_from(["named", "bind", "bind-ro", "long-bind", "long-named"]))
    if kind in ("named", "long-named"):
        name = draw(st.sampled_from(["data", "cache"]))
        named.add(name)
        target = draw(st.sampled_from(["/var/lib/data", "/data/"]))
        if kind == "named":
            return f"{name}:{target}"
        return {"type": "volume", "source": name, "target": target, "read_only": True}
    source = draw(st.sampled_from(["./conf", "./data/sub", "../shared", "/srv/host"]))
    if kind == "long-bind":
        return {"type": "bind", "source": source, "target": "/etc/app"}
    return f"{source}:/etc/app" + (":ro" if kind == "bind-ro" else "")


def _environment(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        return {k: draw(VALUE) for k in keys}
    out = []
    for key in keys:
        out.append(key if draw(st.integers(0, 4)) == 0 else f"{key}={draw(VALUE)}")
    return out


@st.composite
def service(draw: st.DrawFn, others: list[str], named: set[str], features: set[str]) -> Any:
    spec: dict[str, Any] = {"image": f"{draw(st.sampled_from(IMAGES))}:{draw(VALUE)}"}
    if draw(st.booleans()):
        spec["environment"] = _environment(draw)
    if draw(st.booleans()):
        spec["ports"] = [_port(draw) for _ in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        spec["volumes"] = [_volume(draw, named) for _ in range(draw(st.integers(1, 2)))]
    if draw(st.integers(0, 3)) == 0:
        spec["command"] = draw(
            st.sampled_from(["serve --port 80", ["run", "${WORD:-x}"], "sh -c 'echo $$HOME'"])
        )
    if draw(st.integers(0, 3)) == 0:
        spec["labels"] = draw(
            st.sampled_from([{"traefik.enable": "true"}, ["a=b", "c=${WORD}"], {"k": "${TAG}"}])
        )
    if others and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
        if draw(st.booleans()):
            spec["depends_on"] = chosen
        else:
            spec["depends_on"] = {n: {"condition": "service_started"} for n in chosen}
    if draw(st.integers(0, 3)) == 0:
        spec["restart"] = draw(st.sampled_from(["always", "unless-stopped", "on-failure:3"]))
    if draw(st.integers(0, 4)) == 0:
        spec["healthcheck"] = {
            "test": "pg_isready",
            "interval": draw(st.sampled_from(["30s", "1m", "90s"])),
        }
    if draw(st.integers(0, 4)) == 0:
        features.add("profiles")
        spec["profiles"] = [draw(st.sampled_from(["debug", "tools"]))]
    if draw(st.integers(0, 4)) == 0:
        features.add("env_file")
        spec["env_file"] = draw(
            st.sampled_from(
                [
                    "app.env",
                    ["app.env"],
                    [{"path": "missing.env", "required": False}],
                    "missing.env",
                ]
            )
        )
    return spec


BROKEN_VALUES = (
    "${",
    "${}",
    "${ foo}",
    "${foo!}",
    "${TAG:-${ 16}}",
)
BROKEN_SERVICE = (
    {"image": "x", "networks": ["undeclared"]},
    {"image": "x", "volumes": ["undeclared:/data"]},
    {"image": "x", "secrets": ["undeclared"]},
    {"environment": {"A": "1"}},
    {"image": "x", "ports": ["80:80/xyz"]},
    {"image": "x", "ports": ["1.2.3:80:80"]},
    {"image": "x", "volumes": [":/data"]},
    {"image": "x", "read_only": "maybe"},
    {"image": "x", "depends_on": ["nowhere"]},
    {"image": "x", "network_mode": "service:nowhere"},
    {"image": "x", "unknown_key": 1},
    {"image": "x", "restart": ["always"]},
    {"image": "x", "healthcheck": {"test": "true", "interval": "10 seconds"}},
    {"image": "x", "env_file": "absent.env"},
)
BROKEN_DOTENV = ("A='it''s'\n", 'A="unterminated\n', "A='open\n", "not a line\n", "B=${\n")


def _broken(draw: st.DrawFn, files: dict[str, str], compose_files: list[str]) -> None:
    """Give the project one thing compose refuses: a malformed reference, a service
    compose's checks or schema refuse (in one more ``-f`` file), or a ``.env`` line it
    cannot read."""
    kind = draw(st.sampled_from(["value", "service", "dotenv"]))
    if kind == "value":
        files["compose.yaml"] += _dump({"x-broken": draw(st.sampled_from(BROKEN_VALUES))})
    elif kind == "service":
        files["broken.yml"] = _dump({"services": {"broken": draw(st.sampled_from(BROKEN_SERVICE))}})
        compose_files.append("broken.yml")
    else:
        files[".env"] = draw(st.sampled_from(BROKEN_DOTENV))


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    features: set[str] = {"interpolation"}
    named: set[str] = set()
    files: dict[str, str] = {}
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    services: dict[str, Any] = {}
    for index, name in enumerate(names):
        services[name] = draw(service(names[:index], named, features))
    doc: dict[str, Any] = {"services": services}
    if draw(st.integers(0, 3)) == 0:  # extends: same file or another
        features.add("extends")
        base = {"image": "busybox:${TAG:-1}", "environment": {"BASE": "1", "MODE": "base"}}
        if draw(st.booleans()):
            services["base"] = base
            services[names[-1]]["extends"] = {"service": "base"}
        else:
            files["common/base.yml"] = _dump(
                {"services": {"base": {**base, "volumes": ["./x:/x"]}}}
            )
            services[names[-1]]["extends"] = {"file": "common/base.yml", "service": "base"}
    if draw(st.integers(0, 3)) == 0:  # include
        features.add("include")
        files["sub/compose.yaml"] = _dump(
            {"services": {"extra": {"image": "busybox:${WORD:-1}", "volumes": ["./here:/here"]}}}
        )
        if draw(st.booleans()):
            files["sub/.env"] = "WORD=included\n"
        doc = {"include": ["sub/compose.yaml"], **doc}
    if named:
        doc["volumes"] = {n: None for n in sorted(named)}
    text = _dump(doc)
    if draw(st.integers(0, 3)) == 0:  # anchors and merge keys
        features.add("anchors")
        first = names[0]
        text = (
            'x-common: &common\n  restart: always\n  environment:\n    ANCHORED: "yes"\n'
            + text.replace(f"\n  {first}:\n", f"\n  {first}:\n    <<: *common\n", 1)
        )
    files["compose.yaml"] = text
    compose_files = ["compose.yaml"]
    if draw(st.integers(0, 2)) == 0:  # several -f files merged
        features.add("merge")
        override: dict[str, Any] = {}
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
            patch: dict[str, Any] = {}
            if draw(st.booleans()):
                patch["image"] = f"{draw(st.sampled_from(IMAGES))}:2"
            if draw(st.booleans()):
                patch["environment"] = _environment(draw)
            if draw(st.booleans()):
                patch["ports"] = [_port(draw)]
            if draw(st.booleans()):
                patch["command"] = ["override", "${WORD:-w}"]
            if draw(st.booleans()):
                patch["labels"] = {"merged": "yes"}
            override[name] = patch
        files["override.yml"] = _dump({"services": override})
        compose_files.append("override.yml")
    if any("env_file" in s for s in services.values()):
        files["app.env"] = draw(dotenv())
    if draw(st.booleans()):
        features.add("dotenv")
        files[".env"] = draw(dotenv())
    env = {}
    if draw(st.booleans()):
        env = {
            k: draw(st.sampled_from(WORDS))
            for k in draw(st.lists(st.sampled_from(VARIABLES), max_size=2, unique=True))
        }
    profiles: list[str] = []
    if "profiles" in features and draw(st.booleans()):
        profiles = [draw(st.sampled_from(["debug", "tools"]))]
    if draw(RARELY):  # something compose refuses
        features.add("refusal")
        _broken(draw, files, compose_files)
    return Case(files, compose_files, env, profiles, frozenset(features))
