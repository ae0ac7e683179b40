"""``execute.feed``: a stream on a command's stdin, errors masked, the child never left behind."""

from __future__ import annotations

import array
import contextlib
import fcntl
import io
import os
import platform
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest

from stategate import execute
from stategate.errors import ExternalError

BIG = os.urandom(1 << 16) * 40  # 2.5 MiB: more than a pipe holds, several feed chunks


def test_feed_streams_everything_to_stdin() -> None:
    done = execute.feed(["sh", "-c", "wc -c"], io.BytesIO(BIG))
    assert done.returncode == 0
    assert int(done.text()) == len(BIG)


def test_a_failing_command_is_an_external_error_with_secrets_masked() -> None:
    with pytest.raises(ExternalError) as caught:
        execute.feed(
            ["sh", "-c", "head -c 10 >/dev/null; echo 'bad password hunter2' >&2; exit 3"],
            io.BytesIO(BIG),
            secrets=["hunter2"],
        )
    message = str(caught.value)
    assert "exited with 3: bad password ***" in message
    assert "hunter2" not in message


def test_a_command_that_stops_reading_but_succeeds_is_not_an_error() -> None:
    assert execute.feed(["true"], io.BytesIO(BIG)).returncode == 0


class _FailingOnceStarted:
    """A source that fails (a corrupt stream) once the command has written its pid."""

    def __init__(self, pid_file: Path) -> None:
        self.pid_file = pid_file

    def read(self, size: int = -1, /) -> bytes:
        deadline = time.monotonic() + 10
        while not self.pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise ExternalError("corrupt input")


def test_a_failing_source_kills_the_command_and_propagates(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(ExternalError, match="corrupt input"):
        execute.feed(
            ["sh", "-c", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; exec sleep 30"],
            _FailingOnceStarted(pid_file),
        )
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(pid, 0)


def test_a_missing_command_is_an_external_error() -> None:
    with pytest.raises(ExternalError, match="command not found"):
        execute.feed(["stategate-no-such-command"], io.BytesIO(b""))


READ_SYSCALL = {"x86_64": 0, "aarch64": 63}[platform.machine()]


def _wait_until_blocked_reading_stdin(pid: int, pipe: int) -> None:
    """Until the pipe feeding ``pid`` is empty and ``pid`` sleeps in read(0, ...)."""
    waiting = array.array("i", [0])
    deadline = time.monotonic() + 120  # a hang, not a slow machine
    while time.monotonic() < deadline:
        fcntl.ioctl(pipe, termios.FIONREAD, waiting)  # bytes in the pipe (either end)
        call = Path(f"/proc/{pid}/syscall").read_text().split()
        if waiting[0] == 0 and call[:2] == [str(READ_SYSCALL), "0x0"]:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never waited for more input")


@pytest.mark.parametrize("buffered", [False, True])
def test_stdout_buffer_holds_a_stdio_writers_output_back(buffered: bool) -> None:
    """sed writes through stdio like pg_dump: 4 KiB at a time on a pipe by default, in
    1 MiB pieces with the larger buffer (here: nothing until its input ends)."""
    argv = ["sed", "s/a/b/"]
    proc = execute.popen(execute.with_stdio_buffers(argv, stdout=buffered), stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"a line of text\n" * 1000)  # 15 kB: several 4 KiB buffers
        proc.stdin.flush()
        # no time budget: once sed has taken all its input and waits for more, whatever
        # it would write before the input ends has been written
        _wait_until_blocked_reading_stdin(proc.pid, proc.stdin.fileno())
        ready, _, _ = select.select([proc.stdout], [], [], 0)
        assert bool(ready) is not buffered
        proc.stdin.close()
        assert proc.stdout.read() == b"b line of text\n" * 1000
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("buffered", [False, True])
def test_stdin_buffer_reads_ahead_in_large_pieces(buffered: bool) -> None:
    """sed reads through stdio like pg_restore: from a pipe holding 1 MiB, it takes a
    few small buffers to find its first line by default, all of it with the 1 MiB
    buffer (what it takes is gone for wc, which counts the rest)."""
    size = 1 << 20
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, size)
        os.write(write_end, b"a line of text\n" * (size // 16) + b"0" * (size % 16))
        os.close(write_end)
        argv = ["sh", "-c", "sed 1q >/dev/null; wc -c"]
        proc = execute.popen(execute.with_stdio_buffers(argv, stdin=buffered), stdin=read_end)
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(read_end)
        with contextlib.suppress(OSError):
            os.close(write_end)
    taken = size - int(out)
    assert taken == size if buffered else taken < size // 4


def test_stdio_buffers_without_stdbuf_run_the_command_as_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(execute, "_stdbuf", lambda: None)
    assert execute.with_stdio_buffers(["pg_dump", "-Fc"], stdout=True) == ["pg_dump", "-Fc"]
    assert execute.with_stdio_buffers(["pg_restore"], stdin=True) == ["pg_restore"]
