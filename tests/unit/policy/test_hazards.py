"""Known image hazards: each rule on real compose bumps (file:line), and the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.catalogues import hazard_catalogue
from stategate.image import parse_image
from stategate.policy.gate import evaluate_merge
from stategate.policy.hazards import RULES, rdb_version
from stategate.pullrequest import load_pull_request
from tests.gitrepo import platform_repo

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
PG_18 = "postgres:18.1-alpine@sha256:" + "18" * 32


def _hazards(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    repo = platform_repo(tmp_path / "p")
    for file, (old, new) in edits.items():
        repo.replace(file, old, new)
    repo.commit("bump")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    found: dict[str, list[str]] = {}
    for f in evaluate_merge(pr).findings:
        if f.rule.startswith("hazard/"):
            found.setdefault(f.rule, []).append(f"{f.file}:{f.line}: {f.message}")
    return found


def test_postgres_18_with_the_old_data_mount_is_found_at_the_mount(tmp_path: Path) -> None:
    found = _hazards(tmp_path, {"compose/postgres.yml": (PG_OLD, PG_18)})
    (pgdata,) = found["hazard/postgres-18-pgdata"]
    assert pgdata.startswith("compose/postgres.yml:16: ")  # the volumes entry
    assert (
        "/var/lib/postgresql/18/docker" in pgdata and "docker-library/postgres/pull/1259" in pgdata
    )
    (stats,) = found["hazard/postgres-major-statistics"]
    assert stats.startswith("compose/postgres.yml:6: ") and "postgres 16 -> 18" in stats


def test_an_explicit_pgdata_keeps_the_old_layout_working(tmp_path: Path) -> None:
    found = _hazards(
        tmp_path,
        {
            "compose/postgres.yml": (
                f"{PG_OLD}\n    restart: unless-stopped\n    environment:\n",
                f"{PG_18}\n    restart: unless-stopped\n    environment:\n"
                "      PGDATA: /var/lib/postgresql/data\n",
            )
        },
    )
    assert "hazard/postgres-18-pgdata" not in found
    assert "hazard/postgres-major-statistics" in found


def test_a_minor_postgres_bump_hits_nothing(tmp_path: Path) -> None:
    found = _hazards(
        tmp_path, {"compose/postgres.yml": (PG_OLD, "postgres:16.6-alpine@sha256:" + "66" * 32)}
    )
    assert found == {}


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("redis:6.2.14", 9),
        ("redis:7.0.15-alpine", 10),
        ("redis:7.2.5-alpine", 11),
        ("bitnami/redis:7.2", 11),
        ("valkey/valkey:8.1", 11),
        ("redis:latest", None),
        ("postgres:16", None),
    ],
)
def test_rdb_versions(image: str, version: int | None) -> None:
    assert rdb_version(parse_image(image)) == version


def test_redis_and_valkey_bumps(tmp_path: Path) -> None:
    old = (
        "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
    )
    found = _hazards(
        tmp_path, {"compose/redis.yml": (old, "valkey/valkey:8.1-alpine@sha256:" + "81" * 32)}
    )
    assert "hazard/redis-to-valkey" in found
    assert "hazard/redis-rdb-version" not in found  # both write RDB 11
    back = _hazards(
        tmp_path / "b", {"compose/redis.yml": (old, "redis:7.0.15-alpine@sha256:" + "70" * 32)}
    )
    assert back == {}  # a downgrade writes an older format: nothing new to refuse
    up = _hazards(
        tmp_path / "c",
        {"compose/redis.yml": (old, "redis:7.2.6-alpine@sha256:" + "72" * 32)},
    )
    assert up == {}


def test_minio_across_the_fs_removal(tmp_path: Path) -> None:
    repo_file = "compose/minio.yml"
    text = (
        Path(__file__).resolve().parents[3] / "src/stategate/data/example_platform" / repo_file
    ).read_text()
    current = next(
        line.split("image:")[1].strip()
        for line in text.splitlines()
        if "image:" in line and "minio/minio" in line
    )
    old = "minio/minio:RELEASE.2022-06-02T02-11-04Z@sha256:" + "22" * 32
    new = "minio/minio:RELEASE.2024-06-13T22-53-53Z@sha256:" + "24" * 32
    repo = platform_repo(tmp_path / "p")
    repo.replace(repo_file, current, old)
    repo.commit("older minio on main")
    repo.git("checkout", "-q", "-B", "main")
    repo.git("checkout", "-q", "-b", "bump")
    repo.replace(repo_file, old, new)
    repo.commit("bump")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    rules = {f.rule: f.message for f in evaluate_merge(pr).findings}
    assert "crosses the removal of FS mode" in rules["hazard/minio-legacy-fs"]


def test_every_catalogue_entry_has_a_rule_and_a_source() -> None:
    catalogue = hazard_catalogue()
    assert {h.rule for h in catalogue.hazards} <= set(RULES)
    assert all(h.sources and h.sources[0].startswith("https://") for h in catalogue.hazards)
