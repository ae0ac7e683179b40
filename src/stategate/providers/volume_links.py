"""Where a volume archive's symlinks lead once all of them are on disk (pure).

Each symlink's text can stay inside the volume on its own and still leave it
through another: ``y -> .`` then ``s1 -> y/..`` climbs one level (``y`` is the root,
its ``..`` the root's parent), ``s2 -> s1/..`` another, and ``leak -> s4/etc/shadow``
reaches the host. So every symlink is resolved as the kernel would, component by
component, through every symlink the archive holds: in-order admission is not enough
(GNU tar sorts ``leak`` before the ``s4`` it goes through). A path that is no symlink
of the archive counts as a directory: a ``..`` below it cancels it, as it would on
disk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import PurePosixPath

# Linux follows at most 40 symlinks in one lookup; a longer chain is refused, not
# assumed to fail (a program resolving links one at a time goes on past 40)
MAX_HOPS = 40


def escape(links: Mapping[str, str], name: str) -> str | None:
    """Why the symlink ``name`` (a key of ``links``: relative path -> link text) leads
    outside the root once every link is followed; None when it stays inside."""
    directory = [p for p in PurePosixPath(name).parent.parts if p != "."]
    pending = deque(PurePosixPath(links[name]).parts)
    hops = 1
    while pending:
        part = pending.popleft()
        if part == "/":
            return "its target is absolute"
        if part == ".":
            continue
        if part == "..":
            if not directory:
                return "it climbs above the volume's root"
            directory.pop()
            continue
        target = links.get("/".join([*directory, part]))
        if target is None:
            directory.append(part)
            continue
        hops += 1
        if hops > MAX_HOPS:
            return f"it goes through more than {MAX_HOPS} symlinks"
        if target.startswith("/"):
            return "a symlink it goes through is absolute"
        pending.extendleft(reversed(PurePosixPath(target).parts))
    return None


def escapes(links: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every symlink that leads outside the root, with why, in name order."""
    found = ((name, escape(links, name)) for name in sorted(links))
    return [(name, why) for name, why in found if why is not None]
