"""A hostile S3 server for the tests that need one: moto's server, which accepts keys a
real MinIO or SeaweedFS refuses (``../../etc/evil``) just as AWS S3 does. Every other
S3 test runs against SeaweedFS (the sandbox's own ``LocalS3``)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from stategate import execute
from stategate.sandbox.ports import LOOPBACK, free_port


@contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server on a free loopback port; yield its endpoint."""
    port = free_port()
    proc = execute.popen(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "moto's server exited at start"
            try:
                with opener.open(endpoint + "/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=20)
