"""``repo check`` from a listing and the recorded backups (pure)."""

from __future__ import annotations

from stategate.repository.check import Missing, Orphan, Recorded, check

A = Recorded("evidence/a.json", "data/pg/b1", ("offsite", "here"), {"db.age": 10, "f.age": 3})
OLD = Recorded("evidence/old.json", "data/pg/b0", (), {"db.dump": 7})


def test_a_whole_backup_and_nothing_else_is_clean() -> None:
    report = check(
        "offsite", "s3", [("data/pg/b1/db.age", 10), ("data/pg/b1/f.age", 3)], [], [A], legacy=False
    )
    assert report.clean and report.backups == 1 and report.to_json()["clean"] is True


def test_orphans_missing_parts_and_incomplete_uploads_are_listed() -> None:
    stored = [
        ("data/pg/b1/db.age", 9),  # another size
        ("data/pg/b2/db.age", 5),  # a backup no record names
        ("data/pg/b3.partial/db", 4),  # killed while written
        ("data/pg/b0/db.dump", 7),  # recorded before repositories: not this one's
    ]
    report = check("offsite", "s3", stored, ["p/data/pg/b4/x.age"], [A, OLD], legacy=False)
    assert report.orphans == [
        Orphan("data/pg/b2/db.age", 5, "no passing backup record names it"),
        Orphan("data/pg/b3.partial/db", 4, "an unfinished backup (killed while it was written)"),
        Orphan("data/pg/b0/db.dump", 7, "no passing backup record names it"),
    ]
    assert report.missing == [
        Missing("evidence/a.json", "data/pg/b1/db.age", "9 bytes stored, 10 recorded"),
        Missing("evidence/a.json", "data/pg/b1/f.age", "missing"),
    ]
    assert report.incomplete == ["p/data/pg/b4/x.age"] and report.backups == 0
    assert not report.clean


def test_the_artifacts_folder_also_holds_backups_recorded_without_repositories() -> None:
    stored = [("data/pg/b0/db.dump", 7), ("data/pg/b1/db.age", 10), ("data/pg/b1/f.age", 3)]
    report = check("here", "/srv", stored, [], [A, OLD], legacy=True)
    assert report.clean and report.backups == 2
    other = check("elsewhere", "/x", stored, [], [A, OLD], legacy=False)
    assert [o.path for o in other.orphans] == [p for p, _ in stored]


def test_a_pruned_backup_is_counted_as_pruned_not_missing_and_its_leftovers_are_named() -> None:
    pruned = {"evidence/a.json": "evidence/_platform/prune-x.json"}
    report = check("offsite", "s3", [], [], [A], legacy=False, pruned=pruned)
    assert report.clean and (report.pruned, report.backups, report.missing) == (1, 0, [])
    left = check("offsite", "s3", [("data/pg/b1/f.age", 3)], [], [A], legacy=False, pruned=pruned)
    assert left.orphans == [
        Orphan(
            "data/pg/b1/f.age",
            3,
            "left by evidence/_platform/prune-x.json (cut short): prune --yes removes it",
        )
    ]
    # a prune of another repository's copy changes nothing here
    other = check("here", "dir", [], [], [OLD], legacy=True, pruned=pruned)
    assert other.pruned == 0 and other.missing == [
        Missing("evidence/old.json", "data/pg/b0/db.dump", "missing")
    ]
