"""Compose schema validation in parts (a file's skeleton, each setting of each service),
each distinct part validated once: it must accept and refuse exactly what validating the
whole file does, and a remembered part must never let an invalid file through."""

from __future__ import annotations

import pytest

from stategate.compose import validation
from stategate.compose.validation import validate_document
from stategate.errors import InputError
from stategate.yamlfile import YMap, loads

VALID = """\
name: shop
services:
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
    healthcheck: {test: [CMD, pg_isready], interval: 10s, retries: 3}
    deploy: {resources: {limits: {cpus: "0.5", memory: 512M}}}
  web:
    image: nginx:1.27
    depends_on: {db: {condition: service_healthy}}
    x-note: kept
volumes:
  data: {}
x-common: {a: 1}
"""

INVALID = {
    "nested-ref": VALID.replace('cpus: "0.5"', "cpus: [1]"),
    "unknown-setting": VALID.replace("    x-note: kept\n", "    colour: blue\n"),
    "bad-service-name": VALID.replace("  web:\n", "  'we b':\n"),
    "unknown-top-level": VALID + "extras: {}\n",
    "bad-volume-section": VALID.replace("  data: {}\n", "  data: [1]\n"),
    "services-a-list": "services: [a, b]\n",
    "service-a-string": "services:\n  a: text\n",
    "bad-condition": VALID.replace("service_healthy", "sometimes"),
}


def doc(text: str) -> YMap:
    parsed = loads(text, "compose.yml")
    assert isinstance(parsed, YMap)
    return parsed


def refusal(text: str, known: set[str] | None) -> str:
    with pytest.raises(InputError) as caught:
        validate_document(doc(text), "compose.yml", known)
    return str(caught.value)


def test_the_vendored_schema_is_checked_in_parts() -> None:
    assert validation._checks()[1] is not None


@pytest.mark.parametrize("text", [VALID, *INVALID.values()], ids=["valid", *INVALID])
def test_parts_judge_as_the_whole_file(text: str) -> None:
    plain = validation._plain(doc(text))
    assert validation._valid_in_parts(plain, set()) == validation._validator().is_valid(plain)


@pytest.mark.parametrize("name", list(INVALID))
def test_remembered_parts_never_pass_an_invalid_file(name: str) -> None:
    known: set[str] = set()
    validate_document(doc(VALID), "compose.yml", known)
    assert known, "the valid file's parts are remembered"
    assert refusal(INVALID[name], known) == refusal(INVALID[name], None)


def test_a_remembered_part_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    known: set[str] = set()
    validate_document(doc(VALID), "compose.yml", known)
    calls: list[object] = []
    real = validation._valid_part

    def counting(validator: object, kind: str, part: object, memo: set[str]) -> bool:
        before = len(memo)
        result = real(validator, kind, part, memo)  # type: ignore[arg-type]
        if len(memo) > before:
            calls.append(part)
        return result

    monkeypatch.setattr(validation, "_valid_part", counting)
    validate_document(doc(VALID.replace("nginx:1.27", "nginx:1.28")), "compose.yml", known)
    assert calls == [{"image": "nginx:1.28"}]
