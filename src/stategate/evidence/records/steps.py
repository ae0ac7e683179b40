"""Timing a run's steps for its record (a restore drill's, a rehearsal's).

Steps run one after another, never nested or overlapping, so their durations add up
to at most the run's own (each is rounded down to the millisecond). A step that
raises is recorded as failed (``error`` when no engine could run it) and the
exception propagates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from stategate.errors import StategateError
from stategate.evidence.records.predicates import RehearsalStep
from stategate.execute import mask
from stategate.sandbox.engine import EngineUnavailable


@dataclass
class StepNotes:
    """What the block of a step says about it: details, or that it failed."""

    detail: list[str] = field(default_factory=list)
    failed: bool = False

    def append(self, text: str) -> None:
        self.detail.append(text)


@dataclass
class StepClock:
    """The steps of one run, in the order they ran."""

    steps: list[RehearsalStep] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[StepNotes]:
        """Time a step; the block adds details or marks it failed; an exception fails it
        (and propagates)."""
        started = time.monotonic()
        notes = StepNotes()
        try:
            yield notes
        except EngineUnavailable as exc:
            self.add(name, "error", time.monotonic() - started, str(exc))
            raise
        except (StategateError, OSError) as exc:
            self.add(name, "fail", time.monotonic() - started, str(exc))
            raise
        result = "fail" if notes.failed else "pass"
        detail = "; ".join(d for d in notes.detail if d)
        self.add(name, result, time.monotonic() - started, detail)

    def masked(self, secrets: tuple[str, ...]) -> list[RehearsalStep]:
        """The steps, with any secret in their details masked (a tool's error text)."""
        return [s.model_copy(update={"detail": mask(s.detail, secrets)}) for s in self.steps]

    def add(self, name: str, result: str, seconds: float, detail: str = "") -> None:
        self.steps.append(
            RehearsalStep.model_validate(
                {
                    "name": name,
                    "result": result,
                    "detail": detail,
                    # rounded down: the steps never add up to more than the run took
                    "duration_s": math.floor(max(0.0, seconds) * 1000) / 1000,
                }
            )
        )

    def restore_detail(self) -> str:
        """How the databases were restored (the ``restore-db`` steps' details, e.g. the
        pg_restore job count), for a step that times a whole restore as one."""
        return "; ".join(
            s.detail for s in self.steps if s.name.startswith("restore-db ") and s.detail
        )
