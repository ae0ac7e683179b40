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


def test_a_region_never_closed_gates_nothing() -> None:
    from stategate.diff.scan import lint_docs
    from stategate.policy.default import default_policy

    docs = default_policy().docs
    text = "# notes\n<!-- operator-gated -->\ndocker compose up -d\n"
    found = lint_docs("NOTES.md", text, docs.runtime_patterns, docs.gate_marker)
    assert [(f.file, f.line) for f in found] == [("NOTES.md", 3)]
    closed = text + "<!-- /operator-gated -->\n"
    assert lint_docs("NOTES.md", closed, docs.runtime_patterns, docs.gate_marker) == []


def test_a_line_too_long_to_lint_is_a_finding() -> None:
    from stategate.diff.scan import MAX_DOC_LINE, lint_docs
    from stategate.policy.default import default_policy

    docs = default_policy().docs
    long_line = "x" * (MAX_DOC_LINE + 1)
    (found,) = lint_docs("A.md", long_line + "\n", docs.runtime_patterns, docs.gate_marker)
    assert found.line == 1 and "too long" in found.message
    # words under the cap are linted as usual: no verb, no finding; a verb, a finding
    words = "docker " * 2_800
    assert lint_docs("B.md", words + "\n", docs.runtime_patterns, docs.gate_marker) == []
    assert lint_docs(
        "C.md", "run docker compose -f a.yml -p x up -d\n", docs.runtime_patterns, docs.gate_marker
    )


def test_the_length_limit_and_the_findings_it_makes_are_exact() -> None:
    from stategate.diff.scan import MAX_DOC_LINE, lint_docs
    from stategate.policy.default import default_policy

    docs = default_policy().docs
    at_limit = "x" * MAX_DOC_LINE
    assert lint_docs("A.md", at_limit + "\n", docs.runtime_patterns, docs.gate_marker) == []
    text = "y" * (MAX_DOC_LINE + 1) + "\ndocker compose up -d\n"
    found = lint_docs("docs/A.md", text, docs.runtime_patterns, docs.gate_marker)
    assert [(f.rule, f.file, f.line) for f in found] == [
        ("docs-runtime-instruction", "docs/A.md", 1),
        ("docs-runtime-instruction", "docs/A.md", 2),
    ]
    unclosed = "<!-- operator-gated -->\ndocker compose pull\n"
    (held,) = lint_docs("B.md", unclosed, docs.runtime_patterns, docs.gate_marker)
    assert held.message == "runtime instruction outside an operator-gated block (operator-gated)"
