"""The fault suite's platform: real servers behind holding proxies, the CLI as a child.

Every scenario runs the installed CLI (``python -m stategate``) as a separate
process against a platform repo whose modules reach real PostgreSQL and Redis
servers through a :class:`HoldingProxy`, so a test can freeze a backup
mid-stream and kill it (or stop its server) at a seeded byte count.

Seeds: ``STATEGATE_FAULT_SEEDS`` (``0-4`` by default; ``scripts/faults.sh``
runs more).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stategate.evidence.audit import VerifyReport
from stategate.evidence.audit import verify as verify_evidence
from stategate.evidence.layout import RepoLayout
from stategate.evidence.records.predicates import BackupPredicate
from stategate.evidence.records.typed import list_records
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.providers.config import Credential, PostgresSource, ProviderConfig, RedisSource
from stategate.sandbox.ports import LOOPBACK, free_port
from stategate.sandbox.services import ProductionServices, production_services
from tests.integration.conftest import key_file, trust_keys, write_platform

from .proxy import HoldingProxy

MODULES = ("data/postgres", "data/redis")
CLI_TIMEOUT = 300  # generous: only there to turn a hang into a failure


def seeds() -> list[int]:
    """``STATEGATE_FAULT_SEEDS``: ``0-4`` (a range) or ``1,5,9`` (a list)."""
    raw = os.environ.get("STATEGATE_FAULT_SEEDS", "0-4")
    if "-" in raw:
        low, high = raw.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in raw.split(",") if s.strip()]


def few_seeds() -> list[int]:
    """The slowest seeded scenarios: one seed in CI, every seed when seeds are asked for."""
    return seeds() if "STATEGATE_FAULT_SEEDS" in os.environ else seeds()[:1]


def kill_fraction(seed: int, module_id: str) -> float:
    """Where (as a fraction of a whole backup's stream) the seed freezes a backup."""
    return random.Random(f"{module_id}:{seed}").uniform(0.02, 0.9)


def fault_sources(prefix: str) -> dict[str, ProviderConfig]:
    """A postgres and a redis module on free ports, credentials under ``<prefix>_*``."""
    return {
        "data/postgres": PostgresSource(
            host=LOOPBACK,
            port=free_port(),
            password=Credential(env=f"{prefix}_PG_PASSWORD"),
            databases=["app"],
        ),
        "data/redis": RedisSource(
            host=LOOPBACK, port=free_port(), password=Credential(env=f"{prefix}_REDIS_PASSWORD")
        ),
    }


@pytest.fixture(scope="session")
def fault_servers() -> Iterator[ProductionServices]:
    """The suite's shared source servers (never stopped by a test)."""
    with production_services(fault_sources("STATEGATE_FAULT")) as running:
        yield running


@pytest.fixture(scope="session")
def fault_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def fault_operator_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def private_tmp() -> Iterator[Path]:
    """A temporary folder for the CLI's sandboxes (``TMPDIR``), readable by ``postgres``."""
    path = Path(tempfile.mkdtemp(prefix="sg-faults-"))
    path.chmod(0o755)
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Run:
    """A finished CLI run."""

    args: list[str]
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"stategate {' '.join(self.args)} -> {self.returncode}\n{self.output}"


@dataclass
class FaultPlatform:
    """A platform repo whose modules reach their servers through proxies."""

    repo: Path
    artifacts: Path
    key_path: Path
    tmp: Path  # TMPDIR of every CLI run (sandboxes go there)
    proxies: dict[str, HoldingProxy]
    servers: ProductionServices
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STATEGATE_ARTIFACTS": str(self.artifacts),
            "STATEGATE_EVIDENCE_KEY": str(self.key_path),
            "TMPDIR": str(self.tmp),
            **self.servers.env,
            **self.extra_env,
        }

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``stategate ARGS --repo REPO`` in a session of its own."""
        return subprocess.Popen(
            [sys.executable, "-m", "stategate", *args, "--repo", str(self.repo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
        )

    def run(self, *args: str) -> Run:
        child = self.start(*args)
        try:
            output, _ = child.communicate(timeout=CLI_TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        return Run(list(args), child.returncode, output)

    def module_dir(self, module_id: str) -> Path:
        return self.artifacts / Path(*module_id.split("/"))

    def backup_dirs(self, module_id: str) -> list[Path]:
        """The module's backup directories (complete or not), without the lock file."""
        folder = self.module_dir(module_id)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir())

    def passing_backup_ids(self, module_id: str) -> set[str]:
        ids = set()
        for record in list_records(self.store(), module_id, "backup"):
            pred = record.statement.predicate
            if isinstance(pred, BackupPredicate) and record.result == "pass":
                ids.add(pred.backup_id)
        return ids

    def record_count(self) -> int:
        return len(list(self.repo.glob("evidence/**/*.json")))

    def verify(self) -> VerifyReport:
        """What ``stategate evidence verify --artifacts`` checks (in-process: the same code,
        without a CLI start per check)."""
        return verify_evidence(self.store(), artifacts=self.artifacts)

    def store(self) -> EvidenceStore:
        """The evidence store, opened now (the default layout: this policy sets none)."""
        return EvidenceStore.open(RepoLayout(self.repo))


def make_platform(
    root: Path,
    servers: ProductionServices,
    key: SigningKey,
    operator: SigningKey,
    tmp: Path,
) -> FaultPlatform:
    repo = root / "platform"
    repo.mkdir()
    trust_keys(repo, key, operator)
    proxies: dict[str, HoldingProxy] = {}
    proxied: dict[str, ProviderConfig] = {}
    for module_id, config in servers.sources.items():
        assert isinstance(config, PostgresSource | RedisSource)
        proxy = proxies[module_id] = HoldingProxy((config.host, config.port))
        proxied[module_id] = config.model_copy(update={"port": proxy.port})
    write_platform(repo, ProductionServices(sources=proxied))
    key_path = key_file(key, root / "keys" / "evidence-ci-host.key")
    return FaultPlatform(repo, root / "artifacts", key_path, tmp, proxies, servers)


@pytest.fixture
def platform(
    tmp_path: Path,
    fault_servers: ProductionServices,
    fault_key: SigningKey,
    fault_operator_key: SigningKey,
    private_tmp: Path,
) -> Iterator[FaultPlatform]:
    made = make_platform(tmp_path, fault_servers, fault_key, fault_operator_key, private_tmp)
    yield made
    for proxy in made.proxies.values():
        proxy.close()


_STREAM_SIZES: dict[str, int] = {}


def stream_size(platform: FaultPlatform, module_id: str) -> int:
    """Server-to-client bytes of one whole backup of ``module_id`` from the shared servers
    (measured once by a backup that must pass; their data never changes)."""
    if module_id not in _STREAM_SIZES:
        _STREAM_SIZES[module_id] = backed_up(platform, module_id)
    return _STREAM_SIZES[module_id]


def backed_up(platform: FaultPlatform, module_id: str) -> int:
    """Take one backup that must pass; return its server-to-client byte count."""
    proxy = platform.proxies[module_id]
    proxy.hold_after(None)
    done = platform.run("backup", module_id)
    assert done.returncode == 0, done
    return proxy.forwarded


def sigkill(child: subprocess.Popen[str]) -> None:
    """SIGKILL the CLI process itself (not its helpers: they must not outlive it usefully)."""
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    if child.stdout is not None:
        child.stdout.close()


def session_processes(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def wait_until(condition: object, what: str, timeout: float = 120) -> None:
    """Poll ``condition()`` until true; fail (naming ``what``) if it never becomes true."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def assert_nothing_counts_from(
    platform: FaultPlatform, module_id: str, passing_before: set[str]
) -> list[Path]:
    """The killed run added no passing backup, every record verifies, every recorded
    artifact matches; returns the backup directories no record describes (leftovers)."""
    verified = platform.verify()
    assert verified.ok, [str(f) for f in verified.findings]
    passing = platform.passing_backup_ids(module_id)
    assert passing == passing_before
    return [d for d in platform.backup_dirs(module_id) if d.name not in passing]


def assert_next_backup_works(platform: FaultPlatform, module_id: str) -> None:
    """The next backup passes, sweeps ``.partial`` leftovers, and everything verifies."""
    before = platform.passing_backup_ids(module_id)
    done = platform.run("backup", module_id)
    assert done.returncode == 0, done
    assert len(platform.passing_backup_ids(module_id) - before) == 1
    assert not [d for d in platform.backup_dirs(module_id) if d.name.endswith(".partial")]
    verified = platform.verify()
    assert verified.ok, [str(f) for f in verified.findings]
