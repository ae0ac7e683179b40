"""Hostile files through the installed CLI: every case exits 2 naming the file.

Each case plants one hostile file (or a symlink, FIFO, device) in a real platform
repo with a signed, ledgered chain, then runs every command that reads that file
as a subprocess with an address-space limit (``RLIMIT_AS``) and a timeout, so an
unbounded read fails as an out-of-memory error and a hang fails as a timeout.
The expected outcome is exit 2 with a last stderr line naming the file, never a
traceback and never exit 70 (an internal error).

Evidence *content* (a garbage ledger line, a malformed record) is a finding of
``evidence verify`` by contract (exit 1, one line per finding naming the file and
line); the gate then refuses the evidence. Such cases say so in ``exits``.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stategate.compose.load import MAX_SERVICES
from tests.conftest import installed_cli
from tests.hostile.repo import COMPOSE, PACKET, HostileRepo, build_repo, copy_repo

MEMORY_LIMIT = 1 << 30  # 1 GiB of address space for the whole CLI process
TIMEOUT = 60  # seconds; only reached by a hang (cases finish in about one second)

Plant = Callable[[HostileRepo], None]


def _argv(command: str, repo: HostileRepo) -> list[str]:
    root = str(repo.root)
    name, _, path = command.partition(" ")
    if path:  # "<command> <path>": the path a user names on the command line
        return {
            "classify": ["classify", "--repo", root, "-f", path],
            "config": ["config", "--repo", root, "-f", path],
            "check": ["check", "--repo", root, "--base", "base", "-f", path],
            "plan": ["plan", path, "--repo", root],
            "approve": [
                *("approve", path, "--role", "operator"),
                *("--key", str(repo.operator_key), "--repo", root),
            ],
        }[name]
    return {
        "classify": ["classify", "--repo", root],
        "config": ["config", "--repo", root],
        "doc": ["doc", "--repo", root],
        "policy-check": ["policy", "check", "--repo", root],
        "check": ["check", "--repo", root, "--base", "base"],
        "check-apply": ["check", "--repo", root, "--base", "base", "--stage", "apply"],
        "evidence-verify": ["evidence", "verify", "--repo", root],
        "plan": ["plan", "packets/pg-16.yaml", "--repo", root],
        "approve": [
            "approve",
            "packets/pg-16.yaml",
            "--role",
            "operator",
            "--key",
            str(repo.operator_key),
            "--repo",
            root,
        ],
    }[command]


# Sets the limit, then becomes the CLI (exec): a preexec_fn is unsafe with threads.
_LIMITED = (
    "import os, resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def run_cli(command: str, repo: HostileRepo) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _LIMITED, installed_cli(), *_argv(command, repo)],
        capture_output=True,
        text=True,
        cwd=repo.root,
        timeout=TIMEOUT,
    )


def test_the_memory_limit_is_in_force() -> None:
    """The limit really applies to the CLI process: a child that allocates 2 GiB fails."""
    grab = "bytearray(2 << 30)"
    proc = subprocess.run(
        [sys.executable, "-c", _LIMITED, sys.executable, "-c", grab],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode != 0 and "MemoryError" in proc.stderr


# -- planting hostile files ---------------------------------------------------


def write(rel: str, data: bytes | str) -> Plant:
    def plant(repo: HostileRepo) -> None:
        path = repo.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return plant


def _replace(repo: HostileRepo, rel: str) -> Path:
    path = repo.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    return path


def fifo(rel: str) -> Plant:
    def plant(repo: HostileRepo) -> None:
        os.mkfifo(_replace(repo, rel))

    return plant


def symlink(rel: str, target: str) -> Plant:
    def plant(repo: HostileRepo) -> None:
        _replace(repo, rel).symlink_to(target)

    return plant


def device(rel: str) -> Plant:
    """A character device (like /dev/zero: endless, size 0) inside the repo."""

    def plant(repo: HostileRepo) -> None:
        try:
            os.mknod(_replace(repo, rel), stat.S_IFCHR | 0o644, os.makedev(1, 5))
        except PermissionError:
            pytest.skip("creating a device node needs CAP_MKNOD (run the suite as root)")

    return plant


def sparse(rel: str, size: int) -> Plant:
    """A file of ``size`` bytes that takes no disk space (all NUL bytes)."""

    def plant(repo: HostileRepo) -> None:
        with open(_replace(repo, rel), "wb") as handle:
            handle.truncate(size)

    return plant


def both(*plants: Plant) -> Plant:
    def plant(repo: HostileRepo) -> None:
        for each in plants:
            each(repo)

    return plant


def record_payload(payload: bytes) -> Plant:
    """Replace the ledgered backup record's DSSE payload (the signature no longer fits)."""

    def plant(repo: HostileRepo) -> None:
        path = repo.root / repo.record
        doc = json.loads(path.read_bytes())
        doc["payload"] = base64.b64encode(payload).decode()
        path.write_text(json.dumps(doc))

    return plant


def ledger_line(line: bytes) -> Plant:
    def plant(repo: HostileRepo) -> None:
        with open(repo.root / "evidence" / "ledger.jsonl", "ab") as handle:
            handle.write(line + b"\n")

    return plant


def surrogate_ledger(repo: HostileRepo) -> None:
    """The first ledger entry's path with a lone surrogate (valid JSON, not Unicode)."""
    path = repo.root / "evidence" / "ledger.jsonl"
    lines = path.read_bytes().splitlines()
    lines[0] = lines[0].replace(b'"path":"evidence/', b'"path":"evidence/\\udc80')
    path.write_bytes(b"\n".join(lines) + b"\n")


# -- hostile content ----------------------------------------------------------

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n"
    for i in range(9)
)
DEEP_YAML = "services: " + "[" * 5000 + "]" * 5000 + "\n"
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
UNSAFE_TAG = "services:\n  db: !!python/object/apply:os.system ['true']\n"
NON_UTF8 = b"services:\n  db:\n    image: caf\xe9\n"
UTF16 = COMPOSE.encode("utf-16")
NUL_BYTES = COMPOSE.encode() + b"\x00\x00services: {}\n"
HUGE = "# " + "x" * (5 * 1024 * 1024) + "\n" + COMPOSE
HUGE_HEX = COMPOSE + "x-big: 0x" + "f" * 100_000 + "\n"
HUGE_DEC = COMPOSE + "x-big: " + "9" * 5000 + "\n"
ENV_BOMB = (
    "A0=" + "x" * 64 + "\n" + "".join(f"A{i}=${{A{i - 1}}}${{A{i - 1}}}\n" for i in range(1, 40))
)
NESTED_DEFAULTS = "${A:-" * 5000 + "x" + "}" * 5000
BIG_VALUE = "V=" + "v" * (512 * 1024) + "\n"
SVC_IMAGE = "services:\n  db:\n    image: postgres:15.8\n"


def compose(extra_service_yaml: str) -> str:
    return "name: app\nservices:\n" + extra_service_yaml


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # the file every message must name
    plant: Plant
    commands: tuple[str, ...]
    commit: bool = True  # commit the plant, so `check` (which reads git) sees it
    needle: str = ""  # a phrase the message must hold (the value as written, the reason)
    exits: dict[str, int] = field(default_factory=dict)  # commands not exiting 2


COMPOSE_ALL = ("classify", "config", "check")
COMPOSE_WORKTREE = ("classify", "config")  # git cannot hold it (FIFO, device, sparse)
POLICY_ALL = (
    "classify",
    "config",
    "doc",
    "policy-check",
    "check",
    "check-apply",
    "evidence-verify",
    "approve",
    "plan",
)
# check (both stages) and approve read the policy from git objects, never the work tree
POLICY_WORKTREE = tuple(c for c in POLICY_ALL if c not in ("check", "check-apply", "approve"))
PACKET_ALL = ("check", "approve", "plan")
PACKET_WORKTREE = ("approve", "plan")
# check --stage apply reads evidence, the ledger and trust roots from git objects, where
# none of these work-tree files can be (git holds no FIFO, device or dangling symlink)
EVIDENCE = ("evidence-verify", "approve")
# only `evidence verify` without --base reads the checkout's own trust file; check and
# approve take the trust roots from the base revision's git objects
TRUST_WORKTREE = ("evidence-verify",)
# content the chain check reports as a finding (exit 1, naming the file and line)
FINDING = {"evidence-verify": 1}

CASES: list[Case] = [
    # compose files
    Case("compose-fifo", "compose.yml", fifo("compose.yml"), COMPOSE_WORKTREE, False, "FIFO"),
    Case("compose-device", "compose.yml", device("compose.yml"), COMPOSE_WORKTREE, False, "device"),
    Case(
        "compose-dev-zero",
        "compose.yml",
        symlink("compose.yml", "/dev/zero"),
        COMPOSE_ALL,
        needle="symlink",
    ),
    Case(
        "compose-symlink-out",
        "compose.yml",
        symlink("compose.yml", "/etc/passwd"),
        COMPOSE_ALL,
        needle="symlink",
    ),
    Case(
        "compose-symlink-loop",
        "compose.yml",
        symlink("compose.yml", "compose.yml"),
        COMPOSE_ALL,
        needle="symlink",
    ),
    Case(
        "compose-symlink-loop-pair",
        "compose.yml",
        both(symlink("compose.yml", "b.yml"), symlink("b.yml", "compose.yml")),
        COMPOSE_ALL,
        needle="symlink",
    ),
    Case("compose-alias-bomb", "compose.yml", write("compose.yml", ALIAS_BOMB), COMPOSE_ALL),
    Case("compose-deep-yaml", "compose.yml", write("compose.yml", DEEP_YAML), COMPOSE_ALL),
    Case(
        "compose-unsafe-tag",
        "compose.yml",
        write("compose.yml", UNSAFE_TAG),
        COMPOSE_ALL,
        needle="tag",
    ),
    Case("compose-latin1", "compose.yml", write("compose.yml", NON_UTF8), COMPOSE_ALL, "UTF-8"),
    Case("compose-utf16", "compose.yml", write("compose.yml", UTF16), COMPOSE_ALL, needle="UTF-8"),
    Case("compose-nul", "compose.yml", write("compose.yml", NUL_BYTES), COMPOSE_ALL),
    Case("compose-huge", "compose.yml", write("compose.yml", HUGE), COMPOSE_ALL, needle="limit"),
    Case(
        "compose-huge-sparse",
        "compose.yml",
        sparse("compose.yml", 3 << 30),
        COMPOSE_WORKTREE,
        False,
        "limit",
    ),
    Case(
        "compose-many-nodes",
        "compose.yml",
        write("compose.yml", "x-a: [" + "1," * 1_800_000 + "1]\n" + SVC_IMAGE),
        COMPOSE_ALL,
        needle="nodes",
    ),
    Case(
        "compose-many-services",
        "compose.yml",
        write(
            "compose.yml",
            compose("".join(f"  s{i}: {{image: x}}\n" for i in range(MAX_SERVICES + 1))),
        ),
        COMPOSE_ALL,
        needle="services",
    ),
    Case("compose-huge-hex", "compose.yml", write("compose.yml", HUGE_HEX), COMPOSE_ALL, "range"),
    Case("compose-huge-int", "compose.yml", write("compose.yml", HUGE_DEC), COMPOSE_ALL, "range"),
    Case(
        "compose-name-slash",
        "compose.yml",
        write("compose.yml", compose('  "a/b":\n    image: x\n')),
        COMPOSE_ALL,
        needle="a/b",
    ),
    Case(
        "compose-name-dotdot",
        "compose.yml",
        write("compose.yml", compose('  "..":\n    image: x\n')),
        COMPOSE_ALL,
        needle="'..'",
    ),
    Case(
        "compose-name-leading-dash",
        "compose.yml",
        write("compose.yml", compose('  "-db":\n    image: x\n')),
        COMPOSE_ALL,
        needle="-db",
    ),
    Case(
        "compose-project-name",
        "compose.yml",
        write("compose.yml", "name: ../../etc\n" + SVC_IMAGE),
        COMPOSE_ALL,
        needle="../../etc",
    ),
    Case(
        "compose-include-outside",
        "compose.yml",
        write("compose.yml", "include: [../../../etc/passwd]\n" + SVC_IMAGE),
        COMPOSE_ALL,
        needle="escapes",
    ),
    Case(
        "compose-include-absolute",
        "compose.yml",
        write("compose.yml", "include: [/etc/passwd]\n" + SVC_IMAGE),
        COMPOSE_ALL,
        needle="/etc/passwd",
    ),
    Case(
        "compose-include-project-directory",
        "compose.yml",
        both(
            write(
                "compose.yml",
                "include:\n  - path: sub/c.yml\n    project_directory: ../..\n" + SVC_IMAGE,
            ),
            write("sub/c.yml", "services:\n  other:\n    image: x\n"),
        ),
        COMPOSE_ALL,
        needle="../..",
    ),
    Case(
        "compose-include-env-file",
        "compose.yml",
        both(
            write("compose.yml", "include:\n  - path: sub/c.yml\n    env_file: /etc/environment\n"),
            write("sub/c.yml", "services:\n  other:\n    image: x\n"),
        ),
        COMPOSE_ALL,
        needle="/etc/environment",
    ),
    Case(
        "compose-extends-outside",
        "compose.yml",
        write(
            "compose.yml",
            compose("  db:\n    extends:\n      file: ../../../etc/passwd\n      service: x\n"),
        ),
        COMPOSE_ALL,
        needle="escapes",
    ),
    Case(
        "compose-included-fifo",
        "sub/c.yml",
        both(write("compose.yml", "include: [sub/c.yml]\n" + SVC_IMAGE), fifo("sub/c.yml")),
        COMPOSE_WORKTREE,
        False,
        "FIFO",
    ),
    Case(
        "compose-nested-defaults",
        "compose.yml",
        write("compose.yml", compose(f'  db:\n    image: "{NESTED_DEFAULTS}"\n')),
        COMPOSE_ALL,
        needle="nested",
    ),
    Case(
        "compose-interpolation-bomb",
        "compose.yml",
        both(
            write(".env", BIG_VALUE),
            write("compose.yml", compose('  db:\n    image: "' + "${V}" * 64 + '"\n')),
        ),
        COMPOSE_ALL,
        needle="expands",
    ),
    Case(
        "compose-unclosed-interpolation",
        "compose.yml",
        write("compose.yml", compose('  db:\n    image: "postgres:${TAG"\n')),
        COMPOSE_ALL,
        needle="invalid interpolation format",
    ),
    Case(
        "compose-malformed-default",
        "compose.yml",
        write("compose.yml", compose('  db:\n    image: "postgres:${TAG:-${ 16}}"\n')),
        COMPOSE_ALL,
        needle="invalid interpolation format",
    ),
    Case(
        "compose-dockerfile-fifo",
        "Dockerfile",
        both(write("compose.yml", compose("  db:\n    build: .\n")), fifo("Dockerfile")),
        COMPOSE_WORKTREE,
        False,
        "FIFO",
    ),
    # .env files
    Case("env-bomb", ".env", write(".env", ENV_BOMB), COMPOSE_ALL, needle="expands"),
    Case(
        "env-nested-defaults",
        ".env",
        write(".env", f"A={NESTED_DEFAULTS}\n"),
        COMPOSE_ALL,
        needle="nested",
    ),
    Case(
        "env-unclosed-interpolation",
        ".env",
        write(".env", "A=${B\n"),
        COMPOSE_ALL,
        needle="invalid interpolation format",
    ),
    Case("env-fifo", ".env", fifo(".env"), COMPOSE_WORKTREE, False, "FIFO"),
    Case("env-dev-zero", ".env", symlink(".env", "/dev/zero"), COMPOSE_ALL, needle="symlink"),
    Case("env-loop", ".env", symlink(".env", ".env"), COMPOSE_ALL, needle="symlink"),
    Case("env-latin1", ".env", write(".env", b"A=caf\xe9\n"), COMPOSE_ALL, needle="UTF-8"),
    Case("env-garbage", ".env", write(".env", "not an env line!\n"), COMPOSE_ALL, "KEY=VALUE"),
    # the policy
    Case(
        "policy-compose-file-absolute",
        "stategate.yaml",
        write("stategate.yaml", "compose:\n  files: [/etc/passwd]\n"),
        POLICY_ALL,
        needle="'/etc/passwd'",
    ),
    Case(
        "policy-compose-file-escape",
        "stategate.yaml",
        write("stategate.yaml", "compose:\n  files: [../../x.yml]\n"),
        POLICY_ALL,
        needle="'../../x.yml'",
    ),
    Case(
        "policy-env-file-absolute",
        "stategate.yaml",
        write("stategate.yaml", "compose:\n  env_file: /etc/environment\n"),
        POLICY_ALL,
        needle="'/etc/environment'",
    ),
    Case(
        "policy-evidence-dir-absolute",
        "stategate.yaml",
        write("stategate.yaml", "evidence:\n  dir: /etc\n"),
        POLICY_ALL,
        needle="'/etc'",
    ),
    Case("policy-fifo", "stategate.yaml", fifo("stategate.yaml"), POLICY_WORKTREE, False, "FIFO"),
    Case(
        "policy-dev-zero",
        "stategate.yaml",
        symlink("stategate.yaml", "/dev/zero"),
        POLICY_ALL,
        needle="symlink",
    ),
    Case(
        "policy-loop",
        "stategate.yaml",
        symlink("stategate.yaml", "stategate.yaml"),
        POLICY_ALL,
        needle="symlink",
    ),
    Case("policy-alias-bomb", "stategate.yaml", write("stategate.yaml", ALIAS_BOMB), POLICY_ALL),
    Case(
        "policy-many-nodes",
        "stategate.yaml",
        write("stategate.yaml", "x: [" + "1," * 1_800_000 + "1]\n"),
        POLICY_ALL,
        needle="nodes",
    ),
    Case("policy-deep", "stategate.yaml", write("stategate.yaml", DEEP_YAML), POLICY_ALL),
    Case(
        "policy-huge", "stategate.yaml", write("stategate.yaml", HUGE), POLICY_ALL, needle="limit"
    ),
    Case(
        "policy-unsafe-tag",
        "stategate.yaml",
        write("stategate.yaml", UNSAFE_TAG),
        POLICY_ALL,
        needle="tag",
    ),
    # packets
    Case(
        "packet-garbage",
        "packets/pg-16.yaml",
        write("packets/pg-16.yaml", "- just\n- a list\n"),
        PACKET_ALL,
    ),
    Case(
        "packet-alias-bomb",
        "packets/pg-16.yaml",
        write("packets/pg-16.yaml", ALIAS_BOMB),
        PACKET_ALL,
    ),
    Case("packet-deep", "packets/pg-16.yaml", write("packets/pg-16.yaml", DEEP_YAML), PACKET_ALL),
    Case(
        "packet-latin1",
        "packets/pg-16.yaml",
        write("packets/pg-16.yaml", PACKET.encode() + b"title: caf\xe9\n"),
        PACKET_ALL,
        needle="UTF-8",
    ),
    Case(
        "packet-huge-hex",
        "packets/pg-16.yaml",
        write("packets/pg-16.yaml", PACKET + "x: 0x" + "f" * 100_000 + "\n"),
        PACKET_ALL,
        needle="range",
    ),
    Case(
        "packet-fifo",
        "packets/pg-16.yaml",
        fifo("packets/pg-16.yaml"),
        PACKET_WORKTREE,
        False,
        "FIFO",
    ),
    Case(
        "packet-dev-zero",
        "packets/pg-16.yaml",
        symlink("packets/pg-16.yaml", "/dev/zero"),
        PACKET_ALL,
    ),
    Case(
        "packet-huge-sparse",
        "packets/pg-16.yaml",
        sparse("packets/pg-16.yaml", 1 << 30),
        PACKET_WORKTREE,
        False,
        "limit",
    ),
    # the ledger
    Case(
        "ledger-fifo",
        "evidence/ledger.jsonl",
        fifo("evidence/ledger.jsonl"),
        EVIDENCE,
        False,
        "FIFO",
    ),
    Case(
        "ledger-device",
        "evidence/ledger.jsonl",
        device("evidence/ledger.jsonl"),
        EVIDENCE,
        False,
        "device",
    ),
    Case(
        "ledger-dev-zero",
        "evidence/ledger.jsonl",
        symlink("evidence/ledger.jsonl", "/dev/zero"),
        EVIDENCE,
        False,
        "symlink",
    ),
    Case(
        "ledger-symlink-out",
        "evidence/ledger.jsonl",
        symlink("evidence/ledger.jsonl", "/etc/passwd"),
        EVIDENCE,
        False,
        "symlink",
    ),
    Case(
        "ledger-loop",
        "evidence/ledger.jsonl",
        symlink("evidence/ledger.jsonl", "ledger.jsonl"),
        EVIDENCE,
        False,
        "symlink",
    ),
    Case(
        "ledger-huge-sparse",
        "evidence/ledger.jsonl",
        sparse("evidence/ledger.jsonl", 3 << 30),
        EVIDENCE,
        False,
        "limit",
    ),
    Case(
        "ledger-deep-json",
        "evidence/ledger.jsonl",
        ledger_line(DEEP_JSON),
        ("evidence-verify", "approve"),
        False,
        "nested",
        FINDING,
    ),
    Case(
        "ledger-lone-surrogate",
        "evidence/ledger.jsonl",
        surrogate_ledger,
        ("evidence-verify",),
        False,
        "surrogate",
        FINDING,
    ),
    Case(
        "ledger-garbage",
        "evidence/ledger.jsonl",
        ledger_line(b"\xff\xfe garbage {"),
        ("evidence-verify", "approve"),
        False,
        "ledger",
        FINDING,
    ),
    # the trust file
    Case(
        "trust-fifo",
        "trust/allowed_signers.yaml",
        fifo("trust/allowed_signers.yaml"),
        TRUST_WORKTREE,
        False,
        "FIFO",
    ),
    Case(
        "trust-dev-zero",
        "trust/allowed_signers.yaml",
        symlink("trust/allowed_signers.yaml", "/dev/zero"),
        TRUST_WORKTREE,
        False,
        "symlink",
    ),
    Case(
        "trust-loop",
        "trust/allowed_signers.yaml",
        symlink("trust/allowed_signers.yaml", "allowed_signers.yaml"),
        TRUST_WORKTREE,
        False,
        "symlink",
    ),
    Case(
        "trust-alias-bomb",
        "trust/allowed_signers.yaml",
        write("trust/allowed_signers.yaml", ALIAS_BOMB),
        TRUST_WORKTREE,
        False,
    ),
    Case(
        "trust-garbage",
        "trust/allowed_signers.yaml",
        write("trust/allowed_signers.yaml", "- not\n- a trust file\n"),
        TRUST_WORKTREE,
        False,
        "trust",
    ),
    Case(
        "trust-deep",
        "trust/allowed_signers.yaml",
        write("trust/allowed_signers.yaml", DEEP_YAML),
        TRUST_WORKTREE,
        False,
    ),
    Case(
        "trust-utf16",
        "trust/allowed_signers.yaml",
        write("trust/allowed_signers.yaml", "version: 1\nkeys: []\n".encode("utf-16")),
        TRUST_WORKTREE,
        False,
        "UTF-8",
    ),
]

# Kubernetes manifests (discovered: a top-level apiVersion and kind line)
K8S_ALL = ("classify", "doc", "check")
K8S_HEAD = "apiVersion: apps/v1\nkind: Deployment\n"
K8S_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
    "spec: {containers: [{name: c, image: 'x:1'}]}\n"
)
CASES += [
    Case(
        "k8s-broken-yaml",
        "k8s/app.yaml",
        write("k8s/app.yaml", K8S_HEAD + "metadata: [\n"),
        K8S_ALL,
    ),
    Case(
        "k8s-not-a-mapping",
        "k8s/app.yaml",
        write("k8s/app.yaml", K8S_POD + "---\n- a\n- list\n"),
        K8S_ALL,
        needle="mapping",
    ),
    Case("k8s-alias-bomb", "k8s/app.yaml", write("k8s/app.yaml", K8S_HEAD + ALIAS_BOMB), K8S_ALL),
    Case(
        "k8s-huge-list",
        "k8s/app.yaml",
        write("k8s/app.yaml", K8S_HEAD + "x: [" + "1," * 1_800_000 + "1]\n"),
        K8S_ALL,
        needle="nodes",
    ),
    Case(
        "k8s-wrong-type",
        "k8s/app.yaml",
        write(
            "k8s/app.yaml",
            K8S_HEAD + "metadata: {name: web}\nspec: {template: {spec: {containers: 7}}}\n",
        ),
        K8S_ALL,
        needle="must be a list",
    ),
    Case(
        "k8s-missing-name",
        "k8s/app.yaml",
        write("k8s/app.yaml", K8S_HEAD + "spec: {}\n"),
        K8S_ALL,
        needle="metadata.name",
    ),
    Case(
        "k8s-bad-name",
        "k8s/app.yaml",
        write("k8s/app.yaml", K8S_POD.replace("name: p}", "name: ../../etc}")),
        K8S_ALL,
        needle="../../etc",
    ),
    Case(
        "k8s-kustomize-outside",
        "k8s/kustomization.yaml",
        write("k8s/kustomization.yaml", "resources: [../../../etc]\n"),
        K8S_ALL,
        needle="escapes",
    ),
    Case(
        "k8s-kustomize-absolute",
        "k8s/kustomization.yaml",
        write("k8s/kustomization.yaml", "resources: [/etc/passwd]\n"),
        K8S_ALL,
        needle="/etc/passwd",
    ),
    Case(
        "k8s-kustomize-cycle",
        "k8s/a",
        both(
            write("k8s/a/kustomization.yaml", "resources: [../b]\n"),
            write("k8s/b/kustomization.yaml", "resources: [../a]\n"),
            write("k8s/c/kustomization.yaml", "resources: [../a]\n"),
        ),
        K8S_ALL,
        needle="cycle",
    ),
    Case(
        "k8s-kustomize-remote",
        "k8s/kustomization.yaml",
        write("k8s/kustomization.yaml", "resources: [https://example.com/x.yaml]\n"),
        K8S_ALL,
        needle="remote",
    ),
]

# paths named on the command line
CASES += [
    Case(
        "cli-path-absolute",
        "/etc/passwd",
        both(),
        tuple(f"{c} /etc/passwd" for c in ("classify", "config", "check", "plan", "approve")),
        needle="outside",
    ),
    Case(
        "cli-path-escape",
        "../x.yml",
        both(),
        ("check ../x.yml",),
        needle="escapes",
    ),
    Case(
        "cli-path-absent-on-both-sides",
        "nope.yml",
        both(),
        ("check nope.yml",),
        needle="not found",
    ),
    Case(
        "cli-path-fifo",
        "extra.yml",
        fifo("extra.yml"),
        ("classify extra.yml", "config extra.yml", "plan extra.yml", "approve extra.yml"),
        False,
        "FIFO",
    ),
    Case(
        "cli-path-symlink-out",
        "extra.yml",
        symlink("extra.yml", "/etc/passwd"),
        ("classify extra.yml", "config extra.yml", "plan extra.yml", "approve extra.yml"),
        False,
        "outside",
    ),
]

RECORD = "evidence/app/postgres/backup-20260501T120000Z-aaaaaa.json"
RECORD_FINDING = {"evidence-verify": 1}
CASES += [
    Case("record-fifo", RECORD, fifo(RECORD), ("evidence-verify",), False, "FIFO", RECORD_FINDING),
    Case(
        "record-device",
        RECORD,
        device(RECORD),
        ("evidence-verify",),
        False,
        "device",
        RECORD_FINDING,
    ),
    Case(
        "record-dev-zero",
        RECORD,
        symlink(RECORD, "/dev/zero"),
        ("evidence-verify",),
        False,
        "symlink",
        RECORD_FINDING,
    ),
    Case(
        "record-loop",
        RECORD,
        symlink(RECORD, Path(RECORD).name),
        ("evidence-verify",),
        False,
        "symlink",
        RECORD_FINDING,
    ),
    Case(
        "record-huge-sparse",
        RECORD,
        sparse(RECORD, 3 << 30),
        ("evidence-verify",),
        False,
        "limit",
        RECORD_FINDING,
    ),
    Case(
        "record-deep-json",
        RECORD,
        write(RECORD, DEEP_JSON),
        ("evidence-verify",),
        False,
        "nested",
        RECORD_FINDING,
    ),
    Case(
        "record-garbage",
        RECORD,
        write(RECORD, b"\x00\xff garbage"),
        ("evidence-verify",),
        False,
        "JSON",
        RECORD_FINDING,
    ),
    Case(
        "record-payload-deep-json",
        RECORD,
        record_payload(DEEP_JSON),
        ("evidence-verify",),
        False,
        "nested",
        RECORD_FINDING,
    ),
    Case(
        "record-payload-surrogate",
        RECORD,
        record_payload(b'{"_type": "\\udc80"}'),
        ("evidence-verify",),
        False,
        "surrogate",
        RECORD_FINDING,
    ),
]


def _problems(case: Case, command: str, proc: subprocess.CompletedProcess[str]) -> list[str]:
    where = f"{case.id} / {command}"
    expected = case.exits.get(command, 2)
    problems: list[str] = []
    if "Traceback" in proc.stderr or proc.returncode == 70:
        problems.append(f"{where}: internal error (exit {proc.returncode}): {proc.stderr[-500:]}")
        return problems
    if proc.returncode != expected:
        problems.append(
            f"{where}: exit {proc.returncode}, expected {expected}; "
            f"stderr: {proc.stderr[-300:]!r} stdout: {proc.stdout[-300:]!r}"
        )
        return problems
    if expected == 2:
        # the error is the last thing printed (a policy lists each problem on its own line)
        message = proc.stderr[proc.stderr.find("stategate: error: ") :]
        if "stategate: error: " not in proc.stderr:
            message = ""
        shown = proc.stderr
    else:  # findings: one line each on stdout, naming the file and the problem
        message = "\n".join(line for line in proc.stdout.splitlines() if case.file in line)
        shown = proc.stdout
    if case.file not in message:
        problems.append(f"{where}: the message does not name {case.file}: {shown[-400:]!r}")
    if case.needle and case.needle not in message:
        problems.append(f"{where}: the message lacks {case.needle!r}: {message!r}")
    return problems


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> HostileRepo:
    return build_repo(tmp_path_factory.mktemp("hostile-template"))


def test_the_untouched_repo_passes_every_command(template: HostileRepo, tmp_path: Path) -> None:
    """The baseline: without a hostile file, every command the cases run succeeds."""
    repo = copy_repo(template, tmp_path)
    for command in sorted({c for case in CASES for c in case.commands if " " not in c}):
        proc = run_cli(command, repo)
        assert proc.returncode == 0, f"{command}: {proc.stderr[-500:]}"


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_naming_the_file(
    case: Case, template: HostileRepo, tmp_path: Path
) -> None:
    repo = copy_repo(template, tmp_path)
    case.plant(repo)
    if case.commit:
        repo.commit(f"hostile: {case.id}")
    # the commands of one case read the repo only; two at a time keeps the suite short
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: (c, run_cli(c, repo)), case.commands))
    problems = [p for command, proc in results for p in _problems(case, command, proc)]
    assert not problems, "\n".join(problems)


def test_every_case_is_distinct_and_runs_a_command() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.commands for c in CASES)
    assert sum(len(c.commands) for c in CASES) >= 150
