"""The policy's repositories: what is refused before any backup runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pyrage import x25519

from stategate.errors import InputError
from stategate.policy.schema import EvidenceSettings
from stategate.repository.crypt import parse_identities, parse_recipients
from stategate.repository.repositories import from_policy

S3 = {
    "name": "offsite",
    "type": "s3",
    "endpoint": "http://127.0.0.1:9000",
    "bucket": "backups",
    "access_key": {"env": "A"},
    "secret_key": {"env": "B"},
}
ENCRYPTION = {"recipients_file": "trust/backup-recipients.txt"}


def _refused(settings: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as refused:
        EvidenceSettings.model_validate(settings)
    return str(refused.value)


def test_an_s3_repository_needs_encryption() -> None:
    assert "repository offsite is off-host: backups leave the host only encrypted" in _refused(
        {"repositories": [S3]}
    )
    EvidenceSettings.model_validate({"repositories": [S3], "encryption": ENCRYPTION})


def test_names_are_unique_and_backup_to_names_them() -> None:
    local = {"name": "offsite", "type": "local"}
    assert "repository names must be unique: offsite" in _refused(
        {"repositories": [S3, local], "encryption": ENCRYPTION}
    )
    assert "backup_to names no repository called elsewhere" in _refused(
        {"repositories": [S3], "encryption": ENCRYPTION, "backup_to": ["offsite", "elsewhere"]}
    )
    assert "backup_to names no repository: backups would go nowhere" in _refused(
        {"repositories": [S3], "encryption": ENCRYPTION, "backup_to": []}
    )
    assert "a repository name is 1-63 of a-z" in _refused(
        {"repositories": [{"name": "Off site", "type": "local"}]}
    )


@pytest.mark.parametrize("prefix", ["a/../b", "..", "a//b", "./x"])
def test_a_prefix_is_plain_key_segments(prefix: str) -> None:
    assert "a prefix is plain key segments" in _refused(
        {"repositories": [{**S3, "prefix": prefix}], "encryption": ENCRYPTION}
    )


def test_credentials_are_references_never_values() -> None:
    assert "Extra inputs are not permitted" in _refused(
        {"repositories": [{**S3, "access_key": {"value": "AKIA..."}}], "encryption": ENCRYPTION}
    )


def test_recipients_are_age_public_keys_named_by_line(tmp_path: Path) -> None:
    key = str(x25519.Identity.generate().to_public())
    assert parse_recipients(f"# ops\n\n{key}\n", file="r.txt") == [key]
    with pytest.raises(InputError) as refused:
        parse_recipients(f"{key}\nssh-rsa AAAA\n", file="r.txt")
    assert str(refused.value) == "r.txt: line 2 is not an age X25519 recipient (age1...)"
    with pytest.raises(InputError, match="lists no age recipient"):
        parse_recipients("# nobody\n", file="r.txt")


def test_an_identity_error_never_shows_the_key() -> None:
    secret = str(x25519.Identity.generate())
    assert len(parse_identities(f"# mine\n{secret}\n", what="id")) == 1
    with pytest.raises(InputError) as refused:
        parse_identities(secret[:-3] + "QQQ", what="id")
    assert secret[:20] not in str(refused.value)
    assert str(refused.value) == "id holds a line that is not an age identity"


def test_a_local_repository_inside_the_repo_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "platform"
    (repo / "trust").mkdir(parents=True)
    settings = EvidenceSettings.model_validate(
        {"repositories": [{"name": "here", "type": "local", "path": "backups"}]}
    )
    with pytest.raises(InputError) as refused:
        from_policy(settings, repo, tmp_path / "artifacts")
    assert "repository here: backups is inside the platform repo" in str(refused.value)


def test_a_missing_recipients_file_is_named(tmp_path: Path) -> None:
    settings = EvidenceSettings.model_validate({"repositories": [S3], "encryption": ENCRYPTION})
    with pytest.raises(InputError) as refused:
        from_policy(settings, tmp_path, tmp_path / "artifacts")
    assert str(refused.value) == "trust/backup-recipients.txt: age recipients file not found"


def test_no_repositories_means_the_artifacts_folder_unencrypted(tmp_path: Path) -> None:
    repositories = from_policy(EvidenceSettings(), tmp_path, tmp_path / "artifacts")
    assert [r.name for r in repositories.targets] == ["local"]
    assert repositories.recipients == () and repositories.encryption is None
    assert repositories.targets[0].copy().where == str(tmp_path / "artifacts")
    assert repositories.copies() == []  # records say nothing, as they always have


def test_a_policy_that_names_the_artifacts_folder_reads_older_backups_from_it(
    tmp_path: Path,
) -> None:
    settings = EvidenceSettings.model_validate(
        {"repositories": [{"name": "host", "type": "local"}]}
    )
    repositories = from_policy(settings, tmp_path, tmp_path / "artifacts")
    assert repositories.holding([]).name == "host"  # a record from before: no copies
    assert [c.repository for c in repositories.copies()] == ["host"]


def test_an_identity_or_key_file_inside_the_repo_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A", "access-key-id")
    repo = tmp_path / "platform"
    (repo / "trust").mkdir(parents=True)
    key = str(x25519.Identity.generate().to_public())
    (repo / "trust" / "backup-recipients.txt").write_text(key + "\n")
    (repo / "age.key").write_text("AGE-SECRET-KEY-1\n")
    settings = EvidenceSettings.model_validate(
        {
            "repositories": [{**S3, "secret_key": {"file": "keys/s3-secret"}}],
            "encryption": {**ENCRYPTION, "identity": {"file": "age.key"}},
        }
    )
    repositories = from_policy(settings, repo, tmp_path / "artifacts")
    with pytest.raises(InputError) as refused:
        repositories.named("offsite").backend  # noqa: B018 (opening it resolves the keys)
    assert str(refused.value) == (
        "repository offsite secret_key: keys/s3-secret is inside the platform repo; keep it outside"
    )
    with pytest.raises(InputError) as refused:
        repositories._identities()
    assert str(refused.value) == (
        "evidence.encryption.identity: age.key is inside the platform repo; keep it outside"
    )
