"""The registry of CLI commands: one module per command, listed explicitly.

Each entry is a typed loader that imports its module only when that command
runs, so ``stategate check`` does not pay for importing the database and S3
client libraries that ``backup`` needs.
"""

from __future__ import annotations

from collections.abc import Callable

import click


def _check() -> click.Command:
    from stategate.commands import check

    return check.command


def _classify() -> click.Command:
    from stategate.commands import classify

    return classify.command


def _config() -> click.Command:
    from stategate.commands import config

    return config.command


def _doc() -> click.Command:
    from stategate.commands import doc

    return doc.command


def _policy() -> click.Command:
    from stategate.commands import policy

    return policy.command


def _backup() -> click.Command:
    from stategate.commands import backup

    return backup.command


def _restore_drill() -> click.Command:
    from stategate.commands import restore_drill

    return restore_drill.command


def _smoke() -> click.Command:
    from stategate.commands import smoke

    return smoke.command


def _dr_drill() -> click.Command:
    from stategate.commands import dr_drill

    return dr_drill.command


def _keys() -> click.Command:
    from stategate.commands import keys

    return keys.command


def _evidence() -> click.Command:
    from stategate.commands import evidence

    return evidence.command


def _approve() -> click.Command:
    from stategate.commands import approve

    return approve.command


def _plan() -> click.Command:
    from stategate.commands import plan

    return plan.command


def _demo() -> click.Command:
    from stategate.commands import demo

    return demo.command


def _rehearse() -> click.Command:
    from stategate.commands import rehearse

    return rehearse.command


def _prune() -> click.Command:
    from stategate.commands import prune

    return prune.command


def _repo() -> click.Command:
    from stategate.commands import repo

    return repo.command


def _engines() -> click.Command:
    from stategate.commands import engines

    return engines.command


def _publish() -> click.Command:
    from stategate.commands import publish

    return publish.command


def _status() -> click.Command:
    from stategate.commands import status

    return status.command


def _schema() -> click.Command:
    from stategate.commands import schema

    return schema.command


def _docs_lint() -> click.Command:
    from stategate.commands import docs_lint

    return docs_lint.command


def _renovate() -> click.Command:
    from stategate.commands import renovate

    return renovate.command


COMMANDS: dict[str, Callable[[], click.Command]] = {
    "check": _check,
    "classify": _classify,
    "config": _config,
    "doc": _doc,
    "policy": _policy,
    "backup": _backup,
    "restore-drill": _restore_drill,
    "smoke": _smoke,
    "dr-drill": _dr_drill,
    "keys": _keys,
    "evidence": _evidence,
    "approve": _approve,
    "plan": _plan,
    "demo": _demo,
    "engines": _engines,
    "rehearse": _rehearse,
    "repo": _repo,
    "prune": _prune,
    "publish": _publish,
    "status": _status,
    "schema": _schema,
    "docs-lint": _docs_lint,
    "renovate": _renovate,
}


# Each command's summary for `stategate --help` (its help's first sentence), so listing
# the commands imports none of them: tests/unit/test_cli_startup.py checks each one.
SUMMARIES: dict[str, str] = {
    "check": "Judge the pull request base..head: changes, requirements, stops, verdict, labels.",
    "classify": "Classify every module of the platform (classes, tier, reasons): compose services and Kubernetes workloads.",
    "config": "Print the resolved compose model (interpolated, merged, extends and include applied).",
    "doc": "Render the gate document (Markdown) from the policy in force.",
    "policy": "The policy file (stategate.yaml): its JSON Schema, validation, the policy in force.",
    "backup": "Back up MODULE (artifact outside git, evidence record in the repo).",
    "restore-drill": "Verify MODULE's backup, restore it into a sandbox, compare content, run smoke.",
    "smoke": "Run MODULE's smoke checks (each with its timeout) against source or sandbox.",
    "dr-drill": "Restore the newest backups of every stateful module together, verify, smoke, record.",
    "keys": "Manage the keys that sign evidence and approvals.",
    "evidence": "Work with the evidence records of a platform repo.",
    "approve": "Approve the runtime apply of PACKET_FILE, bound to its exact image digests.",
    "plan": "Render the apply runbook for PACKET: operator-gated steps, evidence, smoke, rollback.",
    "demo": "Run stategate's whole chain on a copy of the bundled example platform.",
    "engines": "List the PostgreSQL, Redis, Valkey and SeaweedFS builds that drills and rehearsals can run on: engine, version, major, where each came from, and its path.",
    "rehearse": "Rehearse PACKET's upgrade of MODULE with the backup its drill verified: restore on the target version, compare content, run smoke, and find the rollback path.",
    "repo": "Backup repositories: what they hold against what the evidence records.",
    "prune": "Delete backups no retention rule keeps and nothing relies on: a live approval, an open packet's drill or rehearsal, the newest passing DR drill, the newest passing backup of a module.",
    "publish": "Post the verdict to the pull request: one comment (updated in place), the verdict's labels (stale merge/, risk/ and class/ labels removed, others untouched) and a commit status named `stategate`.",
    "status": "Show every module's classes and the age of its backup, restore drill, rehearsal, smoke run and DR drill against the policy's freshness limits.",
    "schema": "Print the JSON Schema (Draft 2020-12) of a versioned output.",
    "docs-lint": "Lint Markdown FILES (repo-relative): runtime instructions outside operator-gated blocks.",
    "renovate": "Print the Renovate configuration the classification implies: pinned digests, the platform's compose files for the docker-compose manager, and one package rule per image (gated modules held for approval and never automerged, a sidecar grouped with its parent, our labels).",
}


class LazyGroup(click.Group):
    """A group whose subcommands come from :data:`COMMANDS`, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        loader = COMMANDS.get(cmd_name)
        return loader() if loader else None
