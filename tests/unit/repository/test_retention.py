"""What prune keeps and why (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stategate.errors import InputError
from stategate.repository.retention import (
    Backup,
    Decision,
    Reliance,
    Rule,
    decide,
    parse_duration,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _backup(module: str, days_ago: float, n: int) -> Backup:
    bid = f"b{n}"
    return Backup(
        f"evidence/{module}/backup-{bid}.json",
        "0" * 64,
        module,
        bid,
        NOW - timedelta(days=days_ago),
        f"{module}/{bid}",
        ("offsite",),
    )


PG = [_backup("data/pg", d, n) for n, d in enumerate([10, 8, 5, 3, 1])]  # b0 oldest
RD = [_backup("data/redis", d, n) for n, d in enumerate([9, 2], start=10)]


def _kept(decisions: list[Decision]) -> dict[str, tuple[str, ...]]:
    return {d.backup.backup_id: d.reasons for d in decisions}


@pytest.mark.parametrize(
    ("text", "hours"),
    [("1h", 1), ("36h", 36), ("30d", 720), ("2w", 336), ("1y", 8760), ("1w3d", 240), (" 7D ", 168)],
)
def test_durations(text: str, hours: int) -> None:
    assert parse_duration(text) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "3 months", "10", "5m", "0d", "-1d", "d"])
def test_bad_durations_are_refused_clearly(text: str) -> None:
    with pytest.raises(InputError, match="not a duration"):
        parse_duration(text)


def test_a_rule_must_say_what_to_keep() -> None:
    with pytest.raises(InputError) as nothing:
        Rule()
    assert nothing.value.message == (
        "say what to keep: --keep-last N and/or --keep-within DURATION "
        "(what the gate relies on is always kept)"
    )
    with pytest.raises(InputError) as zero:
        Rule(keep_last=0)
    assert zero.value.message == "--keep-last must be at least 1"
    assert Rule(keep_last=1).keep_last == 1


def test_keep_last_counts_per_module_and_the_newest_is_always_kept() -> None:
    reasons = _kept(decide([*PG, *RD], [], Rule(keep_last=2), NOW))
    assert {b for b, r in reasons.items() if r} == {"b4", "b3", "b11", "b10"}
    assert reasons["b4"] == (
        "the newest passing backup of data/pg (the apply gate's backup)",
        "one of the last 2 of data/pg",
    )
    assert reasons["b3"] == ("one of the last 2 of data/pg",)
    assert reasons["b0"] == reasons["b1"] == reasons["b2"] == ()


def test_keep_within_keeps_what_is_recent_enough() -> None:
    reasons = _kept(decide(PG, [], Rule(keep_within=timedelta(days=4)), NOW))
    assert reasons["b3"] == ("taken within 4 days",)
    assert reasons["b2"] == ()  # five days old
    assert reasons["b4"][0].startswith("the newest passing backup")
    hours = _kept(decide(PG, [], Rule(keep_within=timedelta(hours=36)), NOW))
    assert hours["b4"][-1] == "taken within 36 hours" and hours["b3"] == ()


def test_reliances_keep_backups_whatever_the_rule_each_reason_once() -> None:
    reliances = [
        Reliance(PG[0].record, "live approval A"),
        Reliance(PG[0].record, "live approval A"),
        Reliance(PG[0].record, "the newest passing DR drill D"),
        Reliance("evidence/unknown/backup-x.json", "not a backup we know"),
    ]
    decisions = decide(PG, reliances, Rule(keep_last=1), NOW)
    reasons = _kept(decisions)
    assert reasons["b0"] == ("live approval A", "the newest passing DR drill D")
    assert [d.backup.backup_id for d in decisions] == ["b4", "b3", "b2", "b1", "b0"]
    assert [d.keep for d in decisions] == [True, False, False, False, True]


def test_nothing_recorded_decides_nothing() -> None:
    assert decide([], [Reliance("x", "y")], Rule(keep_last=1), NOW) == []


def test_keep_within_includes_its_boundary() -> None:
    exactly = [_backup("data/pg", 3, 1), _backup("data/pg", 1, 2)]
    reasons = _kept(decide(exactly, [], Rule(keep_within=timedelta(days=3)), NOW))
    assert reasons["b1"] == ("taken within 3 days",)


@pytest.mark.parametrize(
    ("hours", "shown"),
    [(24, "24 hours"), (36, "36 hours"), (48, "2 days"), (50, "50 hours"), (72, "3 days")],
)
def test_the_window_is_said_in_days_when_whole_days(hours: int, shown: str) -> None:
    reasons = _kept(decide(PG[-1:], [], Rule(keep_within=timedelta(hours=hours)), NOW))
    assert reasons["b4"][-1] == f"taken within {shown}"


def test_newest_goes_by_when_a_backup_finished_as_in_the_apply_gate() -> None:
    from dataclasses import replace

    early_start_late_finish = replace(PG[3], finished=NOW)
    late_start_early_finish = replace(PG[4], finished=NOW - timedelta(hours=12))
    reasons = _kept(
        decide([early_start_late_finish, late_start_early_finish], [], Rule(keep_last=1), NOW)
    )
    assert reasons["b3"][0].startswith("the newest passing backup of data/pg")
    assert reasons["b4"] == ()
