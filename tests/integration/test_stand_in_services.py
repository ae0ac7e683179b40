"""The stand-in services take free ports when they start, never the ports entries name."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stategate.errors import ExitCode, InputError
from stategate.example import example_root
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.config import PostgresSource, RedisSource, S3Source
from stategate.sandbox.ports import LOOPBACK, port_open
from stategate.sandbox.services import production_services
from stategate.workspace import open_workspace

pytestmark = pytest.mark.integration


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_an_occupied_port_in_an_entry_does_not_matter(taken: int) -> None:
    sources = {
        mid: (
            config.model_copy(update={"endpoint": f"http://{LOOPBACK}:{taken}"})
            if isinstance(config, S3Source)
            else config.model_copy(update={"port": taken})
        )
        for mid, config in open_workspace(example_root()).evidence_sources().items()
    }
    with production_services(sources, seed=False, export_env=False) as running:
        assert set(running.sources) == set(sources) == set(running.access)
        ports = set()
        for mid, access in running.access.items():
            config = running.sources[mid]
            if isinstance(access, S3Access):
                assert isinstance(config, S3Source) and config.endpoint == access.endpoint
                port = int(access.endpoint.rsplit(":", 1)[1])
            else:
                assert isinstance(access, PostgresAccess | RedisAccess)
                assert isinstance(config, PostgresSource | RedisSource)
                assert (
                    (config.host, config.port)
                    == (access.host, access.port)
                    == (
                        LOOPBACK,
                        access.port,
                    )
                )
                port = access.port
            assert port != taken and port_open(LOOPBACK, port)
            ports.add(port)
        assert len(ports) == 3


def test_a_stand_in_that_cannot_start_is_named_and_its_password_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a redis "build" that dies at once, printing its command line (which has the password)
    broken = tmp_path / "redis-server"
    broken.write_text('#!/bin/sh\necho "cannot bind: $*" >&2\nexit 1\n', encoding="utf-8")
    broken.chmod(0o755)
    monkeypatch.setattr("stategate.sandbox.services._redis_bin", lambda major: str(broken))
    sources = {
        mid: config
        for mid, config in open_workspace(example_root()).evidence_sources().items()
        if isinstance(config, RedisSource)
    }
    with (
        pytest.raises(InputError) as caught,
        production_services(sources, seed=False, export_env=False),
    ):
        pass
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.INPUT_ERROR
    assert message.startswith(f"the stand-in redis server for {next(iter(sources))} did not start")
    assert not re.search(r"redis-[A-Za-z0-9_-]{24}", message)  # the minted password
