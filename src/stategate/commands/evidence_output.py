"""Shared options and printing for the evidence commands (backup, restore-drill, smoke)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stategate import terminal
from stategate.commands.options import F, repo_option
from stategate.errors import ExitCode
from stategate.evidence.records.artifact import Progress as ProgressSink
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    ModulePredicate,
    RehearsalPredicate,
    RehearsalStep,
)
from stategate.evidence.records.typed import StoredRecord
from stategate.evidence.trust.signer import load_evidence_key
from stategate.operations.context import ModuleContext, ProgressFactory, no_progress
from stategate.operations.module import module_context
from stategate.workspace import open_workspace

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

JSON_SCHEMA_VERSION = 1


def key_option(func: F) -> F:
    return click.option(
        "--key",
        "key_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Evidence signing key (default: $STATEGATE_EVIDENCE_KEY, else the one "
        "evidence-*.key in $STATEGATE_KEYS or ~/.config/stategate/keys).",
    )(func)


def evidence_options(func: F) -> F:
    func = click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
    )(func)
    func = key_option(func)
    func = click.option(
        "--artifacts",
        type=click.Path(file_okay=False, path_type=Path),
        help="Artifacts folder outside git (default: $STATEGATE_ARTIFACTS, "
        "then the policy's evidence.artifacts).",
    )(func)
    return repo_option(func)


def engine_option(help: str) -> Callable[[F], F]:
    """``--engine``: the sandbox engine; each command says what its default is."""
    return click.option("--engine", type=click.Choice(["local", "docker"]), help=help)


def evidence_context(
    repo: Path, module: str, *, key_path: Path | None, artifacts: Path | None, fmt: str
) -> ModuleContext:
    """The module's context from the evidence options: the chosen key, the artifacts
    folder, and a progress bar only where ``fmt`` and the terminal allow one."""
    return module_context(
        open_workspace(repo),
        module,
        key=load_evidence_key(key_path),
        artifacts=artifacts,
        progress=progress_factory(fmt),
    )


class _Bar:
    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress, self._task = progress, task

    def advance(self, nbytes: int) -> None:
        self._progress.advance(self._task, nbytes)


def progress_factory(fmt: str) -> ProgressFactory:
    """A rich progress bar on an interactive stderr; nothing in CI, pipes, JSON mode or
    with --quiet."""
    if fmt == "json" or not terminal.progress_allowed():
        return no_progress

    @contextmanager
    def bar(label: str, total: int | None) -> Iterator[ProgressSink]:
        # rich only when a bar is shown: a JSON or piped run (CI, a bench) never pays for it
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=terminal.console(stderr=True), transient=True) as progress:
            yield _Bar(progress, progress.add_task(label, total=total))

    factory: Callable[[str, int | None], AbstractContextManager[ProgressSink]] = bar
    return factory


def report(record: StoredRecord, fmt: str) -> int:
    """Print one module record's outcome; the exit code says whether it passed."""
    pred = record.module_predicate()
    return report_record(record, pred, fmt, lambda console: _print_module(console, pred))


def report_record(
    record: StoredRecord,
    pred: ModulePredicate | DrDrillPredicate,
    fmt: str,
    body: Callable[[Console], None],
) -> int:
    """Print any evidence record: the versioned JSON envelope, or ``body`` followed by
    the reason, the record path and its signer. The exit code says whether it passed."""
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "schema_version": JSON_SCHEMA_VERSION,
                    "kind": pred.kind,
                    "result": pred.result,
                    "record": record.rel,
                    "record_sha256": record.sha256,
                    "signer": {"keyid": record.signer.keyid, "name": record.signer.name},
                    "statement": record.statement.to_json_obj(),
                },
                indent=2,
            )
        )
    else:
        console = terminal.console()
        body(console)
        if pred.reason:
            console.print(f"  reason: {pred.reason}", markup=False)
        console.print(f"  record: {record.rel}", markup=False)
        console.print(f"  signed by {_signer_text(record)}; ledgered", markup=False)
    return int(ExitCode.OK if pred.result == "pass" else ExitCode.BLOCKED)


def _step_lines(steps: list[RehearsalStep]) -> list[str]:
    """Where a drill's time went: one line per step, with its share of the total."""
    total = sum(s.duration_s for s in steps)
    if not steps:
        return []
    lines = [f"steps: {total:.1f} s in all"]
    for s in steps:
        share = f", {s.duration_s / total:.0%}" if total > 0 else ""
        status = "" if s.result == "pass" else f" {s.result}"
        lines.append(f"  {s.name}: {s.duration_s:.2f} s{share}{status}")
    return lines


def _signer_text(record: StoredRecord) -> str:
    return f"{record.signer.name or 'unknown'} ({record.signer.keyid})"


def _print_module(console: Console, pred: ModulePredicate) -> None:
    colour = {"pass": "green", "fail": "red", "error": "red"}[pred.result]
    console.print(f"[bold]{pred.kind}[/] {pred.module}: [{colour}]{pred.result}[/]")
    for line in _details(pred):
        console.print(f"  {line}", markup=False)


def _details(pred: ModulePredicate) -> list[str]:
    lines = [f"server: {pred.source.server_version or 'unknown'} at {pred.source.address}"]
    if isinstance(pred, BackupPredicate):
        lines.append(
            f"backup id: {pred.backup_id} ({pred.total_size} bytes, "
            f"{len(pred.artifacts)} artifact(s))"
        )
        if pred.fingerprint:
            lines.append(
                f"fingerprint: {pred.fingerprint.items} item(s) in "
                f"{len(pred.fingerprint.groups)} group(s), "
                f"{'one snapshot' if pred.consistent else pred.note}"
            )
        if pred.copies:
            sealed = ""
            if pred.encryption is not None:
                sealed = f", age-encrypted to {len(pred.encryption.recipients)} recipient(s)"
            lines.append(
                "stored in: "
                + "; ".join(f"{c.repository} ({c.type} {c.where})" for c in pred.copies)
                + sealed
            )
        lines += [f"finding: {f}" for f in pred.findings]
    elif isinstance(pred, DrillPredicate):
        lines.append(f"backup id: {pred.backup_id}; artifacts verified: {pred.artifacts_verified}")
        if pred.read_from is not None:
            lines.append(f"read back from: {pred.read_from.repository} ({pred.read_from.where})")
        engine = pred.engine
        lines.append(
            f"engine: {engine.name} ({engine.version or 'n/a'})"
            + ("" if engine.available else " unavailable: " + engine.detail)
        )
        if pred.sandbox:
            lines.append(f"sandbox: {pred.sandbox.server_version} at {pred.sandbox.address}")
        if pred.fingerprint:
            fp = pred.fingerprint
            lines.append(
                f"fingerprint: {'match' if fp.match else 'MISMATCH'} "
                f"({fp.expected.items} expected, {fp.observed.items} restored)"
            )
            lines += [f"  {e}" for e in fp.examples]
        lines += [f"smoke {o.name}: {o.result} {o.detail}" for o in pred.smoke]
        lines += _step_lines(pred.steps)
        lines += [f"the backup's finding: {f}" for f in pred.findings]
    elif isinstance(pred, RehearsalPredicate):
        lines.append(
            f"packet {pred.packet}: {pred.source.server_version or '?'} -> "
            f"{pred.target_version or '?'} ({pred.target_image}), backup {pred.backup_id}"
        )
        lines += [
            f"step {s.name}: {s.result} ({s.duration_s:.1f} s) {s.detail}".rstrip()
            for s in pred.steps
        ]
        if pred.fingerprint:
            fp = pred.fingerprint
            lines.append(f"fingerprint: {'match' if fp.match else 'MISMATCH'}")
            lines += [f"  {e}" for e in fp.examples]
        lines += [f"smoke {o.name}: {o.result} {o.detail}" for o in pred.smoke]
        lines.append(f"rollback: {pred.rollback.kind}: {pred.rollback.detail}")
    else:
        lines.append(
            f"target: {pred.target}" + (f" (backup {pred.backup_id})" if pred.backup_id else "")
        )
        lines += [f"{o.name}: {o.result} {o.detail}" for o in pred.checks]
    return lines
