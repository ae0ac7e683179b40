"""A restore drill's steps on the status page (JSON, table, plain lines, HTML), and a
drill recorded before steps were kept: it still verifies and shows, without steps."""

from __future__ import annotations

from datetime import timedelta

import jsonschema
import pytest
from rich.console import Console

from stategate.evidence.records.predicates import DrillPredicate, RehearsalStep
from stategate.evidence.records.typed import read_record, record_path, scan_records, write_record
from stategate.evidence.trust.trustfile import Role
from stategate.platform import load_platform
from stategate.policy.schema import Freshness
from stategate.report.status import Cell, State, StatusModel, build_status
from stategate.report.status_html import status_html
from stategate.report.status_json import status_json
from stategate.report.status_table import status_lines, status_table
from stategate.schemas import find, load
from tests.status_evidence import EvidenceRepo, backup, drill, evidence_repo

STEPS = [
    ("verify-artifacts", 0.081),
    ("sandbox-start", 2.2),
    ("restore-globals", 0.03),
    ("restore-db app", 21.45),
    ("fingerprint", 1.97),
    ("teardown", 0.97),
]


@pytest.fixture(scope="module")
def ev(tmp_path_factory: pytest.TempPathFactory) -> EvidenceRepo:
    ev = evidence_repo(tmp_path_factory.mktemp("status-steps") / "p")
    h = timedelta(hours=1)
    store, key, now = ev.store, ev.key, ev.now
    # postgres: a newer drill, with its steps
    pg = write_record(store, backup("platform/postgres", "postgres", "16.4", now - h, 20), key)
    timed = drill("platform/postgres", "postgres", "16.4", now - 0.5 * h, 21, pg.rel, ok=True)
    pred = timed.predicate
    assert isinstance(pred, DrillPredicate)
    pred.steps = [RehearsalStep(name=n, result="pass", duration_s=d) for n, d in STEPS[:-1]] + [
        RehearsalStep(name="teardown", result="fail", duration_s=0.97)
    ]
    write_record(store, timed, key)
    # redis: a newer drill as an earlier stategate wrote it, with no "steps" at all
    rd = write_record(store, backup("platform/redis", "redis", "7.2.5", now - h, 22), key)
    old = drill("platform/redis", "redis", "7.2.5", now - 0.5 * h, 23, rd.rel, ok=True)
    raw = old.to_json_obj()
    del raw["predicate"]["steps"]
    store.write_signed(record_path(store.layout, old), raw, key, Role.EVIDENCE)
    ev.repo.commit("drills with and without steps")
    return ev


def _model(ev: EvidenceRepo) -> StatusModel:
    scan = scan_records(ev.store)
    assert not scan.rejected or all("minio" in r.rel for r in scan.rejected)
    platform = load_platform(ev.repo.path)
    return build_status(platform.modules, scan.records, scan.rejected, Freshness(), ev.now)


def _cell(model: StatusModel, module: str, kind: str) -> Cell:
    found = next(m for m in model.modules if m.id == module)
    return next(c for c in found.cells if c.kind == kind)


def test_the_newest_drill_shows_its_steps(ev: EvidenceRepo) -> None:
    cell = _cell(_model(ev), "platform/postgres", "restore-drill")
    assert cell.state is State.FRESH
    assert [(s.name, s.seconds) for s in cell.steps] == STEPS
    assert cell.steps[-1].result == "fail"
    assert cell.took == pytest.approx(sum(d for _, d in STEPS))


def test_a_drill_recorded_before_steps_still_verifies_and_shows(ev: EvidenceRepo) -> None:
    model = _model(ev)
    cell = _cell(model, "platform/redis", "restore-drill")
    assert cell.state is State.FRESH and cell.result == "pass"  # it counts
    assert cell.steps == () and cell.took is None
    assert cell.record is not None
    record = read_record(ev.store, cell.record)
    pred = record.statement.predicate
    assert isinstance(pred, DrillPredicate) and pred.steps == []
    assert b'"steps"' not in record.path.read_bytes()  # as it was signed
    doc = status_json(model)
    redis = next(m for m in doc["modules"] if m["id"] == "platform/redis")
    assert redis["evidence"]["restore-drill"]["steps"] == []
    assert "restore drill  fresh" in "\n".join(status_lines(model))


def test_json_carries_the_steps_and_validates(ev: EvidenceRepo) -> None:
    doc = status_json(_model(ev))
    jsonschema.Draft202012Validator(load(find("status"))).validate(doc)
    pg = next(m for m in doc["modules"] if m["id"] == "platform/postgres")
    steps = pg["evidence"]["restore-drill"]["steps"]
    assert [(s["name"], s["duration_s"]) for s in steps] == STEPS
    assert steps[-1]["result"] == "fail"
    assert pg["evidence"]["backup"]["steps"] == []  # a backup has none
    # a step with a negative duration or another key is not a status document
    bad = dict(steps[0], duration_s=-1)
    pg["evidence"]["restore-drill"]["steps"] = [bad]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load(find("status"))).validate(doc)


def test_plain_lines_table_and_html_show_the_breakdown(ev: EvidenceRepo) -> None:
    model = _model(ev)
    text = "\n".join(status_lines(model))
    assert (
        "steps: verify-artifacts 0.08 s, sandbox-start 2.20 s, restore-globals 0.03 s, "
        "restore-db app 21.45 s, fingerprint 1.97 s, teardown 0.97 s (fail)"
    ) in text
    console = Console(width=250, record=True, color_system=None)
    console.print(status_table(model))
    assert "took 26.7 s, most in restore-db app (21.4 s)" in console.export_text()
    page = status_html(model)
    assert '<details class="steps"><summary>took 26.7 s, most in restore-db app' in page
    assert "<li>restore-db app: 21.45 s</li>" in page
    assert "<li>teardown: 0.97 s (fail)</li>" in page
    assert page.count('<details class="steps">') == 1  # the redis drill has no steps
