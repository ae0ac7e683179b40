"""The leak check finds a secret wherever it travels, signed payloads included."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from pathlib import Path

import click
import pytest
from rich.console import Console

from stategate.commands import demo
from stategate.evidence.signing.dsse import IN_TOTO_PAYLOAD_TYPE, sign_payload
from stategate.evidence.trust.keys import SigningKey
from stategate.leaks import files_under, find_in_bytes, find_in_files

SECRET = "pg-Cnry_Leak-7Hq2vX9z"
OTHER = 'redis-"quoted\\Cnry-4Kx'


def signed_record(statement: dict[str, object]) -> bytes:
    payload = json.dumps(statement).encode()
    return sign_payload(IN_TOTO_PAYLOAD_TYPE, payload, SigningKey.generate()).to_json()


@pytest.mark.parametrize("prefix", ["", "x", "xy", "xyz"])
def test_a_secret_inside_a_signed_payload_is_found_although_the_text_hides_it(
    prefix: str,
) -> None:
    record = signed_record({"predicate": {"reason": f"{prefix}dsn has {SECRET} in it"}})
    assert SECRET.encode() not in record  # read as text, the record looks clean
    leaks = find_in_bytes("evidence/x.json", record, [OTHER, SECRET])
    assert {leak.secret for leak in leaks} == {1}
    assert any(leak.form == "payload:plain" for leak in leaks)
    assert all(SECRET not in str(leak) for leak in leaks)


def test_a_secret_in_a_ledger_line_payload_is_found() -> None:
    inner = base64.b64encode(json.dumps({"note": SECRET}).encode()).decode()
    ledger = b'{"seq":1,"hash":"ab"}\n' + json.dumps({"entry": {"payload": inner}}).encode()
    assert SECRET.encode() not in ledger
    forms = {leak.form for leak in find_in_bytes("ledger.jsonl", ledger, [SECRET])}
    assert "payload:plain" in forms


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (f"error: {SECRET}", "plain"),
        (f"Authorization: Basic {base64.b64encode(f'app:{SECRET}'.encode()).decode()}", "base64"),
        (f"url=https://x/?p={urllib.parse.quote(OTHER, safe='')}", "url-encoded"),
        (json.dumps({"detail": OTHER}), "json-escaped"),
    ],
)
def test_each_encoding_is_found(text: str, form: str) -> None:
    leaks = find_in_bytes("out", text.encode(), [SECRET, OTHER])
    assert len(leaks) == 1 and leaks[0].form.startswith(form)


def test_clean_records_have_no_leaks(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "r.json").write_bytes(signed_record({"predicate": {"ok": 1}}))
    (tmp_path / "report.md").write_text("password: ***\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "secret").write_text(SECRET)  # git internals are not searched
    files = files_under(tmp_path)
    assert [p.name for p in files] == ["r.json", "report.md"]
    assert find_in_files(files, [SECRET, OTHER]) == []


def test_the_demos_leak_check_refuses_a_secret_in_a_signed_record(tmp_path: Path) -> None:
    run = demo._Demo(Console(file=io.StringIO()), tmp_path)
    run.secrets = [SECRET]
    run.reports.mkdir()
    (run.repo / "evidence").mkdir(parents=True)
    record = run.repo / "evidence" / "backup.json"
    record.write_bytes(signed_record({"predicate": {"reason": f"pg_dump: {SECRET}"}}))
    run.outputs.append(("stategate backup", b"backup: pass ***"))
    with pytest.raises(click.ClickException) as caught:
        demo._leak_check(run)
    assert str(record) in caught.value.message and "payload:plain" in caught.value.message
    assert SECRET not in caught.value.message
    record.write_bytes(signed_record({"predicate": {"reason": "pg_dump: ***"}}))
    demo._leak_check(run)  # clean now
    run.outputs.append(("stategate smoke", f"detail: {SECRET}".encode()))
    with pytest.raises(click.ClickException, match="stategate smoke"):
        demo._leak_check(run)
