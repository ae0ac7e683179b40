"""Keys AWS holds and a file-system S3 server (MinIO, SeaweedFS: the local sandbox)
refuses or renames are named in the backup's findings, before any drill trips on them."""

from __future__ import annotations

import pytest

from stategate.providers.s3 import unportable_key


@pytest.mark.parametrize(
    ("key", "odd"),
    [
        ("a/b", False),
        ("invoices/2024/", False),  # a folder key: its trailing / is no empty segment
        ("a/.hidden", False),
        ("x/../y", True),
        ("./z", True),
        ("x//y", True),
        ("/x", True),
        ("a\\b", True),
        ("..", True),
    ],
)
def test_keys_a_file_system_server_cannot_hold(key: str, odd: bool) -> None:
    assert unportable_key(key) is odd
