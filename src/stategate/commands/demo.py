"""``stategate demo``: the main job, end to end, on the bundled example platform.

Self-contained: it copies the example platform into a temporary git repo,
creates demo signing keys, starts and seeds stand-in "production" postgres,
redis and S3 servers on loopback, opens an upgrade branch, and runs the real
CLI at every step (each command is printed before its output). Everything it
started is stopped on exit; the repo and reports stay for reading.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stategate import execute, terminal
from stategate.example import example_root

if TYPE_CHECKING:
    from rich.console import Console

PG_FROM = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
# The upgrade the demo proposes: a minor postgres release, pinned by digest.
PG_TO = (
    "postgres:16.6-alpine@sha256:3d4b8a9c1e7f2a6b5c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
)
PACKET_ID = "w8-postgres-16-6"
STATEFUL = ("platform/postgres", "platform/redis", "platform/minio")
PACKET = f"""\
id: {PACKET_ID}
title: postgres 16.4 -> 16.6 (minor, same data format)
modules:
  - module: platform/postgres
    from: {PG_FROM}
    to: {PG_TO}
    rollback:
      to: {PG_FROM}
      needs_restore: false
      note: A minor release keeps the on-disk format; re-pinning 16.4 is enough.
allowed_paths:
  - compose/postgres.yml
  - packets/{PACKET_ID}.yaml
"""


# The major upgrades the demo rehearses (never applies): postgres 16 -> 18 in place, and
# redis -> valkey (a move to another image repository, treated like a major upgrade).
PG_MAJOR = "postgres:18.1-alpine@sha256:" + "5e" * 32
REDIS_FROM = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
VALKEY = "valkey/valkey:8.1.1-alpine@sha256:" + "7a" * 32
MAJOR_PACKETS = {
    "w8-postgres-18": ("platform/postgres", "compose/postgres.yml", PG_FROM, PG_MAJOR),
    "w8-redis-to-valkey": ("platform/redis", "compose/redis.yml", REDIS_FROM, VALKEY),
}


def _major_packet(packet_id: str, module: str, compose: str, old: str, new: str) -> str:
    return f"""\
id: {packet_id}
title: "{old.split("@")[0]} -> {new.split("@")[0]}, a major upgrade"
modules:
  - module: {module}
    from: {old}
    to: {new}
    rollback:
      to: {old}
      needs_restore: true
    migration_note: rehearsed with `stategate rehearse`; see the plan
allowed_paths:
  - {compose}
  - packets/{packet_id}.yaml
"""


class _Demo:
    def __init__(self, console: Console, workdir: Path) -> None:
        self.console = console
        self.workdir = workdir
        self.repo = workdir / "platform"
        self.reports = workdir / "reports"
        self.extra_env = {
            "STATEGATE_KEYS": str(workdir / "keys"),
            "STATEGATE_ARTIFACTS": str(workdir / "artifacts"),
        }
        if console.is_terminal:  # the steps' output is shown in this terminal: its width
            self.extra_env["COLUMNS"] = os.environ.get("COLUMNS", str(console.width))
        self.secrets: list[str] = []
        self.outputs: list[tuple[str, bytes]] = []  # each step's raw output, for the leak check

    @property
    def env(self) -> dict[str, str]:
        # read at each call: the stand-in services export their credentials into os.environ
        return {**os.environ, **self.extra_env}

    def step(self, title: str) -> None:
        if self.console.is_terminal:
            self.console.rule(f"[bold]{title}")
        else:  # a rule would be as wide as a pipe's console
            self.console.print(f"== {title} ==", highlight=False, markup=False)

    def git(self, *args: str) -> None:
        execute.run(["git", "-C", str(self.repo), *args], env=self.env)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def sg(self, *args: str, expect: Sequence[int] = (0,), save: str | None = None) -> str:
        shown = "stategate " + " ".join(args)
        self.console.print(f"[cyan]$ {shown}[/]", highlight=False)
        done = execute.run(
            [sys.executable, "-m", "stategate", *args],
            env=self.env,
            cwd=self.repo,
            secrets=self.secrets,
            check=False,
        )
        self.outputs.append((shown, done.stdout + b"\n" + done.stderr))
        out = execute.mask(done.text() + done.stderr.decode("utf-8", "replace"), self.secrets)
        if save:
            (self.reports / save).write_text(done.text(), encoding="utf-8")
            self.console.print(f"  (written to reports/{save})")
        else:
            # the step's own lines, unwrapped: a fingerprint or file:line stays whole
            self.console.print(out.rstrip(), highlight=False, markup=False, soft_wrap=True)
        if done.returncode not in expect:
            raise click.ClickException(
                f"demo step failed: {shown} exited {done.returncode}\n{out.strip()}"
            )
        return out


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the demo platform and its reports (default: a new temporary folder).",
)
def command(out: Path | None) -> int:
    """Run stategate's whole chain on a copy of the bundled example platform."""
    from stategate.sandbox.services import point_policy_at, production_services
    from stategate.workspace import open_workspace

    console = terminal.console()
    workdir = (out or Path(tempfile.mkdtemp(prefix="stategate-demo-"))).resolve()
    demo = _Demo(console, workdir)
    if demo.repo.exists():
        shutil.rmtree(demo.repo)
    for folder in ("keys", "artifacts", "reports"):
        shutil.rmtree(workdir / folder, ignore_errors=True)
    demo.reports.mkdir(parents=True)
    shutil.copytree(example_root(), demo.repo)
    demo.git("init", "-q", "-b", "main")
    demo.git("config", "user.email", "demo@example.test")
    demo.git("config", "user.name", "stategate demo")
    demo.git("config", "commit.gpgsign", "false")

    demo.step("0. The platform repo, its signing keys and its stand-in production services")
    demo.sg("keys", "init", "--role", "evidence", "--name", "demo-host")
    demo.sg("keys", "init", "--role", "operator", "--name", "demo-operator")
    identity = _backup_recipients(demo)
    demo.commit("platform with trust roots")
    opened = open_workspace(demo.repo)
    with production_services(opened.evidence_sources(), majors=opened.image_majors()) as services:
        demo.secrets = [*services.secrets(), identity]
        console.print(
            "started and seeded: "
            + ", ".join(f"{m} ({type(a).__name__})" for m, a in services.access.items())
        )
        # the stand-ins took free ports: the platform's evidence entries point at them
        policy = demo.repo / "stategate.yaml"
        policy.write_text(
            point_policy_at(policy.read_text(), services.sources, "stategate.yaml"),
            encoding="utf-8",
        )
        demo.commit("evidence entries point at the stand-in services")
        _chain(demo)
        _major_rehearsals(demo)
        _leak_check(demo)
    demo.step("Done")
    console.print(
        f"platform repo: {demo.repo}\nreports:       {demo.reports}\n"
        "Stand-in services stopped; nothing else is left running.",
        highlight=False,
    )
    return 0


def _backup_recipients(demo: _Demo) -> str:
    """The operators' age key: its public half in the repo (backups are encrypted to it),
    the identity only in the environment of the commands that restore."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    recipients = demo.repo / "trust" / "backup-recipients.txt"
    recipients.write_text(
        "# the operators' age public keys: every backup part is encrypted to these\n"
        f"{identity.to_public()}\n",
        encoding="utf-8",
    )
    demo.extra_env["STATEGATE_AGE_IDENTITY"] = str(identity)
    demo.console.print(
        "backups go to minio's backups bucket and a folder on the host, age-encrypted to "
        "trust/backup-recipients.txt; the identity that decrypts them is only in "
        "$STATEGATE_AGE_IDENTITY",
        highlight=False,
    )
    return str(identity)


def _chain(demo: _Demo) -> None:
    demo.step("1. Know the platform")
    demo.sg("classify")
    demo.sg("doc", "-o", str(demo.reports / "W8-stateful-sidecar-gate.md"))

    demo.step("2. An agent opens an upgrade PR: postgres 16.4 -> 16.6")
    demo.git("checkout", "-q", "-b", "upgrade/postgres-16.6")
    compose = demo.repo / "compose" / "postgres.yml"
    compose.write_text(compose.read_text().replace(PG_FROM, PG_TO))
    demo.commit("postgres 16.6")
    demo.sg("check", "--base", "main", expect=(1,))

    demo.step("3. Evidence of what runs now (main), then the packet on the PR branch")
    demo.console.print(
        "Backups, drills and smoke runs are taken of the deployed revision: the evidence "
        "binds the digest running today, not the upgrade target."
    )
    demo.git("checkout", "-q", "main")
    for module in STATEFUL:
        demo.sg("backup", module)
    demo.console.print(
        "Every part is in both repositories, encrypted; the drills read them back from "
        "minio's bucket (the first repository) and verify every byte."
    )
    demo.sg("repo", "check")
    for module in STATEFUL:
        demo.sg("restore-drill", module)
    for module in STATEFUL:
        demo.sg("smoke", module, "--target", "source")
    demo.sg("dr-drill")
    demo.git("checkout", "-q", "upgrade/postgres-16.6")  # the new records come along, untracked
    (demo.repo / "packets").mkdir(exist_ok=True)
    (demo.repo / "packets" / f"{PACKET_ID}.yaml").write_text(PACKET)
    demo.console.print(
        "The upgrade rehearsed on its target version with the backup the drill verified "
        "(a minor change: the restore on 16.6 must read back the same content)."
    )
    demo.sg("rehearse", "platform/postgres", "--packet", f"packets/{PACKET_ID}.yaml")
    demo.commit("packet and evidence for postgres 16.6")
    demo.sg("check", "--base", "main")
    demo.sg("check", "--base", "main", "--format", "markdown", save="pr-comment.md")
    demo.sg("check", "--base", "main", "--format", "sarif", save="check.sarif")

    demo.step("4. Merging never authorises an apply: the apply stage is still blocked")
    demo.sg("check", "--base", "main", "--stage", "apply", expect=(1,))

    demo.step("5. The operator approves the exact digests and evidence")
    demo.sg("approve", f"packets/{PACKET_ID}.yaml", "--role", "operator", "--base", "main")
    demo.commit("operator approval")
    demo.sg("check", "--base", "main", "--stage", "apply")
    demo.sg("check", "--base", "main", "--stage", "apply", "--format", "json", save="apply.json")
    demo.sg("evidence", "verify")
    demo.sg("plan", f"packets/{PACKET_ID}.yaml", "-o", str(demo.reports / "apply-plan.md"))
    demo.sg("prune", "--keep-last", "1")  # a dry run: what is kept, and why


def _major_rehearsals(demo: _Demo) -> None:
    demo.step("6. Major upgrades are rehearsed on the target version before anyone applies them")
    demo.console.print(
        "postgres 16 -> 18: the drilled backup restored into 18, and the in-place path "
        "(pg_upgrade) from a 16 cluster initialised like production: 18's default initdb "
        "enables data checksums, which the 16 cluster lacks; the rehearsal finds it and "
        "derives the initdb flags the runbook gives. redis -> valkey 8.1: the backup loads "
        "forward; whether 7.0 can read what valkey writes decides the rollback."
    )
    for packet_id, (module, compose, old, new) in MAJOR_PACKETS.items():
        demo.git("checkout", "-q", "main")
        demo.git("checkout", "-q", "-b", f"upgrade/{packet_id}")
        # the evidence of what runs (taken in step 3, committed with the first PR)
        demo.git("checkout", "upgrade/postgres-16.6", "--", "evidence")
        path = demo.repo / compose
        path.write_text(path.read_text().replace(old, new))
        (demo.repo / "packets").mkdir(exist_ok=True)
        packet = f"packets/{packet_id}.yaml"
        (demo.repo / packet).write_text(_major_packet(packet_id, module, compose, old, new))
        demo.commit(f"{module}: {new.split('@')[0]}")
        demo.sg("rehearse", module, "--packet", packet)
        demo.commit(f"rehearsal of {packet_id}")
        demo.sg("plan", packet, "--base", "main", "-o", str(demo.reports / f"{packet_id}-plan.md"))
        demo.sg("check", "--base", "main", "--stage", "apply", expect=(1,))
    demo.git("checkout", "-q", "upgrade/postgres-16.6")  # the approved PR, as step 5 left it


def _leak_check(demo: _Demo) -> None:
    """No seeded credential in any step's raw output (before the demo's own masking),
    report, file of the platform repo, evidence record or signed payload, or the ledger."""
    from stategate import leaks

    demo.step("7. No seeded secret anywhere")
    files = leaks.files_under(demo.repo) + leaks.files_under(demo.reports)
    found = [
        leak
        for label, data in demo.outputs
        for leak in leaks.find_in_bytes(label, data, demo.secrets)
    ]
    found += leaks.find_in_files(files, demo.secrets)
    documents = sum(1 for f in files if f.suffix in (".json", ".jsonl", ".sarif"))
    if found:
        raise click.ClickException(
            "demo: a seeded secret leaked: " + "; ".join(str(leak) for leak in found)
        )
    demo.console.print(
        f"leak check: {len(demo.secrets)} seeded secrets, searched plain and encoded in "
        f"{len(demo.outputs)} command outputs and {len(files)} files ({documents} JSON "
        "documents, base64 payloads decoded): none found",
        highlight=False,
    )
