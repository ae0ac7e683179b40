"""Choosing the backups of a DR drill from one window (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stategate.operations.dr import choose_window

T0 = datetime(2026, 5, 27, 12, 0, tzinfo=UTC)


def _at(hours: float, name: str) -> tuple[datetime, str]:
    return (T0 + timedelta(hours=hours), name)


def test_newest_backup_of_each_module_within_the_window() -> None:
    choice = choose_window(
        {
            "p/postgres": [_at(-30, "pg-old"), _at(-5, "pg-mid"), _at(0, "pg-new")],
            "p/redis": [_at(-20, "redis-a"), _at(-2, "redis-b")],
        },
        24,
    )
    assert choice.chosen == {"p/postgres": "pg-new", "p/redis": "redis-b"}
    assert choice.missing == []
    assert choice.window is not None
    # the window the restored backups actually span
    assert (choice.window.start, choice.window.end) == (T0 - timedelta(hours=2), T0)


def test_a_module_without_a_backup_in_the_window_is_named() -> None:
    choice = choose_window(
        {
            "p/postgres": [_at(0, "pg")],
            "p/redis": [_at(-25, "redis-too-old")],
            "p/minio": [],
        },
        24,
    )
    assert choice.chosen == {"p/postgres": "pg"}
    assert choice.missing == ["p/minio", "p/redis"]
    assert choice.window is not None
    assert (choice.window.start, choice.window.end) == (T0 - timedelta(hours=24), T0)


def test_a_narrow_window() -> None:
    choice = choose_window({"a/b": [_at(0, "x")], "c/d": [_at(-1.5, "y")]}, 1)
    assert choice.missing == ["c/d"]
    assert choose_window({"a/b": [_at(0, "x")], "c/d": [_at(-1.5, "y")]}, 2).missing == []


def test_no_backups_at_all() -> None:
    choice = choose_window({"a/b": [], "c/d": []}, 24)
    assert choice.window is None and choice.chosen == {} and choice.missing == ["a/b", "c/d"]


def test_an_ad_hoc_backup_of_one_module_does_not_hide_a_consistent_set() -> None:
    """pg at 02:00 and redis at 02:05, then one more redis backup at 12:00: a 30-minute
    window finds the 02:00 set, not a window at 12:00 without postgres."""
    choice = choose_window(
        {
            "p/postgres": [_at(2, "pg-2")],
            "p/redis": [_at(2 + 5 / 60, "redis-2"), _at(12, "redis-12")],
        },
        0.5,
    )
    assert choice.missing == []
    assert choice.chosen == {"p/postgres": "pg-2", "p/redis": "redis-2"}
    assert choice.window is not None
    assert (choice.window.start, choice.window.end) == (
        T0 + timedelta(hours=2),
        _at(2 + 5 / 60, "")[0],
    )


def test_with_no_window_holding_every_module_the_newest_backup_anchors_it() -> None:
    choice = choose_window({"p/postgres": [_at(2, "pg-2")], "p/redis": [_at(12, "redis-12")]}, 0.5)
    assert choice.missing == ["p/postgres"] and choice.chosen == {"p/redis": "redis-12"}
    assert choice.window is not None and choice.window.end == T0 + timedelta(hours=12)
