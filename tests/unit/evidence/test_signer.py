"""Choosing the evidence key, and refusing one the repo does not trust for evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey, write_key_pair
from stategate.evidence.trust.signer import (
    EVIDENCE_KEY_ENV,
    evidence_key_path,
    load_evidence_key,
    require_evidence_signer,
)
from stategate.evidence.trust.trustfile import Role


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(EVIDENCE_KEY_ENV, raising=False)
    monkeypatch.setenv("STATEGATE_KEYS", str(tmp_path / "keys"))


def _key(path: Path) -> SigningKey:
    key = SigningKey.generate()
    write_key_pair(key, path, comment="test")
    return key


def test_explicit_then_env_then_the_only_key_in_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = _key(tmp_path / "keys" / "evidence-ci.key")
    _key(tmp_path / "keys" / "operator-alice.key")  # another role: not a candidate
    assert load_evidence_key().keyid == only.keyid
    from_env = _key(tmp_path / "elsewhere" / "k.key")
    monkeypatch.setenv(EVIDENCE_KEY_ENV, str(tmp_path / "elsewhere" / "k.key"))
    assert load_evidence_key().keyid == from_env.keyid
    assert evidence_key_path(tmp_path / "given.key") == tmp_path / "given.key"


def test_no_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="stategate keys init --role evidence --name NAME"):
        evidence_key_path()
    _key(tmp_path / "keys" / "operator-alice.key")
    with pytest.raises(InputError, match="no evidence signing key"):
        evidence_key_path()


def test_several_keys_need_a_choice(tmp_path: Path) -> None:
    _key(tmp_path / "keys" / "evidence-a.key")
    _key(tmp_path / "keys" / "evidence-b.key")
    with pytest.raises(InputError, match=r"several evidence keys.*--key"):
        evidence_key_path()


def test_a_key_is_checked_against_the_trust_file(tmp_path: Path) -> None:
    evidence, operator, stranger, old = (SigningKey.generate() for _ in range(4))
    past = datetime.now(UTC) - timedelta(days=1)
    write_trust_file(
        tmp_path,
        [
            trust_entry(evidence, Role.EVIDENCE, "ci-host"),
            trust_entry(operator, Role.OPERATOR, "alice"),
            trust_entry(old, Role.EVIDENCE, "old-host", valid_before=past),
        ],
    )
    store = EvidenceStore.open(RepoLayout(tmp_path))
    require_evidence_signer(store, evidence)
    with pytest.raises(InputError, match="trust file does not list it"):
        require_evidence_signer(store, stranger)
    with pytest.raises(InputError, match="trusted for operator, not evidence"):
        require_evidence_signer(store, operator)
    with pytest.raises(InputError, match="expired"):
        require_evidence_signer(store, old)
