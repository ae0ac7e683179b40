"""Secret masking in the process gateway: the secret never survives, the rest does.

Real commands whose argv and stderr carry a secret; the error must name the
command and its last stderr line with every secret replaced (written against
surviving mutants of ``mask`` and ``_check``).
"""

from __future__ import annotations

import pytest

from stategate import execute
from stategate.errors import ExternalError


def test_mask_replaces_every_occurrence_longest_secret_first() -> None:
    text = "user=app password=hunter2hunter2 again hunter2hunter2 and hunter2"
    masked = execute.mask(text, ["hunter2", "hunter2hunter2", "hunter2"])
    assert masked == "user=app password=*** again *** and ***"


def test_mask_goes_by_length_not_by_alphabet() -> None:
    # "pass" sorts after "apass1" but is inside it: the longer must be masked first
    assert execute.mask("x apass1 y", ["pass", "apass1"]) == "x *** y"


def test_mask_ignores_empty_secrets() -> None:
    assert execute.mask("abc", ["", "b"]) == "a***c"
    assert execute.mask("abc", []) == "abc"


def failure(script: str, secrets: list[str]) -> str:
    with pytest.raises(ExternalError) as caught:
        execute.run(["sh", "-c", script, "sh", *secrets], secrets=secrets)
    return str(caught.value)


def test_failure_names_the_command_and_its_last_stderr_line_masked() -> None:
    message = failure('echo first >&2; echo "denied for $1" >&2; echo >&2; exit 3', ["s3cr3t"])
    assert message == (
        'sh -c echo first >&2; echo "denied for $1" >&2; echo >&2; exit 3 sh *** '
        "exited with 3: denied for ***"
    )
    assert "s3cr3t" not in message


def test_failure_without_stderr_ends_at_the_exit_code() -> None:
    assert failure("exit 4", ["pw"]) == "sh -c exit 4 sh *** exited with 4"


def test_only_the_separator_is_trimmed_from_the_message() -> None:
    assert failure("echo 'failed: code X' >&2; exit 2", ["pw"]).endswith(
        "exited with 2: failed: code X"
    )


def test_undecodable_stderr_is_replaced_not_fatal() -> None:
    message = failure("printf 'bad \\377 byte %s\\n' \"$1\" >&2; exit 1", ["tok"])
    assert message.endswith("exited with 1: bad \ufffd byte ***")


def test_success_is_not_an_error() -> None:
    done = execute.run(["sh", "-c", "echo ok; echo noise >&2"], secrets=["x"])
    assert (done.returncode, done.text()) == (0, "ok\n")
