"""Real servers for the evidence tests: PostgreSQL, Redis and an S3 server (SeaweedFS).

The stand-in "production" services are started once per session by the same
code the demo uses, with real credentials (postgres password, redis
requirepass, S3 keys) exported under environment variables. Every workspace
repo trusts one evidence key (which signs the records) and one operator key.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey, write_key_pair
from stategate.evidence.trust.trustfile import Role
from stategate.operations.context import ModuleContext
from stategate.providers.config import (
    ProviderConfig,
    RedisCheck,
    S3Check,
    SmokeCheck,
    SqlCheck,
)
from stategate.repository.repositories import Repositories
from stategate.sandbox.services import (
    CANARY_KEY,
    CANARY_SHA256,
    ProductionServices,
    production_services,
)

DIGEST = "sha256:" + "ab" * 32
IMAGES = {
    "data/postgres": f"postgres:15.8@{DIGEST}",
    "data/redis": f"redis:7.0.15@{DIGEST}",
    "data/minio": f"minio/minio:RELEASE.2024-06-13T22-53-53Z@{DIGEST}",
}
SMOKE: dict[str, list[SmokeCheck]] = {
    "data/postgres": [
        SqlCheck(
            name="migrations present",
            database="app",
            query="select count(*) from schema_migrations",
            expect="2",
        )
    ],
    "data/redis": [
        RedisCheck(name="ping", command=["PING"], expect="PONG"),
        RedisCheck(name="user hash", command=["HGET", "user:3", "name"], expect="user 3"),
    ],
    "data/minio": [
        S3Check(
            name="canary", bucket="platform-canary", key=CANARY_KEY, expect_sha256=CANARY_SHA256
        )
    ],
}


@pytest.fixture(scope="session")
def services() -> Iterator[ProductionServices]:
    # the stand-in runs the major its image says (IMAGES): evidence is version-true
    with production_services(majors={"data/postgres": "15", "data/redis": "7.0"}) as running:
        yield running


@pytest.fixture(scope="session")
def evidence_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def operator_key() -> SigningKey:
    return SigningKey.generate()


def trust_keys(repo: Path, evidence: SigningKey, operator: SigningKey) -> None:
    """The repo's trust file: ``evidence`` signs evidence (ci-host), ``operator`` approvals."""
    write_trust_file(
        repo,
        [
            trust_entry(evidence, Role.EVIDENCE, "ci-host"),
            trust_entry(operator, Role.OPERATOR, "alice"),
        ],
    )


def key_file(key: SigningKey, path: Path) -> Path:
    """Write ``key`` as a 0600 private key file (for the CLI's --key / $STATEGATE_EVIDENCE_KEY)."""
    if not path.exists():
        write_key_pair(key, path, comment="test")
    return path


@dataclass
class Workspace:
    repo: Path
    artifacts: Path
    services: ProductionServices
    key: SigningKey  # trusted for evidence
    operator_key: SigningKey  # trusted for approvals only

    def store(self) -> EvidenceStore:
        return EvidenceStore.open(RepoLayout(self.repo))

    def key_path(self) -> Path:
        return key_file(self.key, self.repo.parent / "keys" / "evidence-ci-host.key")

    def context(
        self,
        module_id: str,
        config: ProviderConfig | None = None,
        smoke: list[SmokeCheck] | None = None,
        repositories: Repositories | None = None,
    ) -> ModuleContext:
        return ModuleContext(
            module_id=module_id,
            config=config or self.services.sources[module_id],
            smoke=SMOKE.get(module_id, []) if smoke is None else smoke,
            image=IMAGES.get(module_id),
            policy_digest="sha256:" + "0" * 64,
            repo=self.repo,
            store=self.store(),
            key=self.key,
            artifacts=self.artifacts,
            repositories=repositories,
        )


@pytest.fixture
def workspace(
    tmp_path: Path,
    services: ProductionServices,
    evidence_key: SigningKey,
    operator_key: SigningKey,
) -> Workspace:
    repo = tmp_path / "platform"
    repo.mkdir()
    trust_keys(repo, evidence_key, operator_key)
    return Workspace(repo, tmp_path / "artifacts", services, evidence_key, operator_key)


def write_platform(repo: Path, services: ProductionServices) -> None:
    """A platform repo (compose + policy) whose modules point at the stand-in services."""
    compose = repo / "compose" / "data.yml"
    compose.parent.mkdir(parents=True)
    compose.write_text(
        textwrap.dedent(f"""\
        name: data
        services:
          postgres:
            image: {IMAGES["data/postgres"]}
            volumes: [pgdata:/var/lib/postgresql/data]
          redis:
            image: {IMAGES["data/redis"]}
            command: [redis-server, --appendonly, "yes"]
            volumes: [redisdata:/data]
          minio:
            image: {IMAGES["data/minio"]}
            volumes: [miniodata:/data]
        volumes: {{pgdata: {{}}, redisdata: {{}}, miniodata: {{}}}}
        """)
    )
    lines = ["version: 1", "compose:", "  files: [compose/data.yml]", "modules:"]
    for module_id, config in services.sources.items():
        entry = config.model_dump(mode="json", exclude_defaults=False, exclude={"sandbox"})
        smoke = [c.model_dump(mode="json", exclude_none=True) for c in SMOKE[module_id]]
        lines.append(f"  {module_id}:")
        lines.append(f"    evidence: {_flow(entry)}")
        lines.append(f"    smoke: {_flow(smoke)}")
    (repo / "stategate.yaml").write_text("\n".join(lines) + "\n")


def _flow(value: object) -> str:
    import json

    return json.dumps(value)  # JSON is YAML flow syntax
