"""The one place that starts processes.

Every subprocess goes through :func:`run`, :func:`feed` or :func:`popen`. All take the
secret values known to the caller and mask them in anything they log or put in
an error message, so a password passed through the environment never reaches
output, logs or evidence.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stategate.errors import ExternalError

log = logging.getLogger("stategate.execute")

MASK = "***"


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each (non-empty) secret in ``text``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def _env(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    if not extra:
        return None
    env = dict(os.environ)
    env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    check: bool = True,
    user: str | None = None,
) -> Completed:
    """Run ``argv`` to completion and capture its output.

    ``user`` runs the command as another local user (``runuser -u``), which
    PostgreSQL needs when stategate itself runs as root.
    """
    full = _as_user(argv, user)
    secret_list = list(secrets)
    shown = mask(" ".join(full), secret_list)
    log.debug("run: %s", shown)
    try:
        proc = subprocess.run(
            full,
            env=_env(env),
            cwd=cwd,
            input=input,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ExternalError(f"command not found: {full[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ExternalError(f"command timed out after {timeout}s: {shown}") from exc
    done = Completed(tuple(full), proc.returncode, proc.stdout, proc.stderr)
    if check:
        _check(done, shown, secret_list)
    return done


def _check(done: Completed, shown: str, secrets: list[str]) -> None:
    if done.returncode != 0:
        err = mask(done.stderr.decode("utf-8", "replace").strip(), secrets)
        last = err.splitlines()[-1] if err else ""
        raise ExternalError(f"{shown} exited with {done.returncode}: {last}".rstrip(": "))


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


FEED_CHUNK = 1024 * 1024


def feed(
    argv: Sequence[str],
    source: Readable,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    user: str | None = None,
) -> Completed:
    """Run ``argv`` with everything ``source`` yields on its stdin, as :func:`run` does
    with ``check=True``, without holding the input in memory.

    If the command stops reading early, feeding stops and its exit status decides.
    An error raised by ``source`` kills the command and propagates.
    """
    full = _as_user(argv, user)
    secret_list = list(secrets)
    shown = mask(" ".join(full), secret_list)
    log.debug("run: %s", shown)
    # output to files, not pipes: nobody reads them while the input is written
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                full, env=_env(env), stdin=subprocess.PIPE, stdout=out, stderr=err
            )
        except FileNotFoundError as exc:
            raise ExternalError(f"command not found: {full[0]}") from exc
        assert proc.stdin is not None
        try:
            # a broken pipe: it stopped reading, and its exit status says why
            with contextlib.suppress(BrokenPipeError):
                while data := source.read(FEED_CHUNK):
                    proc.stdin.write(data)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        code = proc.wait()
        out.seek(0)
        err.seek(0)
        done = Completed(tuple(full), code, out.read(), err.read())
    _check(done, shown, secret_list)
    return done


def popen(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    cwd: str | os.PathLike[str] | None = None,
    user: str | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` without waiting (servers, streaming dumps)."""
    full = _as_user(argv, user)
    log.debug("start: %s", mask(" ".join(full), secrets))
    try:
        return subprocess.Popen(
            full, env=_env(env), cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr
        )
    except FileNotFoundError as exc:
        raise ExternalError(f"command not found: {full[0]}") from exc


STDIO_BUFFER = "1M"


def with_stdio_buffers(
    argv: Sequence[str], *, stdin: bool = False, stdout: bool = False
) -> list[str]:
    """``argv`` run with 1 MiB stdio buffers on its stdin and/or stdout, where
    coreutils' ``stdbuf`` works (else ``argv`` as is).

    A C program streaming through stdio on a pipe (pg_dump writing its archive,
    pg_restore reading one) moves 4 KiB per system call: for 500 MB, 125,000 calls
    and as many wake-ups of the process on the other side. With 1 MiB both spend a
    fraction of that time in the kernel.
    """
    stdbuf = _stdbuf()
    if stdbuf is None or not (stdin or stdout):
        return list(argv)
    modes = [f"-i{STDIO_BUFFER}"] * stdin + [f"-o{STDIO_BUFFER}"] * stdout
    return [stdbuf, *modes, *argv]


@functools.cache
def _stdbuf() -> str | None:
    found = shutil.which("stdbuf")
    if found is None:
        return None
    try:  # it needs its preload library, which a minimal image may lack
        done = subprocess.run([found, f"-o{STDIO_BUFFER}", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if done.returncode == 0 else None


def _as_user(argv: Sequence[str], user: str | None) -> list[str]:
    if user is None or _current_user() == user:
        return list(argv)
    return ["runuser", "-u", user, "--", *argv]


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
