"""Interpolation parity with compose (compose-go's ``template`` package).

Each vector cites the upstream test it is ported from: compose-spec/compose-go,
``template/template_test.go`` (``template.TestX``) or
``interpolation/interpolation_test.go`` (``interpolation.TestX``), read at commit
e70e961c3a3acebf0800b882f1afb3dbf1fb74a2. Vectors marked ``stategate`` are ours:
traced by hand through compose-go's code (its pattern, ``getFirstBraceClosingIndex``
and the substitution functions) for cases upstream does not test.

Deliberate differences: the message of a missing required variable is shown as
written (``Mandatory Variable ${FOO}``), never expanded, so no value is printed; and
the loader (which reads the repo, never the shell) reports a missing required
variable as a warning with an empty value, since compose refuses it only where the
deploy environment lacks it too (see ``stategate.compose.interpolate``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stategate.compose.interpolate import (
    MAX_NESTING,
    InterpolationError,
    InvalidTemplateError,
    MissingRequiredError,
    substitute,
)
from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.image import parse_image
from stategate.source import WorkTree

# template_test.go's ``defaults``
TEMPLATE_ENV = {"FOO": "first", "BAR": "", "JSON": '{"json":2}'}
# interpolation_test.go's ``defaults``
INTERPOLATION_ENV = {"USER": "jenny", "FOO": "bar", "count": "5", "REQUIRED": "true"}

SUBSTITUTED = [
    # (upstream test, template, expected)
    ("template.TestEscaped", "$${foo}", "${foo}"),
    ("template.TestSubstituteNoMatch", "foo", "foo"),
    ("template.TestUnescaped", "a $ string", "a $ string"),
    ("template.TestUnescaped", "^REGEX$", "^REGEX$"),
    ("template.TestUnescaped", "$}", "$}"),
    ("template.TestUnescaped", "$", "$"),
    ("template.TestNonBraced", "$FOO-bar", "first-bar"),
    ("template.TestNoValueNoDefault", "This ${missing} var", "This  var"),
    ("template.TestNoValueNoDefault", "This ${BAR} var", "This  var"),
    ("template.TestValueNoDefault", "This $FOO var", "This first var"),
    ("template.TestValueNoDefault", "This ${FOO} var", "This first var"),
    ("template.TestNoValueWithDefault", "ok ${missing:-def}", "ok def"),
    ("template.TestNoValueWithDefault", "ok ${missing-def}", "ok def"),
    ("template.TestLazyDefaultDoesNotWarn", "${A:+${A},}B", "B"),
    ("template.TestLazyDefaultWarnsWhenUsed", "${A:-${B}}", ""),
    ("template.TestEmptyValueWithSoftDefault", "ok ${BAR:-def}", "ok def"),
    ("template.TestValueWithSoftDefault", "ok ${FOO:-def}", "ok first"),
    ("template.TestEmptyValueWithHardDefault", "ok ${BAR-def}", "ok "),
    ("template.TestPresentValueWithUnset", "ok ${UNSET_VAR:+presence_value}", "ok "),
    ("template.TestPresentValueWithUnset2", "ok ${UNSET_VAR+presence_value}", "ok "),
    ("template.TestPresentValueWithNonEmpty", "ok ${FOO:+presence_value}", "ok presence_value"),
    (
        "template.TestPresentValueAndNonEmptyWithNonEmpty",
        "ok ${FOO+presence_value}",
        "ok presence_value",
    ),
    ("template.TestPresentValueWithSet", "ok ${BAR+presence_value}", "ok presence_value"),
    ("template.TestPresentValueAndNotEmptyWithSet", "ok ${BAR:+presence_value}", "ok "),
    (
        "template.TestNonAlphanumericDefault",
        "ok ${BAR:-/non:-alphanumeric}",
        "ok /non:-alphanumeric",
    ),
    (
        "template.TestInterpolationExternalInterference",
        "-ok ${BAR:-defaultValue}",
        "-ok defaultValue",
    ),
    ("template.TestInterpolationExternalInterference", "+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    ("template.TestInterpolationExternalInterference", "-ok ${FOO:-defaultValue}", "-ok first"),
    (
        "template.TestInterpolationExternalInterference",
        ":-ok ${UNSET-defaultValue}",
        ":-ok defaultValue",
    ),
    ("template.TestInterpolationExternalInterference", ":-ok ${BAR-defaultValue}", ":-ok "),
    ("template.TestInterpolationExternalInterference", ":?ok ${BAR-defaultValue}", ":?ok "),
    (
        "template.TestInterpolationExternalInterference",
        ":?ok ${BAR:-defaultValue}",
        ":?ok defaultValue",
    ),
    (
        "template.TestInterpolationExternalInterference",
        ":+ok ${BAR:-defaultValue}",
        ":+ok defaultValue",
    ),
    ("template.TestInterpolationExternalInterference", "+ok ${BAR-defaultValue}", "+ok "),
    (
        "template.TestInterpolationExternalInterference",
        "?ok ${BAR:-defaultValue}",
        "?ok defaultValue",
    ),
    ("template.TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-$FOO}", "ok first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-${FOO}}", "ok first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${BAR:-$FOO}", "ok first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${BAR:-${FOO}}", "ok first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
    ("template.TestDefaultsWithNestedExpansion", "ok ${BAR+$FOO}", "ok first"),
    (
        "template.TestDefaultsWithNestedExpansion",
        "ok ${BAR+$FOO ${FOO:+second}}",
        "ok first second",
    ),
    ("template.TestDefaultsForMandatoryVariables", "ok ${FOO:?err}", "ok first"),
    ("template.TestDefaultsForMandatoryVariables", "ok ${FOO?err}", "ok first"),
    ("template.TestDefaultsForMandatoryVariables", "ok ${BAR?err}", "ok "),
    (
        "template.TestSubstituteWithReplacementFunc",
        "ok ${SUBDOMAIN:-redis}.${FOO:?}",
        "ok redis.first",
    ),
    ("template.TestPrecedence", "${UNSET_VAR-myerror?msg}", "myerror?msg"),
    ("template.TestPrecedence", "${FOO?bar-baz}", "first"),
    (
        "template.TestPrecedence",
        "${BAR:-default_value_for_empty_var}",
        "default_value_for_empty_var",
    ),
    (
        "template.TestPrecedence",
        "${UNSET_VAR-default_value_for_unset_var}",
        "default_value_for_unset_var",
    ),
    ("template.TestNoValueWithCurlyBracesDefault", 'ok ${missing:-{"json":1}}', 'ok {"json":1}'),
    ("template.TestNoValueWithCurlyBracesDefault", 'ok ${missing-{"json":1}}', 'ok {"json":1}'),
    ("template.TestValueWithCurlyBracesDefault", 'ok ${JSON:-{"json":1}}', 'ok {"json":2}'),
    ("template.TestValueWithCurlyBracesDefault", 'ok ${JSON-{"json":1}}', 'ok {"json":2}'),
    # stategate: traced through compose-go's code
    ("stategate", "${UNSET-${BAR:-x}}", "x"),
    ("stategate", "${UNSET-${FOO:-x}}", "first"),
    ("stategate", "${FOO:+${UNSET}}", ""),
    ("stategate", "${FOO:+<${FOO}>}", "<first>"),
    ("stategate", "${A:-${B:-${C:-${D:-${E:-deep}}}}}", "deep"),
    ("stategate", "${A:-x}}y", "x}y"),  # the rest after the closing brace stays
    ("stategate", "${A:-{}}", "{}"),  # "{" skips the next character when counting
    ("stategate", "${A:-a}-${B:-b}", "a-b"),
    ("stategate", "$FOO$FOO$$FOO", "firstfirst$FOO"),
    ("stategate", "$1 $- $ {FOO}", "$1 $- $ {FOO}"),
    ("stategate", "${FOO}}", "first}"),
    ("stategate", "${foo:-lower}", "lower"),  # names are case-sensitive
]


@pytest.mark.parametrize(("upstream", "template", "expected"), SUBSTITUTED)
def test_substitution_matches_compose(upstream: str, template: str, expected: str) -> None:
    assert substitute(template, TEMPLATE_ENV).text == expected, upstream


VALID_UNEXISTENT = [  # interpolation.TestValidUnexistentInterpolation (nothing set)
    ("{{{ ${FOO:-foo_} }}}", "{{{ foo_ }}}"),
    ("{{{ ${FOO:-foo-bar-value} }}}", "{{{ foo-bar-value }}}"),
    ("{{{ ${FOO:-foo?bar?value} }}}", "{{{ foo?bar?value }}}"),
    ("{{{ ${FOO:-foo:?bar:?value} }}}", "{{{ foo:?bar:?value }}}"),
    ("{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}", "{{{ foo DEFAULT_VALUE }}}"),
    ("{{{ ${BAR} }}}", "{{{  }}}"),
    ("${FOO:-baz} }}}", "baz }}}"),
    ("${FOO-baz} }}}", "baz }}}"),
    ("${FOO:-${BAR:-${ZOT:-qix}}}", "qix"),
    ("${FOO:-${BAR:-x}_test_${BAR:-y}}", "x_test_y"),
    ("${FOO:-${BAR:-x}_test}", "x_test"),
    ("${FOO:-${BAR:-${ZOT:-x}}_test}", "x_test"),
]


@pytest.mark.parametrize(("template", "expected"), VALID_UNEXISTENT)
def test_valid_unexistent_interpolation(template: str, expected: str) -> None:
    assert substitute(template, {}).text == expected


UNEXISTENT_REQUIRED = [  # interpolation.TestValidUnexistentInterpolation, the errors
    ("{{{ ${FOO:?foo_} }}}", "foo_"),
    ("{{{ ${FOO:?foo-bar-value} }}}", "foo-bar-value"),
    ("{{{ ${FOO:?foo} ${BAR:-DEFAULT_VALUE} }}}", "foo"),
    ("${FOO:?foo} ${BAR:?bar}", "foo"),  # the first error is the one reported
    ("${FOO:?baz} }}}", "baz"),
    ("${FOO?baz} }}}", "baz"),
]


@pytest.mark.parametrize(("template", "message"), UNEXISTENT_REQUIRED)
def test_valid_unexistent_interpolation_required(template: str, message: str) -> None:
    with pytest.raises(MissingRequiredError) as caught:
        substitute(template, {})
    assert str(caught.value) == f"required variable FOO is missing a value: {message}"


VALID_EXISTENT = [  # interpolation.TestValidExistentInterpolation
    ("{{{ ${FOO:-foo_} }}}", "{{{ bar }}}"),
    ("{{{ ${FOO:-foo-bar-value} }}}", "{{{ bar }}}"),
    ("{{{ ${FOO:-foo} ${BAR:-DEFAULT_VALUE} }}}", "{{{ bar DEFAULT_VALUE }}}"),
    ("{{{ ${BAR} }}}", "{{{  }}}"),
    ("${FOO:-baz} }}}", "bar }}}"),
    ("${FOO-baz} }}}", "bar }}}"),
    ("{{{ ${FOO:-foo} ${USER:-bar} }}}", "{{{ bar jenny }}}"),
    ("{{{ ${USER} }}}", "{{{ jenny }}}"),
    # interpolation.TestInterpolate
    ("example:${USER}", "example:jenny"),
    ("$FOO:/target", "bar:/target"),
    ("${FOO}", "bar"),
    ("$USER", "jenny"),
]


@pytest.mark.parametrize(("template", "expected"), VALID_EXISTENT)
def test_valid_existent_interpolation(template: str, expected: str) -> None:
    assert substitute(template, INTERPOLATION_ENV).text == expected


INVALID = [
    ("template.TestInvalid", "${"),
    ("template.TestInvalid", "${}"),
    ("template.TestInvalid", "${ }"),
    ("template.TestInvalid", "${ foo}"),
    ("template.TestInvalid", "${foo }"),
    ("template.TestInvalid", "${foo!}"),
    ("interpolation.TestInvalidInterpolation", "${"),
    ("stategate", "postgres:${TAG"),
    ("stategate", "${TAG:-16"),
    ("stategate", "${A:-x\ny}"),  # compose's pattern does not cross a line
    ("stategate", "${A:x}"),
    ("stategate", "${FOO} ${"),
    ("stategate", "${1}"),
    ("stategate", "${UNSET:-${}}"),  # a default that is used is checked
]


@pytest.mark.parametrize(("upstream", "template"), INVALID)
def test_invalid_templates_are_refused(upstream: str, template: str) -> None:
    with pytest.raises(InvalidTemplateError, match="invalid interpolation format"):
        substitute(template, TEMPLATE_ENV)


_HINT = " (set it in the env file, or list it in the policy's compose.host_variables)"


def test_an_unused_default_is_still_checked() -> None:
    """Docker Compose v2.40.3 (compose-go v2.9.1) expands a default whether it is used or
    not: `${TAG:-${ 16}}` with TAG set is "invalid interpolation format" (checked with
    the binary; compose-go's later TestLazy* tests describe a newer, lazy template)."""
    with pytest.raises(InterpolationError, match="invalid interpolation format"):
        substitute("${FOO:-${}}", TEMPLATE_ENV)
    with pytest.raises(InterpolationError, match="MISSING is missing a value: boom"):
        substitute("${FOO:-${MISSING:?boom}}", TEMPLATE_ENV)


REQUIRED = [
    # (upstream test, template, variable, message as written)
    (
        "template.TestMandatoryVariableErrors",
        "not ok ${UNSET_VAR:?Mandatory Variable Unset}",
        "UNSET_VAR",
        "Mandatory Variable Unset",
    ),
    (
        "template.TestMandatoryVariableErrors",
        "not ok ${BAR:?Mandatory Variable Empty}",
        "BAR",
        "Mandatory Variable Empty",
    ),
    ("template.TestMandatoryVariableErrors", "not ok ${UNSET_VAR:?}", "UNSET_VAR", ""),
    (
        "template.TestMandatoryVariableErrors",
        "not ok ${UNSET_VAR?Mandatory Variable Unset}",
        "UNSET_VAR",
        "Mandatory Variable Unset",
    ),
    ("template.TestMandatoryVariableErrors", "not ok ${UNSET_VAR?}", "UNSET_VAR", ""),
    # upstream expands the message ("Mandatory Variable first"); we show it as written
    (
        "template.TestMandatoryVariableErrorsWithNestedExpansion",
        "not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}",
        "UNSET_VAR",
        "Mandatory Variable ${FOO}",
    ),
    (
        "template.TestMandatoryVariableErrorsWithNestedExpansion",
        "not ok ${UNSET_VAR?Mandatory Variable ${FOO}}",
        "UNSET_VAR",
        "Mandatory Variable ${FOO}",
    ),
    ("template.TestPrecedence", "${UNSET_VAR?bar-baz}", "UNSET_VAR", "bar-baz"),
    ("stategate", "${UNSET:-${BAR:?empty}}", "BAR", "empty"),
    ("stategate", "${UNSET:?${BAR}}", "UNSET", ""),  # the message expands to nothing
]


@pytest.mark.parametrize(("upstream", "template", "variable", "message"), REQUIRED)
def test_missing_required_variables_are_refused(
    upstream: str, template: str, variable: str, message: str
) -> None:
    with pytest.raises(MissingRequiredError) as caught:
        substitute(template, TEMPLATE_ENV)
    assert caught.value.variable == variable
    text = f"required variable {variable} is missing a value"
    assert str(caught.value) == (f"{text}: {message}" if message else text)


def test_a_required_variable_message_is_checked_like_compose() -> None:
    """stategate: a malformed message fails as a malformed reference, as in compose."""
    with pytest.raises(InvalidTemplateError):
        substitute("${UNSET:?see ${}", TEMPLATE_ENV)


# template.TestSubstitutionFunctionChoice: the operator right after the name wins
CHOICE = [
    ("Error when EMPTY or UNSET", "VARNAME:?val?ue", ":?"),
    ("Error when UNSET 1", "VARNAME?val:?ue", "?"),
    ("Error when UNSET 2", "VARNAME?va-lu+e:?e", "?"),
    ("Error when UNSET 3", "VARNAME?va+lu-e:?e", "?"),
    ("Default when EMPTY or UNSET", "VARNAME:-value", ":-"),
    ("Default when UNSET 1", "VARNAME-va:-lu:?e", "-"),
    ("Default when UNSET 2", "VARNAME-va+lu?e", "-"),
    ("Default when UNSET 3", "VARNAME-va?lu+e", "-"),
    ("Default when NOT EMPTY", "VARNAME:+va:?lu:-e", ":+"),
    ("Default when SET 1", "VARNAME+va:+lue", "+"),
    ("Default when SET 2", "VARNAME+va?lu-e", "+"),
    ("Default when SET 3", "VARNAME+va-lu?e", "+"),
]


def _reference(symbol: str, arg: str, value: str | None) -> str | None:
    """What compose-go's function for ``symbol`` gives (None: a required error)."""
    strict = symbol.startswith(":")
    present = value is not None and not (strict and value == "")
    if symbol.endswith("-"):
        return value if present else arg
    if symbol.endswith("+"):
        return arg if present else ""
    return value if present else None


@pytest.mark.parametrize(("name", "body", "symbol"), CHOICE)
@pytest.mark.parametrize("value", [None, "", "v"])
def test_substitution_function_choice(name: str, body: str, symbol: str, value: str | None) -> None:
    env = {} if value is None else {"VARNAME": value}
    expected = _reference(symbol, body.split(symbol, 1)[1], value)
    if expected is None:
        with pytest.raises(MissingRequiredError):
            substitute("${" + body + "}", env)
    else:
        assert substitute("${" + body + "}", env).text == expected, name


WARNED = [
    # (upstream test, template, env, unset names reported)
    # compose v2.40.3 warns of a variable in a default it does not use (the binary:
    # 'The "A" variable is not set'); compose-go's later TestLazy* tests expect silence
    ("compose v2.40.3 (TestLazyDefaultDoesNotWarn)", "${A:+${A},}B", TEMPLATE_ENV, ["A"]),
    ("template.TestLazyDefaultWarnsWhenUsed", "${A:-${B}}", TEMPLATE_ENV, ["B"]),
    ("compose v2.40.3 (TestLazyRequiredMessageDoesNotWarn)", "${A?${B}}", {"A": "value"}, ["B"]),
    ("template.TestNoValueNoDefault", "This ${missing} var", TEMPLATE_ENV, ["missing"]),
    ("stategate", "$X ${Y} ${Z:-${W}}", {}, ["X", "Y", "W"]),
]


@pytest.mark.parametrize(("upstream", "template", "env", "unset"), WARNED)
def test_unset_variables_are_reported_only_when_used(
    upstream: str, template: str, env: dict[str, str], unset: list[str]
) -> None:
    assert substitute(template, env).unresolved == unset, upstream


def test_nesting_past_the_limit_is_refused() -> None:
    deep = "${A:-" * (MAX_NESTING + 2) + "x" + "}" * (MAX_NESTING + 2)
    with pytest.raises(InterpolationError, match="nested deeper"):
        substitute(deep, {})
    ok = "${A:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(ok, {}).text == "x"


def test_many_references_on_one_line_cost_linear_time() -> None:
    text = "${A:-x}" * 100_000 + "${B:-" * 10
    with pytest.raises(InvalidTemplateError):
        substitute(text, {})
    assert substitute("${A:-x}" * 100_000, {}).text == "x" * 100_000


# -- through the loader and the CLI: file and line, exit 2, no value printed --------


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ('"postgres:${TAG"', "invalid interpolation format: '${TAG' is not closed"),
        ('"postgres:${}"', "invalid interpolation format: '${}' names no variable"),
        ('"postgres:${ TAG}"', "invalid interpolation format"),
        ('"postgres:${TAG!}"', "invalid interpolation format"),
        ('"postgres:${TAG:-${}}"', "invalid interpolation format: '${}' names no variable"),
    ],
)
def test_the_loader_refuses_with_file_and_line(tmp_path: Path, image: str, message: str) -> None:
    _write(tmp_path, {"compose.yml": f"services:\n  db:\n    image: {image}\n"})
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(tmp_path))
    assert caught.value.file == "compose.yml"
    assert caught.value.line == 3
    assert message in str(caught.value)


def test_an_env_file_is_refused_with_file_and_line(tmp_path: Path) -> None:
    _write(tmp_path, {".env": "A=1\nB=${A:?}\nC=${NOPE\n", "compose.yml": "services: {}\n"})
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(tmp_path))
    assert (caught.value.file, caught.value.line) == (".env", 3)
    assert "invalid interpolation format: '${NOPE' is not closed" in str(caught.value)


def test_a_missing_required_variable_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    """As compose refuses it ("required variable PW is missing a value: ...")."""
    _write(
        tmp_path,
        {
            "compose.yml": "services:\n  db:\n    image: postgres:16\n    environment:\n"
            "      PW: ${PW:?from the vault}\n",
        },
    )
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(tmp_path))
    assert caught.value.file == "compose.yml" and caught.value.line == 5
    assert "required variable PW is missing a value: from the vault" in str(caught.value)
    assert "compose.host_variables" in str(caught.value)


def test_a_missing_required_variable_in_the_env_file_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {".env": "A=1\nC=${NOPE:?set C}\n", "compose.yml": "services: {}\n"})
    with pytest.raises(InputError) as caught:
        load_compose(WorkTree(tmp_path))
    assert (caught.value.file, caught.value.line) == (".env", 2)
    assert "required variable NOPE is missing a value: set C" in str(caught.value)


def test_a_required_variable_the_deploy_host_sets_is_accepted_empty(tmp_path: Path) -> None:
    """Named in the policy's compose.host_variables: the host's secret store sets it."""
    _write(
        tmp_path,
        {
            ".env": "A=1\nB=${A:?}\n",
            "compose.yml": "services:\n  db:\n    image: postgres:16\n    environment:\n"
            "      PW: ${PW:?from the vault ${B}}\n      B: ${B}\n      U: ${PW_USER}\n",
        },
    )
    result = load_compose(WorkTree(tmp_path), host_variables=["PW", "PW_USER"])
    assert result.projects[0].services["db"].spec["environment"] == {"PW": "", "B": "1", "U": ""}
    assert result.warnings == []  # a host variable is not a surprise
    with pytest.raises(InputError, match="PW is missing"):
        load_compose(WorkTree(tmp_path), host_variables=["PW_USER"])


def test_unset_is_empty_and_warned_with_file_and_line(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".env": "REG=${MISSING}\n",
            "compose.yml": "services:\n  db:\n    image: postgres:${TAG}\n"
            "  app:\n    image: ${REG}app:${APP:-1}\n",
        },
    )
    result = load_compose(WorkTree(tmp_path))
    services = result.projects[0].services
    assert services["db"].spec["image"] == "postgres:"
    assert services["app"].spec["image"] == "app:1"
    assert [str(w) for w in result.warnings] == [
        ".env:1: variable MISSING is not set; substituted an empty string" + _HINT,
        "compose.yml:3: variable TAG is not set; substituted an empty string" + _HINT,
    ]


@pytest.mark.parametrize(
    ("text", "repository", "tag", "digest"),
    [
        ("postgres:", "library/postgres", None, None),
        ("postgres:@sha256:" + "a" * 64, "library/postgres", None, "sha256:" + "a" * 64),
        ("postgres@", "library/postgres", None, None),
        ("registry.example.com:5000/team/postgres:", "team/postgres", None, None),
        ("bitnami/postgresql:", "bitnami/postgresql", None, None),
    ],
)
def test_an_image_with_an_empty_tag_is_still_recognised(
    text: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_image(text)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, digest)
    assert ref.name == repository.rsplit("/", 1)[-1]


def _config(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", "config", "--repo", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_cli_exits_2_naming_file_and_line_without_a_traceback(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".env": "DB_PASSWORD=hunter2-canary\n",
            "compose.yml": "services:\n  db:\n    image: postgres\n    environment:\n"
            "      PW: ${DB_PASSWORD}\n      X: ${DB_PASSWORD:-x}${\n",
        },
    )
    proc = _config(tmp_path)
    assert proc.returncode == 2
    assert "compose.yml:6: invalid interpolation format" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "hunter2-canary" not in proc.stdout + proc.stderr


def test_the_cli_refuses_a_missing_required_variable_without_its_values(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            ".env": "DB_PASSWORD=hunter2-canary\n",
            "compose.yml": "services:\n  db:\n    image: postgres\n    environment:\n"
            "      PW: ${DB_PASSWORD}\n      X: ${GONE:?ask ops, not ${DB_PASSWORD}}\n",
        },
    )
    proc = _config(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "compose.yml:6: required variable GONE is missing a value" in proc.stderr
    assert "ask ops, not ${DB_PASSWORD}" in proc.stderr
    assert "hunter2-canary" not in proc.stdout + proc.stderr
