"""The status page as the ``stategate.status/v1`` JSON document.

Shape (times are UTC ISO 8601, ages in hours rounded to 0.1)::

    {"schema": "stategate.status/v1", "generated": TIME, "trust": WHERE,
     "limits_hours": {KIND: HOURS, ...},
     "attention": N,                       # cells that are not fresh (or not needed)
     "modules": [{"id", "classes", "tier", "parent", "backup_reference",
                  "evidence": {KIND: {"state", "age_hours", "limit_hours", "finished",
                                      "result", "engine", "record", "reason",
                                      "steps": [{"name", "result", "duration_s"}]}},
                  "timeline": [{"kind", "when", "result", "record", "counts"}]}],
     "untrusted": [{"record", "reason"}]}   # record files that do not verify

``steps`` is a restore drill's or rehearsal's steps in the order they ran, with their
durations in seconds (empty for the other kinds, and for records written before steps
were kept). ``counts`` is false for a replica's backup (it counts for no apply gate, so no cell
shows it). KIND is one of backup, restore-drill, rehearsal, smoke, dr-drill; ``state`` one of
fresh, stale, failed, untrusted, missing, none (see :mod:`stategate.report.status`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stategate.report.status import STATUS_SCHEMA, Cell, ModuleStatus, StatusModel


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _hours(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _cell(cell: Cell) -> dict[str, Any]:
    return {
        "state": cell.state.value,
        "age_hours": _hours(cell.age_hours),
        "limit_hours": _hours(cell.limit_hours),
        "finished": _time(cell.finished),
        "result": cell.result,
        "engine": cell.engine,
        "record": cell.record,
        "reason": cell.reason,
        "steps": [
            {"name": s.name, "result": s.result, "duration_s": s.seconds} for s in cell.steps
        ],
    }


def _module(module: ModuleStatus) -> dict[str, Any]:
    return {
        "id": module.id,
        "classes": list(module.classes),
        "tier": module.tier,
        "parent": module.parent,
        "backup_reference": module.backup_reference,
        "evidence": {cell.kind: _cell(cell) for cell in module.cells},
        "timeline": [
            {
                "kind": m.kind,
                "when": _time(m.when),
                "result": m.result,
                "record": m.record,
                "counts": m.counts,
            }
            for m in module.marks
        ],
    }


def status_json(model: StatusModel) -> dict[str, Any]:
    return {
        "schema": STATUS_SCHEMA,
        "generated": _time(model.now),
        "trust": model.trust_origin,
        "limits_hours": {kind: _hours(hours) for kind, hours in model.limits.items()},
        "attention": model.attention,
        "modules": [_module(m) for m in model.modules],
        "untrusted": [{"record": r.rel, "reason": r.reason} for r in model.untrusted],
    }
