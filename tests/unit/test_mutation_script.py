"""scripts/mutation.py's own rules: equivalents need a reason; samples are fixed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mutation_script", REPO_ROOT / "scripts" / "mutation.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_script"] = module
    spec.loader.exec_module(module)
    return module


def test_an_equivalent_without_a_reason_stops_the_run(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = tmp_path / "equivalent.txt"
    listed.write_text("# comment\n\nstategate.x:f@0123456789ab codec names are case-insensitive\n")
    monkeypatch.setattr(script, "EQUIVALENT", listed)
    assert script.read_equivalents() == {
        "stategate.x:f@0123456789ab": "codec names are case-insensitive"
    }
    listed.write_text("stategate.x:f@0123456789ab\n")
    with pytest.raises(SystemExit) as caught:
        script.read_equivalents()
    assert str(caught.value) == (f"{listed}:1: expected '<module>:<function>@<hash> <reason>'")


def test_every_equivalent_in_the_repository_has_a_reason(script: ModuleType) -> None:
    assert all(reason for reason in script.read_equivalents().values())


def test_a_sample_is_the_same_whatever_the_order(script: ModuleType) -> None:
    a = script.Target("src/stategate/a.py", ())
    b = script.Target("src/stategate/b.py", ())
    names = {
        a: [f"stategate.a.x_f__mutmut_{i}" for i in range(50)],
        b: ["stategate.b.x_g__mutmut_1"],
    }
    picked = script.sample(names, 10)
    assert sum(map(len, picked.values())) == 10
    reordered = {b: names[b], a: list(reversed(names[a]))}
    assert {t: set(n) for t, n in script.sample(reordered, 10).items()} == {
        t: set(n) for t, n in picked.items()
    }
    assert script.sample(names, 100) == names


def test_targets_are_mutmuts_modules(script: ModuleType) -> None:
    targets = {t.path: t for t in script.read_targets()}
    assert "src/stategate/evidence/ledger/chain.py" in targets
    assert targets["src/stategate/execute.py"].globs() == [
        "stategate.execute.x_mask__mutmut_*",
        "stategate.execute.x__check__mutmut_*",
    ]
    assert targets["src/stategate/evidence/signing/dsse.py"].globs() == [
        "stategate.evidence.signing.dsse.*"
    ]
