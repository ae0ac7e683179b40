"""Property-based fuzzing of every loader a pull request can feed (in-process).

The property is the same everywhere: whatever the bytes, a loader either returns
or raises one of stategate's own error types (``StategateError`` and its
subclasses, e.g. ``InputError``, ``VerificationError``; the pure attest parsers
document ``ValueError``/``EnvelopeError``). Anything else (``RecursionError``,
``TypeError``, ``KeyError``, ``MemoryError``, a ``UnicodeError`` escaping) is a bug
and fails the test. Inputs are generated near the formats (compose-shaped trees,
ledger entries, signed statements) and then mutated, so they get past the first
parser into the code behind it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from stategate.compose.canonical import canonical_project
from stategate.compose.envfile import parse_env
from stategate.compose.interpolate import (
    MAX_VALUE_CHARS,
    InterpolationError,
    substitute,
)
from stategate.errors import StategateError
from stategate.evidence.approvals.packet import read_packet
from stategate.evidence.findings import VerificationError
from stategate.evidence.layout import RepoLayout
from stategate.evidence.ledger.chain import check_chain, compare_with_base, make_entry, parse_line
from stategate.evidence.records.predicates import (
    BackupPredicate,
    SourceInfo,
    Subject,
    Tool,
    statement,
)
from stategate.evidence.records.typed import _typed, record_path
from stategate.evidence.signing.canonical import canonical_json, sha256_bytes
from stategate.evidence.signing.dsse import (
    IN_TOTO_PAYLOAD_TYPE,
    EnvelopeError,
    parse_envelope,
    sign_payload,
)
from stategate.evidence.signing.sign import check_envelope
from stategate.evidence.store import EvidenceStore, VerifiedRecord
from stategate.evidence.testing import trust_entry, trust_roots, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, parse_trust
from stategate.packet import load_packet
from stategate.platform import load_platform_from
from stategate.policy.load import load_policy
from stategate.yamlfile import decode_text, loads
from tests.fuzz.profile import COUNTS, FUZZ
from tests.memory_source import MemorySource

# -- strategies -------------------------------------------------------------------

TRICKY = [
    "${A}",
    "${A:-x}",
    "${A:-${B:-${C}}}",
    "${A:?missing}",
    "${A:+set}",
    "$$",
    "${",
    "}",
    "${}",
    "$A$B",
    "${A-}",
    "../x.yml",
    "/etc/passwd",
    "a/b",
    "..",
    "-x",
    "",
    "postgres:16.4",
    "postgres:16.4@sha256:" + "ab" * 32,
    "redis:7",
    "minio/minio:latest",
    "0x" + "f" * 40,
    "9" * 30,
    "5432:5432",
    "data:/var/lib/postgresql/data",
    "./sub/c.yml",
    "base.yml",
    "sub/c.yml",
    "POSTGRES_PASSWORD=hunter2",
    "\x00",
    "\u2028",
]
COMPOSE_KEYS = [
    "image",
    "build",
    "environment",
    "env_file",
    "volumes",
    "ports",
    "depends_on",
    "extends",
    "profiles",
    "healthcheck",
    "labels",
    "networks",
    "command",
    "secrets",
    "configs",
    "deploy",
    "restart",
    "x-custom",
]
TOP_KEYS = ["name", "services", "include", "volumes", "networks", "secrets", "configs", "x-a"]
POLICY_KEYS = ["version", "classes", "compose", "evidence", "freshness", "stops", "modules"]

text = st.text(max_size=24)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(TRICKY),
)


def trees(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys + TRICKY), text)
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(key, children, max_size=5)
        ),
        max_leaves=25,
    )


service_names = st.one_of(st.sampled_from(["db", "postgres", "redis", "web", "a/b", ".."]), text)
services = st.dictionaries(
    service_names,
    st.one_of(
        st.dictionaries(st.sampled_from(COMPOSE_KEYS), trees(COMPOSE_KEYS), max_size=6), scalars
    ),
    max_size=4,
)
compose_docs = st.one_of(
    st.fixed_dictionaries(
        {"services": services},
        optional={
            "name": st.one_of(text, st.sampled_from(["app", "../x", "App"])),
            "include": trees(["path", "project_directory", "env_file"]),
            "volumes": trees(["data", "driver", "external"]),
            "x-anchors": trees(COMPOSE_KEYS),
        },
    ),
    trees(TOP_KEYS),
)


def dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:  # e.g. a character YAML cannot represent: fall back to JSON
        return json.dumps(doc, default=str)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[str]) -> bytes:
    """A document near ``base``: as generated, truncated, or with bytes spliced in."""
    data = draw(base).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["as-is", "as-is", "truncate", "splice", "replace"]))
    if not data or how == "as-is":
        return data
    at = draw(st.integers(0, len(data)))
    if how == "truncate":
        return data[:at]
    noise = draw(
        st.one_of(
            st.binary(max_size=16),
            st.sampled_from(
                [
                    b"&a ",
                    b"*a",
                    b"<<: ",
                    b"!!python/object:os.system ",
                    b"\t",
                    b"\x00",
                    b"${A:-",
                    b"}",
                    b"[",
                    b"{",
                    b"\xff\xfe",
                    b": ",
                    b"- ",
                    b"\n  ",
                ]
            ),
        )
    )
    if how == "splice":
        return data[:at] + noise + data[at:]
    return data[:at] + noise + data[at + len(noise) :]


env_lines = st.lists(
    st.one_of(
        st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from(["A", "B", "C", "PG_PASSWORD", "export A", "1BAD", ""]),
            st.one_of(
                text, st.sampled_from(TRICKY), st.sampled_from(["'q'", '"q\\n"', '"${A}${A}"'])
            ),
        ),
        st.sampled_from(["# comment", "", "no equals", "A=${A}${A}${A}${A}"]),
    ),
    max_size=8,
)
env_texts = env_lines.map("\n".join)


def _only_own_errors(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except StategateError:
        return None


# -- compose, interpolation, .env -----------------------------------------------


@FUZZ
@given(
    compose=mutated(compose_docs.map(dump)),
    extra=st.dictionaries(
        st.sampled_from(["base.yml", "sub/c.yml", "Dockerfile", "stategate.yaml"]),
        mutated(compose_docs.map(dump)),
        max_size=2,
    ),
    env=st.one_of(st.none(), env_texts.map(lambda t: t.encode())),
)
def test_compose_platform_loading(
    compose: bytes, extra: dict[str, bytes], env: bytes | None
) -> None:
    COUNTS["compose platform"] += 1
    files = {"compose.yml": compose, **extra}
    if env is not None:
        files[".env"] = env
    platform = _only_own_errors(load_platform_from, MemorySource(files))
    if platform is not None:
        for project in platform.compose.projects:
            # what `config` prints (refusing, as compose, a command it cannot split)
            json.dumps(_only_own_errors(canonical_project, project, platform.source))


@FUZZ
@given(mutated(st.one_of(compose_docs.map(dump), st.text())))
def test_yaml_loader(data: bytes) -> None:
    COUNTS["yaml"] += 1
    with contextlib.suppress(StategateError):  # decoded as every loader does
        loads(decode_text(data, "fuzz.yaml"), "fuzz.yaml")


@FUZZ
@given(
    st.one_of(
        st.text(alphabet="${}:-?+AB_x$ ", max_size=60),
        st.lists(st.sampled_from(TRICKY), max_size=12).map("".join),
        st.text(),
    ),
    st.dictionaries(
        st.sampled_from(["A", "B", "C"]),
        st.one_of(st.text(alphabet="${}:-AB", max_size=20), st.sampled_from(TRICKY)),
    ),
)
def test_interpolation(value: str, env: dict[str, str]) -> None:
    COUNTS["interpolation"] += 1
    try:
        result = substitute(value, env)
    except InterpolationError:
        return
    assert len(result.text) <= len(value) + MAX_VALUE_CHARS + max(map(len, env.values()), default=0)


@FUZZ
@given(mutated(env_texts))
def test_env_file(data: bytes) -> None:
    COUNTS["env file"] += 1
    with contextlib.suppress(StategateError):
        parse_env(decode_text(data, ".env"), ".env")


# -- the policy, packets, trust files ----------------------------------------------


@FUZZ
@given(mutated(trees(POLICY_KEYS).map(dump)))
def test_policy_loading(data: bytes) -> None:
    COUNTS["policy"] += 1
    _only_own_errors(load_policy, MemorySource({"stategate.yaml": data}))


PACKET_DOC = {
    "id": "pg-16",
    "modules": [
        {
            "module": "app/postgres",
            "from": "postgres:15.8@sha256:" + "ab" * 32,
            "to": "postgres:16.4@sha256:" + "cd" * 32,
        }
    ],
}
packet_docs = st.one_of(
    st.just(PACKET_DOC),
    st.builds(
        lambda extra: {**PACKET_DOC, **extra},
        st.dictionaries(
            text | st.sampled_from(["modules", "id", "after", "evidence", "allowed_paths"]),
            trees(["module", "from", "to", "smoke", "rollback"]),
            max_size=3,
        ),
    ),
    trees(["id", "modules", "module", "from", "to", "smoke", "rollback", "allowed_paths"]),
)


@pytest.fixture(scope="module")
def packet_repo() -> Iterator[RepoLayout]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "packets").mkdir()
        yield RepoLayout(Path(tmp))


@FUZZ
@given(data=mutated(packet_docs.map(dump)))
def test_packet_loading(packet_repo: RepoLayout, data: bytes) -> None:
    COUNTS["packet"] += 1
    _only_own_errors(load_packet, MemorySource({"packets/p.yaml": data}), "packets/p.yaml")
    (packet_repo.root / "packets" / "p.yaml").write_bytes(data)
    _only_own_errors(read_packet, packet_repo, "packets/p.yaml")


@FUZZ
@given(
    mutated(trees(["version", "keys", "name", "role", "public_key", "keyid", "revoked"]).map(dump))
)
def test_trust_file(data: bytes) -> None:
    COUNTS["trust file"] += 1
    with contextlib.suppress(StategateError):
        parse_trust(loads(decode_text(data, "trust.yaml"), "trust.yaml"), shown="trust.yaml")


# -- ledgers, DSSE envelopes, signed records ----------------------------------------

KEY = SigningKey.generate()
TRUST = trust_roots([trust_entry(KEY, Role.EVIDENCE, "ci-host")])
NOW = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)
RID = "20260527T100000Z-abc123"


def _entry(seq: int, prev: str) -> dict[str, Any]:
    return make_entry(
        seq=seq,
        prev=prev,
        path=f"evidence/app/postgres/backup-2026052{seq}T100000Z-abc123.json",
        sha256="1" * 64,
        kind="backup",
        predicate_type="https://stategate.dev/backup/v1",
        keyid=KEY.keyid,
        role=Role.EVIDENCE,
        signed_at="2026-05-27T10:00:00Z",
    ).model_dump(mode="json")


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def ledger_bytes(draw: st.DrawFn) -> bytes:
    first = _entry(1, "0" * 64)
    lines = [first, _entry(2, first["digest"])]
    for line in lines:
        for key in draw(st.lists(st.sampled_from(sorted(line)), max_size=2)):
            line[key] = draw(st.one_of(json_values, st.sampled_from(TRICKY)))
    raw = [json.dumps(line).encode() for line in lines]
    raw += draw(
        st.lists(
            st.sampled_from(
                [b'{"path": "evidence/\\udc80.json"}', b"[" * 3000 + b"]" * 3000, b"", b"{}"]
            ),
            max_size=2,
        )
    )
    return b"\n".join(raw) + b"\n"


@FUZZ
@given(st.one_of(ledger_bytes(), mutated(ledger_bytes().map(lambda b: b.decode())), st.binary()))
def test_ledger_chain(data: bytes) -> None:
    COUNTS["ledger"] += 1
    # pure: every problem is a finding, never an exception
    check = check_chain(data, shown="evidence/ledger.jsonl")
    compare_with_base(data, data[: len(data) // 2], shown="evidence/ledger.jsonl", ref="base")
    for line in check.lines:
        with contextlib.suppress(ValueError):  # parse_line's documented refusal
            parse_line(line.raw)


def _valid_statement() -> dict[str, Any]:
    moment = datetime(2026, 5, 27, 10, 0, tzinfo=UTC)
    predicate = BackupPredicate(
        module="app/postgres",
        provider="postgres",
        id=RID,
        result="pass",
        started=moment,
        finished=moment,
        tool=Tool(version="0.1.0"),
        policy_digest="sha256:x",
        source=SourceInfo(address="127.0.0.1:5432"),
        backup_id=RID,
        location=f"app/postgres/{RID}",
    )
    stmt = statement([Subject(name="app/postgres/dump", digest={"sha256": "1" * 64})], predicate)
    raw = stmt.to_json_obj()
    raw["predicate"]["signer"] = {
        "keyid": KEY.keyid,
        "role": "evidence",
        "signed_at": "2026-05-27T10:00:00Z",
    }
    return raw


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    """A valid backup statement with a few fields (anywhere in it) replaced."""
    raw = _valid_statement()
    for _ in range(draw(st.integers(0, 3))):
        node: Any = raw
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            node = node[key]
        if isinstance(node, dict) and node:
            node[draw(st.sampled_from(sorted(node)))] = draw(
                st.one_of(json_values, st.sampled_from(TRICKY))
            )
    return raw


@FUZZ
@given(statements())
def test_signed_statement(raw: dict[str, Any]) -> None:
    """Validly signed by a trusted key, so the typed record parsing behind it is reached."""
    COUNTS["signed statement"] += 1
    envelope = sign_payload(IN_TOTO_PAYLOAD_TYPE, canonical_json(raw), KEY)
    parsed = parse_envelope(envelope.to_json())
    check = check_envelope(parsed, TRUST, now=NOW)
    if check.statement is None or check.signer is None or check.problems:
        return
    verified = VerifiedRecord("evidence/x.json", "1" * 64, check.statement, check.signer)
    with contextlib.suppress(StategateError):
        record_path(RepoLayout(Path("/nonexistent")), _typed(verified))


@st.composite
def envelope_bytes(draw: st.DrawFn) -> bytes:
    doc: dict[str, Any] = {
        "payloadType": IN_TOTO_PAYLOAD_TYPE,
        "payload": base64.b64encode(canonical_json(_valid_statement())).decode(),
        "signatures": [{"keyid": KEY.keyid, "sig": base64.b64encode(b"x" * 64).decode()}],
    }
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=2)):
        doc[key] = draw(
            st.one_of(
                json_values,
                st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
                st.sampled_from(
                    [
                        base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(),
                        base64.b64encode(b'{"_type": "\\udc80"}').decode(),
                        "!!!",
                    ]
                ),
            )
        )
    return json.dumps(doc).encode()


@FUZZ
@given(st.one_of(envelope_bytes(), mutated(envelope_bytes().map(bytes.decode)), st.binary()))
def test_dsse_envelope(data: bytes) -> None:
    COUNTS["dsse envelope"] += 1
    try:
        envelope = parse_envelope(data)
    except EnvelopeError:
        return
    check_envelope(envelope, TRUST, now=NOW)  # pure: problems, never an exception


@pytest.fixture(scope="module")
def evidence_repo() -> Iterator[RepoLayout]:
    with tempfile.TemporaryDirectory() as tmp:
        layout = RepoLayout(Path(tmp))
        write_trust_file(layout, [trust_entry(KEY, Role.EVIDENCE, "ci-host")])
        yield layout


@FUZZ
@given(
    record=st.one_of(envelope_bytes(), mutated(envelope_bytes().map(bytes.decode))),
    ledger=st.one_of(ledger_bytes(), st.none()),
)
def test_record_on_disk(evidence_repo: RepoLayout, record: bytes, ledger: bytes | None) -> None:
    """A record and ledger as files, read back by the store the gate uses."""
    COUNTS["record on disk"] += 1
    rel = f"evidence/app/postgres/backup-{RID}.json"
    path = evidence_repo.path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(record)
    if ledger is None:  # a ledger that names the record with its right sha256
        entry = make_entry(
            seq=1,
            prev="0" * 64,
            path=rel,
            sha256=sha256_bytes(record),
            kind="backup",
            predicate_type="https://stategate.dev/backup/v1",
            keyid=KEY.keyid,
            role=Role.EVIDENCE,
            signed_at="2026-05-27T10:00:00Z",
        )
        ledger = entry.line()
    evidence_repo.path(evidence_repo.ledger).write_bytes(ledger)
    store = EvidenceStore.open(evidence_repo, now=NOW)
    with contextlib.suppress(VerificationError, StategateError):
        store.load_verified(rel)
