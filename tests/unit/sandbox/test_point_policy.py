"""Pointing a copy of a policy at the stand-in services: only their addresses change."""

from __future__ import annotations

import difflib

import pytest
import yaml

from stategate.errors import InputError
from stategate.providers.config import Credential, PostgresSource, RedisSource, S3Source
from stategate.sandbox.services import point_policy_at
from tests.conftest import EXAMPLE

RUNNING = {
    "platform/postgres": PostgresSource(host="127.0.0.1", port=41001, databases=["notes"]),
    "platform/redis": RedisSource(host="127.0.0.1", port=41002),
    "platform/minio": S3Source(
        endpoint="http://127.0.0.1:41003",
        access_key=Credential(env="A"),
        secret_key=Credential(env="S"),
    ),
}


def test_the_example_policy_keeps_every_other_byte() -> None:
    before = (EXAMPLE / "stategate.yaml").read_text()
    after = point_policy_at(before, RUNNING, "stategate.yaml")
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert sorted(changed) == sorted(
        [
            "-      endpoint: http://127.0.0.1:9000",
            '+      endpoint: "http://127.0.0.1:41003"',
            # the backup repository on minio's server moves with it
            "-      endpoint: http://127.0.0.1:9000",
            '+      endpoint: "http://127.0.0.1:41003"',
            "-      host: 127.0.0.1",
            '+      host: "127.0.0.1"',
            "-      port: 5432",
            "+      port: 41001",
            "-      host: 127.0.0.1",
            '+      host: "127.0.0.1"',
            "-      port: 6379",
            "+      port: 41002",
        ]
    )
    modules = yaml.safe_load(after)["modules"]
    assert modules["platform/postgres"]["evidence"]["port"] == 41001
    assert modules["platform/redis"]["evidence"]["port"] == 41002
    assert modules["platform/minio"]["evidence"]["endpoint"] == "http://127.0.0.1:41003"
    (minio, host) = yaml.safe_load(after)["evidence"]["repositories"]
    assert minio["endpoint"] == "http://127.0.0.1:41003" and "endpoint" not in host
    assert (
        modules["platform/postgres"]["smoke"]
        == yaml.safe_load(before)["modules"]["platform/postgres"]["smoke"]
    )


def test_flow_style_entries_are_pointed_too() -> None:
    text = (
        "modules:\n"
        '  platform/minio: {evidence: {"provider": "s3", "endpoint": "http://127.0.0.1:1",'
        ' "access_key": {"env": "A"}, "secret_key": {"env": "S"}}}\n'
    )
    after = point_policy_at(text, {"platform/minio": RUNNING["platform/minio"]}, "p.yaml")
    evidence = yaml.safe_load(after)["modules"]["platform/minio"]["evidence"]
    assert evidence["endpoint"] == "http://127.0.0.1:41003"


def test_an_address_left_to_its_default_is_a_clear_error() -> None:
    text = "modules:\n  platform/redis:\n    evidence: {provider: redis}\n"
    with pytest.raises(InputError, match=r"modules\.platform/redis\.evidence\.host must be"):
        point_policy_at(text, {"platform/redis": RUNNING["platform/redis"]}, "p.yaml")
