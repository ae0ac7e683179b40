"""The compose schema compiled to Python (``compose/schema_check.py``) is only a fast "valid":
it must be what scripts/gen_compose_check.py generates from the vendored schema, it must
never pass a part jsonschema refuses, and a checker compiled from another schema is not
used at all. Judged on every compose file of ../shared/corpus and of the examples, and on
each of them broken at every setting in every way a value can be wrong (a stable quarter
of those: jsonschema takes half a millisecond a part)."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stategate.compose import schema_check, validation
from stategate.yamlfile import loads
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[3]
CORPUS = SHARED / "corpus" / "compose"

# Every kind of value a setting can wrongly hold (and rightly: the mutations also make
# valid files, which the compiled check must pass as well).
SAMPLE = 4  # one mutant in SAMPLE is judged by both
REPLACEMENTS: list[Any] = [
    None,
    True,
    0,
    -1,
    101,
    1.5,
    2.0,
    "",
    "text",
    "sometimes",
    [],
    ["x"],
    [1],
    [{"a": 1}],
    {},
    {"x-extra": 1},
    {"unknown": "x"},
    {"source": "a"},
]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen_compose_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checker_is_generated_from_the_vendored_schema() -> None:
    assert (ROOT / "src/stategate/compose/schema_check.py").read_text() == _generator().generate()


def test_the_checker_is_in_use() -> None:
    assert validation._compiled() is not None


def test_a_checker_compiled_from_another_schema_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_check, "SCHEMA_SHA256", "0" * 64)
    validation._checks.cache_clear()
    try:
        assert validation._compiled() is None
        file_check, service_check = validation._checks()
        # jsonschema's own
        assert file_check == validation._validator().is_valid
        assert service_check is not None and not service_check({"colour": "blue"})
    finally:
        validation._checks.cache_clear()


def _documents() -> Iterator[tuple[str, Any]]:
    roots = [ROOT / "examples", ROOT / "src/stategate/data"]
    if CORPUS.is_dir():
        roots.append(CORPUS)
    for root in roots:
        for path in sorted(root.rglob("*.y*ml")):
            try:
                parsed = loads(path.read_text(), str(path))
            except Exception:  # not YAML we read: not a compose file to judge
                continue
            plain = validation._plain(parsed)
            if isinstance(plain, dict) and isinstance(plain.get("services"), dict):
                yield str(path.relative_to(root.parent)), plain


def _mutations(node: Any, depth: int = 0) -> Iterator[Any]:
    """The part with one value replaced, one key added or one key removed (down to four
    levels; deeper, fewer kinds of wrong value)."""
    replacements = REPLACEMENTS if depth < 2 else REPLACEMENTS[::3]
    if depth > 4:
        return
    if isinstance(node, dict):
        yield {**node, "unknown": 1}
        for key, value in node.items():
            yield {k: v for k, v in node.items() if k != key}
            for replacement in replacements:
                yield {**node, key: replacement}
            for mutated in _mutations(value, depth + 1):
                yield {**node, key: mutated}
    elif isinstance(node, list):
        for i, value in enumerate(node[:2]):
            for replacement in replacements:
                yield [*node[:i], replacement, *node[i + 1 :]]
            for mutated in _mutations(value, depth + 1):
                yield [*node[:i], mutated, *node[i + 1 :]]


def _parts(plain: dict[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """The parts validation checks (the skeleton, each setting of each service), each to be
    mutated, and the whole file as it is."""
    yield "file", plain, False
    yield "file", {**plain, "services": {name: {} for name in plain["services"]}}, True
    for spec in plain["services"].values():
        if isinstance(spec, dict):
            for key, value in spec.items():
                yield "service", {key: value}, True


def test_the_compiled_check_never_passes_what_jsonschema_refuses() -> None:
    fast_file, fast_service = validation._checks()
    assert fast_service is not None
    root = validation._validator()
    service = root.evolve(schema=validation._schema()["definitions"]["service"])
    judged = {"file": (fast_file, root.is_valid), "service": (fast_service, service.is_valid)}
    seen: set[str] = set()
    counts = {"agree-valid": 0, "agree-invalid": 0}
    documents = list(_documents())
    assert len(documents) >= (60 if CORPUS.is_dir() else 3)
    for name, plain in documents:
        for kind, part, mutate in _parts(plain):
            for n, candidate in enumerate(
                [part, *(_mutations(copy.deepcopy(part)) if mutate else ())]
            ):
                key = validation._canonical(candidate)
                if key is None or f"{kind}:{key}" in seen:
                    continue
                # every original; a stable quarter of the mutants (jsonschema is slow)
                if n and zlib.crc32(key.encode()) % SAMPLE:
                    continue
                seen.add(f"{kind}:{key}")
                fast, reference = judged[kind]
                got, want = fast(candidate), reference(candidate)
                assert got == want, f"{name}: {kind} part judged {got}, jsonschema {want}"
                counts["agree-valid" if want else "agree-invalid"] += 1
    # both verdicts are exercised, many times over (fewer without the corpus)
    least = 1_000 if CORPUS.is_dir() else 100
    assert counts["agree-valid"] > least and counts["agree-invalid"] > least, counts


def test_a_valid_file_does_not_import_jsonschema(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n"
    )
    code = (
        "import sys\n"
        "from stategate.compose.validation import validate_document\n"
        "from stategate.yamlfile import loads\n"
        f"validate_document(loads(open({str(tmp_path / 'compose.yml')!r}).read(), 'c'), 'c')\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
