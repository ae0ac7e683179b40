"""The pure parts of the in-place upgrade rehearsal: settings, initdb flags, messages."""

from __future__ import annotations

import pytest

from stategate.sandbox.pg_upgrade import (
    first_problem,
    initdb_flags,
    parse_controldata,
    settings_from,
)

CONTROLDATA = """pg_control version number:            1300
Database block size:                  8192
Bytes per WAL segment:                16777216
Data page checksum version:           0
"""
TEMPLATE1 = {"datcollate": "C", "datctype": "C", "datlocprovider": "c", "encoding_name": "UTF8"}


def test_settings_come_from_controldata_and_template1() -> None:
    settings = settings_from(parse_controldata(CONTROLDATA), TEMPLATE1)
    assert settings == {
        "data_checksums": "off",
        "encoding": "UTF8",
        "lc_collate": "C",
        "lc_ctype": "C",
        "locale_provider": "libc",
        "wal_segment_bytes": "16777216",
        "block_size": "8192",
    }
    on = settings_from(
        parse_controldata(CONTROLDATA.replace("version:           0", "version:           1")),
        TEMPLATE1,
    )
    assert on["data_checksums"] == "on"


@pytest.mark.parametrize(
    ("change", "target", "expected"),
    [
        ({}, 18, ["--no-data-checksums"]),  # 18 turns checksums on unless told not to
        ({}, 17, []),
        ({"data_checksums": "on"}, 17, ["--data-checksums"]),
        ({"data_checksums": "on"}, 18, ["--data-checksums"]),
        ({"wal_segment_bytes": str(64 * 1024 * 1024)}, 17, ["--wal-segsize=64"]),
    ],
)
def test_initdb_flags_match_the_old_cluster(
    change: dict[str, str], target: int, expected: list[str]
) -> None:
    settings = settings_from(parse_controldata(CONTROLDATA), TEMPLATE1) | change
    flags = initdb_flags(settings, target, "app")
    assert flags == ["-U", "app", "-E", "UTF8", "--lc-collate=C", "--lc-ctype=C", *expected]


def test_an_icu_cluster_keeps_its_provider_and_locale() -> None:
    row = {**TEMPLATE1, "datlocprovider": "i", "daticulocale": "en-US", "datcollate": "en_US.utf8"}
    flags = initdb_flags(settings_from(parse_controldata(CONTROLDATA), row), 17, "postgres")
    assert flags[4:7] == ["--locale-provider=icu", "--icu-locale=en-US", "--lc-collate=en_US.utf8"]


def test_first_problem_names_the_failed_check_and_why() -> None:
    output = """Performing Consistency Checks
-----------------------------
Checking cluster versions                                     ok
Checking data type usage                                      failed check: Checking for reg* data types in user tables

Data type checks failed:
Your installation contains one of the reg* data types in user tables.
These data types reference system OIDs that are not preserved by

Failure, exiting
"""
    assert first_problem(output) == (
        "Checking for reg* data types in user tables: Your installation contains one of the "
        "reg* data types in user tables."
    )
    checksums = (
        "Checking cluster versions   ok\n\n"
        "old cluster does not use data checksums but the new one does\nFailure, exiting\n"
    )
    assert first_problem(checksums) == (
        "old cluster does not use data checksums but the new one does"
    )
    assert first_problem("") == "pg_upgrade failed without output"
