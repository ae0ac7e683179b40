"""The CLI's last-resort handler: a bug is exit 70 with one line that asks for -v.

Run in-process through :func:`stategate.cli.main` (the console script's entry point),
with a command's collaborator replaced by one that raises, so no bug is needed in
production code to reach the handler.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import stategate.commands.classify as classify_command
from stategate.cli import main
from stategate.errors import ExitCode
from tests.conftest import EXAMPLE


class _Bug(Exception):
    pass


@pytest.fixture
def broken_classify(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def load_platform(*_args: object, **_kwargs: object) -> None:
        raise _Bug("index out of range in the classifier")

    monkeypatch.setattr(classify_command, "load_platform", load_platform)
    yield
    # main() configures stategate's logger for the run; leave it as it was found
    logging.getLogger("stategate").setLevel(logging.NOTSET)


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code


@pytest.mark.usefixtures("broken_classify")
def test_an_internal_error_exits_70_with_one_line_asking_for_v(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _run(["classify", "--repo", str(EXAMPLE)])
    out, err = capsys.readouterr()
    assert code == ExitCode.INTERNAL_ERROR == 70
    assert out == ""
    assert err == (
        "stategate: internal error: _Bug: index out of range in the classifier "
        "(run with -v for details)\n"
    )


@pytest.mark.usefixtures("broken_classify")
def test_with_v_the_internal_error_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(["-v", "classify", "--repo", str(EXAMPLE)])
    assert code == 70
    (record,) = [r for r in caplog.records if r.getMessage() == "internal error"]
    assert record.exc_info is not None and record.exc_info[0] is _Bug
    assert "internal error: _Bug" in capsys.readouterr().err


def test_input_errors_are_not_internal_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  a: [\n")
    code = _run(["classify", "--repo", str(tmp_path)])
    assert code == ExitCode.INPUT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("stategate: error: compose.yml:")
    assert "internal error" not in err
