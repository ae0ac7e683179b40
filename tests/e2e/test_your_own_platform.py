"""docs/your-own-platform.md, followed step by step as a new user would: the guide's
own fenced blocks are the test (files written, commands run in order, exit codes as
the guide says), on a fresh git repo, against real PostgreSQL, Redis and S3 servers
started here in place of the user's."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from stategate.sandbox.services import point_policy_at, production_services
from stategate.workspace import open_workspace
from tests.conftest import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "your-own-platform.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.M | re.S)
EXPECT = re.compile(r"\s+#\s*exits (\d+)\b.*$")

pytestmark = pytest.mark.integration


@dataclass
class Step:
    kind: str  # "file" or "sh"
    text: str
    path: str | None = None


def guide_steps(text: str) -> list[Step]:
    steps = []
    for lang, info, body in BLOCK.findall(text):
        match = re.search(r"\bfile=(\S+)", info)
        if match:
            steps.append(Step("file", body, match.group(1)))
        elif lang == "sh":
            steps.append(Step("sh", body))
    return steps


def test_the_guide_has_the_steps_a_newcomer_needs() -> None:
    steps = guide_steps(GUIDE.read_text(encoding="utf-8"))
    commands = "\n".join(s.text for s in steps if s.kind == "sh")
    for needed in (
        "git init",
        "stategate keys init --role evidence",
        "stategate classify",
        "stategate backup",
        "stategate restore-drill",
        "stategate evidence verify",
        "stategate check --base main",
    ):
        assert needed in commands, needed
    assert [s.path for s in steps if s.kind == "file"] == ["compose/data.yml", "stategate.yaml"]
    assert "your-own-platform.md" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_following_the_guide_on_a_fresh_repo(tmp_path: Path) -> None:
    repo = tmp_path / "my-platform"
    repo.mkdir()
    shim = tmp_path / "bin" / "stategate"  # `stategate` on PATH is this checkout's
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m stategate "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = guide\n\temail = guide@example.test\n[commit]\n\tgpgsign = false\n",
        encoding="utf-8",
    )
    extra = {
        "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "HOME": str(tmp_path / "home"),  # `~` in the guide never reaches a real home
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    outputs: list[str] = []
    credentials: set[str] = set()
    with ExitStack() as stack:
        for step in guide_steps(GUIDE.read_text(encoding="utf-8")):
            if step.kind == "file":
                assert step.path is not None
                target = repo / step.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(step.text, encoding="utf-8")
                if step.path == "stategate.yaml":
                    # the user's servers: real ones on free ports, seeded, with fresh
                    # credentials exported under the names the guide's policy gives
                    opened = open_workspace(repo)
                    services = stack.enter_context(
                        production_services(opened.evidence_sources(), majors=opened.image_majors())
                    )
                    credentials = set(services.env)
                    secrets = services.secrets()
                    target.write_text(
                        point_policy_at(step.text, services.sources, "stategate.yaml"),
                        encoding="utf-8",
                    )
                continue
            for line in step.text.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if line.startswith("export "):
                    for name, _, value in (w.partition("=") for w in shlex.split(line)[1:]):
                        if name in credentials:
                            assert value == "...", f"the guide shows a value for {name}"
                        else:  # a folder: somewhere under this test's tmp
                            extra[name] = str(tmp_path / name.lower())
                    continue
                expected = 0
                match = EXPECT.search(line)
                if match:
                    expected = int(match.group(1))
                    line = line[: match.start()]
                done = subprocess.run(
                    ["bash", "-c", line],
                    cwd=repo,
                    env={**os.environ, **extra},
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                outputs.append(done.stdout + done.stderr)
                assert done.returncode == expected, (
                    f"{line!r} exited {done.returncode}, the guide says {expected}:\n"
                    f"{done.stdout}\n{done.stderr}"
                )
        assert credentials, "the guide never wrote stategate.yaml"
        # every credential the guide exported came from the environment, none was written
        missing = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
        assert missing <= credentials
        for secret in secrets:  # in no tracked file, nor in any output
            tracked = subprocess.run(
                ["git", "-C", str(repo), "grep", "-I", "-l", "-F", "-e", secret],
                capture_output=True,
                text=True,
                env={**os.environ, **extra},
            )
            assert tracked.returncode == 1 and tracked.stdout == ""
        assert not any(secret in out for secret in secrets for out in outputs)
    # what the guide promised: evidence in the repo, a blocked PR naming its needs
    assert list((repo / "evidence").rglob("*backup*"))
    assert "verdict: blocked" in outputs[-1]
    assert "missing" in outputs[-1]
