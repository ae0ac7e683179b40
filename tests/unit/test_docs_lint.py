"""The docs lint: runtime instructions only inside operator-gated regions (both forms)."""

from __future__ import annotations

from stategate.diff.scan import lint_docs
from stategate.policy.default import RUNTIME_PATTERNS

DOC = """\
# Cutover of postgres

<!-- operator-gated -->
docker compose pull postgres
pg_restore -d notes /backups/notes.dump
<!-- /operator-gated -->

Afterwards docker compose up -d app.
  <!-- operator-gated -->
FLUSHALL on the cache
  <!-- /operator-gated -->
Then DROP TABLE sessions.
"""


def _lines(text: str, marker: str = "operator-gated") -> list[int]:
    found = lint_docs("state/cycle/cutover.md", text, RUNTIME_PATTERNS, marker)
    assert all(f.rule == "docs-runtime-instruction" for f in found)
    assert all(f.file == "state/cycle/cutover.md" for f in found)
    return [f.line for f in found]


def test_the_comment_form_gates_the_lines_between_its_markers() -> None:
    # lines 4, 5 and 10 are gated; 8 and 12 follow a closing marker and are not
    assert _lines(DOC) == [8, 12]


def test_the_comment_form_needs_the_policy_s_marker() -> None:
    # with another marker, the same comments gate nothing
    assert _lines(DOC, marker="ops-only") == [4, 5, 8, 10, 12]
    assert _lines(DOC.replace("operator-gated", "ops-only"), marker="ops-only") == [8, 12]


def test_the_fenced_form_gates_its_block_only() -> None:
    text = "```sh operator-gated\ndocker compose pull redis\n```\nredis FLUSHDB\n"
    assert _lines(text) == [4]
    assert _lines("```sh\ndocker compose pull redis\n```\n") == [2]
