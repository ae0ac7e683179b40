"""Terminal manners, tried the way a user meets them: real processes, real pipes, a real
pseudo-terminal (``pty``), exit codes and which stream says what."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO_ROOT
from tests.gitrepo import Repo, platform_repo

SRC = REPO_ROOT / "src"
ANSI = re.compile(r"\x1b\[")
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def coloured(text: str) -> bool:
    """Any foreground or background colour (bold or italic alone is not colour)."""
    for match in SGR.finditer(text):
        for param in filter(None, match.group(1).split(";")):
            if 30 <= int(param) <= 49 or 90 <= int(param) <= 107:
                return True
    return False


def _env(**extra: str) -> dict[str, str]:
    unset = ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "CI")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update({"PYTHONPATH": str(SRC), "TERM": "xterm-256color", **extra})
    return env


def sg(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_pty(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """Run with stdout and stderr on a real pseudo-terminal; return (exit code, output)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stategate", *args],
        cwd=cwd,
        env=_env(COLUMNS="80", **env),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError("no output from the pty in 60 s")
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def blocked_pr(tmp_path: Path) -> Repo:
    """A PR bumping a stateful image without evidence: check says blocked or stop."""
    repo = platform_repo(tmp_path / "platform")
    text = (repo.path / "compose" / "redis.yml").read_text(encoding="utf-8")
    image = re.search(r"image:\s*(\S+)", text)
    assert image is not None
    repo.replace("compose/redis.yml", image.group(1), "redis:7.4.9")
    repo.commit("bump redis")
    return repo


# --- a closed pipe is not a verdict -------------------------------------------------


def test_a_reader_that_leaves_early_keeps_the_verdicts_exit_code(blocked_pr: Repo) -> None:
    full = sg("check", "--base", "main", cwd=blocked_pr.path)
    assert full.returncode in (1, 3), full.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "stategate", "check", "--base", "main"],
        cwd=blocked_pr.path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before a byte is written: every write is EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == full.returncode
    assert "BrokenPipe" not in err and "Exception ignored" not in err
    assert "error" not in err


def test_head_dash_one_in_a_shell_pipeline(tmp_path: Path, blocked_pr: Repo) -> None:
    passing = platform_repo(tmp_path / "passing")
    passing.write("docs/readme.md", "hello\n")
    passing.commit("docs only")
    for repo in (blocked_pr, passing):
        expected = sg("check", "--base", "main", cwd=repo.path).returncode
        done = subprocess.run(
            [
                "bash",
                "-c",
                f'"{sys.executable}" -m stategate check --base main | head -1; '
                'echo "rc=${PIPESTATUS[0]}"',
            ],
            cwd=repo.path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = done.stdout.splitlines()
        assert lines[0].startswith("verdict: ")
        assert lines[-1] == f"rc={expected}"
        assert "Exception ignored" not in done.stderr and "Broken" not in done.stderr
    assert sg("check", "--base", "main", cwd=passing.path).returncode == 0


# --- width and colour ------------------------------------------------------------------


def test_piped_output_is_plain_and_never_split(tmp_path: Path) -> None:
    done = sg("classify", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not ANSI.search(done.stdout)
    doc = json.loads(sg("classify", "--format", "json", str(EXAMPLE), cwd=tmp_path).stdout)
    # every reason's file:line is printed whole, on one line, beside its module
    rows = done.stdout.splitlines()
    for module in doc["modules"]:
        row = next(r for r in rows if f" {module['id']} " in r)
        for reason in module["reasons"][:1]:
            where = f"{reason['file']}:{reason['line']}"
            assert where in row or any(where in r for r in rows), where
    assert max(len(r) for r in rows) > 80  # not cut to 80 columns


def test_an_explicit_columns_is_honoured_in_a_pipe(tmp_path: Path) -> None:
    done = sg("classify", str(EXAMPLE), cwd=tmp_path, COLUMNS="100")
    assert max(len(r) for r in done.stdout.splitlines()) <= 100


def test_force_color_colours_a_pipe_and_no_color_wins_on_a_terminal(blocked_pr: Repo) -> None:
    args, cwd = ("check", "--base", "main"), blocked_pr.path
    assert not coloured(sg(*args, cwd=cwd).stdout)
    assert coloured(sg(*args, cwd=cwd, FORCE_COLOR="1").stdout)
    report = cwd.parent / "report.txt"
    sg(*args, "-o", str(report), cwd=cwd, FORCE_COLOR="1")
    assert "verdict: " in report.read_text() and not ANSI.search(report.read_text())
    code, out = in_pty(*args, cwd=cwd)
    assert code in (1, 3) and coloured(out)
    code, out = in_pty(*args, cwd=cwd, NO_COLOR="1")
    assert code in (1, 3) and not coloured(out) and "verdict: " in out
    code, out = in_pty(*args, cwd=cwd, TERM="dumb")
    assert code in (1, 3) and not coloured(out)


# --- -v and -q, before and after the command ----------------------------------------------


def test_verbose_works_before_and_after_the_command(blocked_pr: Repo) -> None:
    quiet = sg("check", "--base", "main", cwd=blocked_pr.path)
    assert "run: git" not in quiet.stderr
    for args in (("-v", "check", "--base", "main"), ("check", "--base", "main", "-v")):
        done = sg(*args, cwd=blocked_pr.path)
        assert done.returncode == quiet.returncode
        assert "stategate: run: git" in done.stderr
        assert done.stdout == quiet.stdout


def test_quiet_silences_information_but_keeps_warnings(blocked_pr: Repo) -> None:
    report = blocked_pr.path.parent / "report.md"
    loud = sg("check", "--base", "main", "-o", str(report), cwd=blocked_pr.path)
    assert "report written to" in loud.stderr
    for args in (("-q", "check"), ("check", "--quiet")):
        done = sg(*args, "--base", "main", "-o", str(report), cwd=blocked_pr.path)
        assert done.returncode == loud.returncode
        assert done.stderr == ""
    # a warning needs action: --quiet keeps it
    blocked_pr.replace("compose/redis.yml", "redis:7.4.9", "redis:7.4.10")
    done = sg("check", "-q", "--base", "main", cwd=blocked_pr.path)
    assert "warning: uncommitted changes not judged: compose/redis.yml" in done.stderr


def test_global_options_on_a_nested_command(tmp_path: Path) -> None:
    done = sg("evidence", "verify", "--help", cwd=tmp_path)
    assert "-q, --quiet" in done.stdout and "-v, --verbose" in done.stdout


# --- check judges commits, and says so ----------------------------------------------------


def test_check_warns_about_uncommitted_edits(blocked_pr: Repo) -> None:
    clean = sg("check", "--base", "main", cwd=blocked_pr.path)
    assert "uncommitted" not in clean.stderr
    # ignored files are not the PR's
    blocked_pr.write(".gitignore", "*.log\n")
    blocked_pr.commit("ignore logs")
    clean = sg("check", "--base", "main", cwd=blocked_pr.path)
    blocked_pr.write("run.log", "not in the repository\n")
    assert "uncommitted" not in sg("check", "--base", "main", cwd=blocked_pr.path).stderr
    # Markdown (the docs lint) and any added file (the secret scan, forbidden paths) count
    blocked_pr.write("docs/notes.md", "Then run docker compose up -d postgres.\n")
    blocked_pr.write("packets/new.yaml", "id: new\n")
    blocked_pr.replace("stategate.yaml", "\n", "\n# edited\n")
    done = sg("check", "--base", "main", cwd=blocked_pr.path)
    assert done.returncode == clean.returncode and done.stdout == clean.stdout
    warning = [line for line in done.stderr.splitlines() if "uncommitted" in line]
    assert len(warning) == 1
    assert "docs/notes.md, packets/new.yaml, stategate.yaml" in warning[0]
    assert "run.log" not in warning[0]
    assert "commit them" in warning[0]
    # HEAD named by its hash is still the checkout; another revision is not
    head = blocked_pr.git("rev-parse", "HEAD").strip()
    by_hash = sg("check", "--base", "main", "--head", head, cwd=blocked_pr.path)
    assert "uncommitted" in by_hash.stderr
    other = sg("check", "--base", "main", "--head", "main", cwd=blocked_pr.path)
    assert other.returncode == 0 and "uncommitted" not in other.stderr


# --- classify without compose files --------------------------------------------------------


def test_classify_without_compose_files_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = sg("classify", "empty", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("stategate: error: empty: no compose files ")
    assert "-f FILE" in lines[0] and "compose.files" in lines[0]


def test_classify_warnings_go_to_stderr_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "plat").mkdir()
    (tmp_path / "plat" / "compose.yaml").write_text(
        "services:\n  db:\n    image: postgres:16\n    environment:\n"
        "      POSTGRES_PASSWORD: ${DB_PASSWORD}\n",
        encoding="utf-8",
    )
    done = sg("classify", "plat", cwd=tmp_path)
    assert done.returncode == 0
    assert "plat/db" in done.stdout
    assert "warning" not in done.stdout and "DB_PASSWORD" not in done.stdout
    assert "stategate: warning: DB_PASSWORD is not set" in done.stderr
    assert "--env NAME=VALUE" in done.stderr
    config = sg("config", "--repo", "plat", cwd=tmp_path)
    assert config.returncode == 0 and "warning" not in config.stdout
    warned = [line for line in config.stderr.splitlines() if "DB_PASSWORD" in line]
    assert warned and all(line.endswith("--env NAME=VALUE") for line in warned)


# --- start-up stays light -----------------------------------------------------------------

_IMPORTS = """
import sys
from stategate.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
ours = sorted(m for m in sys.modules if m == "stategate" or m.startswith("stategate."))
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("rich", "pydantic", "yaml", "jsonschema", "logging", "json")
)
print(",".join(ours), file=sys.stderr)
print(",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["-h"]])
def test_help_and_version_import_no_command_module(tmp_path: Path, args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip()
    # exactly the entry point, the command table, the console and the errors: no command
    # module, no model, no YAML, not even logging (set up only when a command runs)
    ours, heavy = done.stderr.splitlines()
    assert ours.split(",") == [
        "stategate",
        "stategate.cli",
        "stategate.commands",
        "stategate.errors",
        "stategate.terminal",
    ]
    assert heavy == ""


def test_classify_as_json_imports_no_table_renderer(tmp_path: Path) -> None:
    """The JSON output of the command a bench times on every platform renders no table:
    rich is imported by the table output alone."""
    example = Path(__file__).resolve().parents[2] / "examples/platform"
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS, "classify", str(example), "--format", "json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(done.stdout)["modules"]
    ours, heavy = done.stderr.splitlines()[-2:]
    assert "stategate.report.inventory" in ours.split(",")
    assert "yaml" in heavy.split(",")  # the platform was read: the probe sees its imports
    assert not [m for m in heavy.split(",") if m.split(".")[0] == "rich"]


def test_help_lists_each_commands_own_summary() -> None:
    import click

    from stategate.cli import cli
    from stategate.commands import COMMANDS

    with click.Context(cli) as ctx:
        text = cli.get_help(ctx)
    from stategate.commands import SUMMARIES

    assert list(SUMMARIES) == list(COMMANDS)
    for name, loader in COMMANDS.items():
        # the table --help reads is each command's own first sentence, word for word
        assert SUMMARIES[name] == loader().get_short_help_str(limit=10_000), name
        summary = loader().get_short_help_str(limit=45)
        assert re.search(rf"^  {re.escape(name)}\s+{re.escape(summary[:30])}", text, re.M), name


# --- progress: a person watching a terminal, nobody else -------------------------------------

_PROGRESS = """
import sys, time
from stategate import terminal
from stategate.commands.evidence_output import progress_factory
terminal.set_quiet("quiet" in sys.argv)
with progress_factory("text")("backup data/postgres", 1000) as bar:
    for _ in range(10):
        bar.advance(100)
        time.sleep(0.05)
print("done")
"""


def _progress_in_pty(*args: str, **env: str) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROGRESS, *args],
        env=_env(COLUMNS="100", **env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_only_and_never_with_quiet() -> None:
    assert "backup data/postgres" in _progress_in_pty()
    assert _progress_in_pty("quiet") == ""
    assert _progress_in_pty(CI="true") == ""
    piped = subprocess.run(
        [sys.executable, "-c", _PROGRESS],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stdout == "done\n" and piped.stderr == ""


def test_a_commands_own_short_flag_is_never_shadowed() -> None:
    import click

    from stategate.cli import _with_global_options

    @click.command()
    @click.option("-v", "--version-of", "version_of")
    def own(version_of: str | None) -> None:
        """A command with its own -v."""

    flags = [flag for p in _with_global_options(own).params for flag in p.opts]
    assert flags.count("-v") == 1 and "--verbose" not in flags
    assert "-q" in flags and "--quiet" in flags
    assert _with_global_options(own).params == own.params  # added once


def test_a_closed_stdout_still_gives_the_verdict(blocked_pr: Repo) -> None:
    """Started with standard output closed (`>&-`): nothing to print to, no internal
    error, the verdict's exit code."""
    done = subprocess.run(
        [sys.executable, "-m", "stategate", "check", "--base", "main"],
        cwd=blocked_pr.path,
        env=_env(),
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),  # the child's own stdout
    )
    verdict = sg("check", "--base", "main", cwd=blocked_pr.path).returncode
    assert verdict in (1, 3) and done.returncode == verdict, done.stderr
    assert "internal error" not in done.stderr
