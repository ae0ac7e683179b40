from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.testing import trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import KeyState, Role, add_trusted_key, load_trust

T0 = datetime(2026, 5, 1, tzinfo=UTC)
SHOWN = "trust/allowed_signers.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trust" / "allowed_signers.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_hand_written_file_with_dates_loads(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = _write(
        tmp_path,
        f"""version: 1
keys:
  - name: alice
    role: operator
    public_key: {key.public.openssh} alice@laptop
    valid_after: 2026-01-01
    valid_before: 2027-01-01T00:00:00Z
    revoked: 2026-06-01
""",
    )
    roots = load_trust(path, shown=SHOWN)
    (entry,) = roots.keys
    assert entry.keyid == key.keyid
    assert entry.valid_after == datetime(2026, 1, 1, tzinfo=UTC)
    assert roots.check(key.keyid, Role.OPERATOR, T0).state is KeyState.VALID
    assert roots.check(key.keyid, Role.OPERATOR, T0.replace(month=6)).state is KeyState.REVOKED
    assert roots.check(key.keyid, Role.EVIDENCE, T0).state is KeyState.WRONG_ROLE
    assert roots.check(key.keyid, Role.OPERATOR, T0.replace(year=2025)).state is (
        KeyState.NOT_YET_VALID
    )
    assert roots.check("SHA256:nope", Role.OPERATOR, T0).state is KeyState.UNKNOWN


def test_expiry_and_permanent_revocation(tmp_path: Path) -> None:
    expiring, leaked = SigningKey.generate(), SigningKey.generate()
    write_trust_file(
        tmp_path,
        [
            trust_entry(expiring, Role.EVIDENCE, "old-host", valid_before=T0),
            trust_entry(leaked, Role.EVIDENCE, "leaked", revoked=True),
        ],
    )
    roots = load_trust(tmp_path / "trust" / "allowed_signers.yaml")
    before, after = T0 - timedelta(seconds=1), T0
    assert roots.check(expiring.keyid, Role.EVIDENCE, before).state is KeyState.VALID
    assert roots.check(expiring.keyid, Role.EVIDENCE, after).state is KeyState.EXPIRED
    assert roots.check(leaked.keyid, Role.EVIDENCE, before).state is KeyState.REVOKED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: [", "invalid YAML"),
        ("version: 2\nkeys: []\n", "invalid trust file: version"),
        ("keys:\n  - name: a\n    role: admin\n    public_key: x\n", "keys.0.role"),
        ("keys:\n  - name: a\n    role: evidence\n    public_key: ssh-rsa AAAA\n", "public_key"),
        ("keys:\n  - name: a\n    role: evidence\n    public_key: x\n    extra: 1\n", "extra"),
        ("keys: !!python/object/apply:os.system ['true']\n", "unsupported YAML tag"),
        ("keys: []\nkeys: []\n", "duplicate key"),
        (
            "keys:\n  - name: a\n    role: evidence\n    public_key: x\n    valid_before: soon\n",
            "valid_before",
        ),
    ],
)
def test_malformed_trust_file_is_one_line_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_trust(path, shown=SHOWN)
    shown = str(err.value)
    assert shown.startswith(SHOWN)
    assert message in shown
    assert "\n" not in shown


def test_keyid_that_does_not_match_the_key_is_refused(tmp_path: Path) -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    path = _write(
        tmp_path,
        f"keys:\n  - name: a\n    role: evidence\n    keyid: '{other.keyid}'\n"
        f"    public_key: {key.public.openssh}\n",
    )
    with pytest.raises(InputError, match="does not match its public_key"):
        load_trust(path, shown=SHOWN)


def test_missing_trust_file_is_empty_or_an_error(tmp_path: Path) -> None:
    assert load_trust(tmp_path / "none.yaml").keys == ()
    with pytest.raises(InputError, match="keys init"):
        load_trust(tmp_path / "none.yaml", missing_ok=False)


def test_adding_a_key_keeps_hand_written_comments(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    path = tmp_path / "trust.yaml"
    assert add_trusted_key(path, trust_entry(first, Role.EVIDENCE, "ci"))
    path.write_text(path.read_text() + "  # alice joined the on-call rota in May\n")
    assert add_trusted_key(path, trust_entry(second, Role.OPERATOR, "alice"))
    text = path.read_text()
    assert "alice joined the on-call rota" in text
    assert [k.name for k in load_trust(path).keys] == ["ci", "alice"]


def test_adding_a_key_to_an_unusual_layout_rerenders(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    write_trust_file(tmp_path, [])  # "keys: []" cannot take an appended entry
    path = tmp_path / "trust" / "allowed_signers.yaml"
    assert add_trusted_key(path, trust_entry(first, Role.EVIDENCE, "ci")) is False
    assert add_trusted_key(path, trust_entry(second, Role.OPERATOR, "bob")) is True
    assert [k.name for k in load_trust(path).keys] == ["ci", "bob"]
