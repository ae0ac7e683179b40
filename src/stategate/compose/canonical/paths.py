"""Host paths in the printed model: relative to the repository root, never the host's.

Compose prints absolute paths; stategate prints ``os.path.relpath(path, repo_root)``
(with ``/``), which is what the parity harness compares after stripping the root.
A path that names the host outside the repository (``/srv/data``) stays absolute.
"""

from __future__ import annotations

import posixpath


def repo_path(base_dir: str, path: str) -> str:
    """``path`` (as written in a compose file under ``base_dir``) relative to the repo root."""
    if path.startswith(("/", "~")):
        return path  # a host path, printed as written (compose does not clean it)
    return posixpath.normpath(posixpath.join(base_dir, path) if base_dir else path)


def go_clean(path: str) -> str:
    """Go's ``path.Clean`` (``//a/`` -> ``/a``; posixpath keeps a leading ``//``)."""
    if not path:
        return path
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned
