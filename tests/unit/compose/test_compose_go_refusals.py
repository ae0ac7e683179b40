"""compose-go's own loader tests, the inputs that must fail: stategate refuses each,
naming compose.yaml and the line (tests/data/compose_go_refusals.yaml says where they
come from and what compose v2.40.3 prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.source import WorkTree
from tests.conftest import REPO_ROOT

CASES: list[dict[str, Any]] = yaml.safe_load(
    (REPO_ROOT / "tests" / "data" / "compose_go_refusals.yaml").read_text(encoding="utf-8")
)["cases"]


def _param(case: dict[str, Any]) -> Any:
    marks = [pytest.mark.xfail(reason=case["gap"], strict=True)] if "gap" in case else []
    return pytest.param(case, id=case["test"], marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_compose_go_refusal(tmp_path: Path, case: dict[str, Any]) -> None:
    (tmp_path / "compose.yaml").write_text(case["yaml"], encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(tmp_path), ["compose.yaml"])
    assert (caught.value.file, caught.value.line) == ("compose.yaml", case["line"])
