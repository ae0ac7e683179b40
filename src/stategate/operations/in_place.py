"""A PostgreSQL major upgrade rehearsed the way the operator will run it: ``pg_upgrade``.

The drilled backup is restored into a cluster of the **source** major, initialised with
the settings production reported at backup time (checksums, encoding, locale, WAL
segment size). The target's ``pg_upgrade --check`` runs first against a new cluster
made by the target's *default* ``initdb`` (what an operator gets by default: PostgreSQL
18 enables data checksums, so a cluster without them is refused), then against one made
with the flags derived from the old cluster's ``pg_controldata`` and ``template1``; those
flags go into the runbook. Then the real ``pg_upgrade --link``, the new cluster started,
its content fingerprinted against the backup, the smoke contract, and
``vacuumdb --analyze-in-stages`` (after ``pg_upgrade`` the planner has no statistics).
Each is a timed step of the rehearsal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from stategate import execute
from stategate.engines import Catalogue, discover
from stategate.evidence.records.predicates import InPlaceUpgrade
from stategate.evidence.records.steps import StepClock
from stategate.operations.context import ModuleContext
from stategate.operations.drill import DrillOutcome, judge
from stategate.providers.base import StoredBackup
from stategate.providers.fingerprint import compare
from stategate.providers.postgres import PostgresProvider, pg_version
from stategate.sandbox.pg_upgrade import UpgradeSandbox, initdb_flags, settings_from
from stategate.smoke.checks import run_checks

_TEMPLATE1 = (
    "SELECT to_jsonb(d) || jsonb_build_object('encoding_name', pg_encoding_to_char(d.encoding))"
    " FROM pg_database d WHERE d.datname = 'template1'"
)


class StepDetail(Protocol):
    failed: bool

    def append(self, text: str) -> None: ...


StepFactory = Callable[[str], AbstractContextManager[StepDetail]]


def major_of(version: str) -> int:
    return int(pg_version(version).split(".")[0])


def rehearse_in_place(
    ctx: ModuleContext,
    source: PostgresProvider,
    stored: StoredBackup,
    *,
    source_version: str,
    target_major: int,
    production: dict[str, str],
    step: StepFactory,
    outcome: DrillOutcome,
    catalogue: Catalogue | None = None,
) -> InPlaceUpgrade:
    """Run the in-place steps; failures go into ``outcome`` (and the step), never pass."""
    engines = catalogue or discover(engines=["postgresql"])
    old_major = major_of(source_version)
    old_bin = engines.require("postgresql", str(old_major)).path
    new_bin = engines.require("postgresql", str(target_major)).path
    superuser = source.access.user
    found = InPlaceUpgrade(source_version=source_version)
    with UpgradeSandbox(old_bin, new_bin, superuser) as box:
        with step("restore-on-source") as detail:
            like_production = initdb_flags(production, old_major, superuser) if production else []
            box.initdb("old", like_production or ["-U", superuser, "-E", "UTF8", "--locale=C"])
            access = box.start("old")
            old = PostgresProvider.restored(access, stored.fingerprint)
            inner = StepClock()
            old.load(stored, inner)
            detail.append(inner.restore_detail())
            with old.connect("postgres") as conn:
                row = conn.execute(_TEMPLATE1).fetchone()
            template1 = row[0] if row and isinstance(row[0], dict) else {}
            box.stop("old")
            found.settings = settings_from(box.controldata("old"), template1)
            detail.append(
                f"restored on {old_major} into a cluster initialised "
                + ("like production" if production else "with defaults (backup has no settings)")
            )
        with step("upgrade-check-defaults") as detail:
            # the target's own default initdb, keeping production's encoding and locale
            defaults = ["-U", superuser, "-E", found.settings.get("encoding", "UTF8")]
            defaults += [f"--lc-collate={found.settings.get('lc_collate', 'C')}"]
            defaults += [f"--lc-ctype={found.settings.get('lc_ctype', 'C')}"]
            box.initdb("new", defaults)
            check = box.pg_upgrade(check=True)
            found.default_check = "compatible" if check.ok else check.detail
            # a finding the derived flags resolve (the runbook's), not a failed rehearsal
            detail.failed = not check.ok
            detail.append(
                "the target's default initdb is compatible"
                if check.ok
                else f"with the target's default initdb: {check.detail} (the derived flags "
                "avoid it)"
            )
        found.initdb_flags = initdb_flags(found.settings, target_major, superuser)
        with step("upgrade-check") as detail:
            box.initdb("new", found.initdb_flags)
            check = box.pg_upgrade(check=True)
            detail.append(f"initdb {' '.join(found.initdb_flags)}: {check.detail}")
            if not check.ok:
                detail.failed = True
                outcome.failed("fail", f"pg_upgrade --check refuses the upgrade: {check.detail}")
                return found
        with step("upgrade-in-place") as detail:
            done = box.pg_upgrade(check=False, link=True)
            detail.append(done.detail)
            if not done.ok:
                detail.failed = True
                outcome.failed("fail", f"pg_upgrade failed: {done.detail}")
                return found
            upgraded = PostgresProvider.restored(box.start("new"), stored.fingerprint)
            found.target_version = upgraded.server_version()
            found.fingerprint = compare(
                stored.fingerprint, upgraded.fingerprint(), now_ms=int(time.time() * 1000)
            )
            found.smoke = run_checks(ctx.smoke, upgraded.smoke_target("sandbox"), source.secrets())
            upgraded_outcome = DrillOutcome(comparison=found.fingerprint, smoke=found.smoke)
            judge(upgraded_outcome)
            if upgraded_outcome.result != "pass":
                detail.failed = True
                outcome.failed(
                    upgraded_outcome.result, f"after pg_upgrade: {upgraded_outcome.reason}"
                )
            else:
                detail.append(f"content matches the backup on {found.target_version}")
        with step("analyze") as detail:
            execute.run(
                [
                    str(new_bin / "vacuumdb"),
                    *upgraded.connection_args(),
                    "--all",
                    "--analyze-in-stages",
                ],
                env=upgraded.access.env(),
                timeout=None,
            )
            detail.append("vacuumdb --all --analyze-in-stages (the planner has no statistics)")
    return found
