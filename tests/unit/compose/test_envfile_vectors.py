"""``.env`` parsing parity with compose (compose-go's ``dotenv`` package).

Each vector cites the upstream test it is ported from: compose-spec/compose-go,
``dotenv/godotenv_test.go``, ``dotenv/parser_test.go`` and
``dotenv/godotenv_var_expansion_test.go``, read at commit
e70e961c3a3acebf0800b882f1afb3dbf1fb74a2; ``dotenv/`` there is the same as in v2.9.1,
the compose-go that Docker Compose v2.40.3 is built with. Fixture files are inlined.

How upstream's entry points map onto ``parse_env``:

- ``Parse`` / ``UnmarshalWithLookup`` / ``ReadWithLookup(os.LookupEnv, ...)``: the
  mapping ``parse_env`` returns, with the process environment as ``lookup``
  (stategate: the ``--env`` variables);
- ``Read``: also drops keys starting with a digit (compose's own ``.env`` loading,
  ``GetEnvFromFile``, keeps them; see ``test_compose_keeps_keys_starting_with_a_digit``);
- ``Load``: the file's values under the process environment, which wins (as the
  loader does with ``--env``);
- ``GetEnvFromFile`` over several files: one shared map and lookup, the same as
  parsing the files' texts one after the other.

Tests of the file system (``TestLoadFileNotFound``, ``TestErrorReadDirectory``,
``TestGetEnvFromFile``, ``TestLoadWithNoArgsLoadsDotEnv``) and of custom formats
(``TestLoadWithFormat``) have no counterpart here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from stategate.compose.envfile import parse_env
from stategate.compose.interpolate import MissingRequiredError, substitute
from stategate.errors import InputError
from stategate.yamlfile import decode_text

REFUSED = None  # compose refuses the file


@dataclass(frozen=True)
class Vector:
    test: str  # the upstream test
    text: str
    expected: dict[str, str] | None  # None: refused
    mode: str = "subset"  # subset | exact | read | load
    env: dict[str, str] = field(default_factory=dict)  # the process environment
    line: int | None = None  # where a refusal is reported


PLAIN = (
    "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\n"
    "OPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n"
)
PLAIN_VALUES = {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "3", "OPTION_D": "4"}
PLAIN_VALUES |= {"OPTION_E": "5"}
QUOTED = (
    "OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\n"
    'OPTION_F="2"\nOPTION_G=""\nOPTION_H="\\n"\nOPTION_I = "echo \'asd\'" # Inline comment\n'
    "OPTION_J = 'first line\nsecond line\nthird line\nand so on'\n"
    "OPTION_K='Let\\'s go!'\nOPTION_Z = \"last value\"\n"
)
UNQUOTED = (
    'OPTION_A = "some quoted phrase"\nOPTION_B=first one with an unquoted phrase\n'
    "OPTION_C = then another one with an unquoted phrase\n"
    "OPTION_D = then another one with an unquoted phrase special \u00e8 char\n"
    'OPTION_E = "then another one quoted phrase"\n'
)
SUBSTITUTIONS = (
    "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\n"
    "OPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n"
)
SUBSTITUTIONS_DEFAULT = SUBSTITUTIONS.replace("OPTION_A=1", "OPTION_A=${OPTION_A:-1}")
INVALID1 = '# some comments\nfoo="\n  a\n  multine\n  value\n"\nINVALID LINE\nzot=qix'
INHERITED_MULTI = "foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n"
OS_VAR = {"VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE"}
MULTIPLE_BASE = '\nENV_HOSTNAME=localhost\nENV_MY_URL="http://${ENV_HOSTNAME}"\n'
MULTIPLE_OVERRIDE = '\nENV_HOSTNAME=dev.my-company.com\nENV_MY_URL="http://${ENV_HOSTNAME}"\n'
PARSE_BYTES = (
    "\na=b\na[1]=c\na.propertyKey=d\n\u00e1rv\u00edzt\u0171r\u0151-T\u00dcK\u00d6RF\u00daR\u00d3G\u00c9P"
    "=\u00c1RV\u00cdZT\u0170R\u0150-t\u00fck\u00f6rf\u00far\u00f3g\u00e9p\n"
)


def _one(test: str, text: str, key: str, value: str) -> Vector:
    """``parseAndCompare(t, text, key, value)``."""
    return Vector(test, text, {key: value})


T = "godotenv_test.TestParsing"
VECTORS = [
    Vector(
        "godotenv_test.TestReadPlainEnv",
        PLAIN,
        PLAIN_VALUES | {"OPTION_F": "", "OPTION_G": "", "OPTION_H": "my string"},
        "read",
    ),
    Vector(
        "godotenv_test.TestParse",
        "ONE=1\nTWO='2'\nTHREE = \"3\"",
        {"ONE": "1", "TWO": "2", "THREE": "3"},
    ),
    Vector(
        "godotenv_test.TestLoadDoesNotOverride",
        PLAIN,
        {"OPTION_A": "do_not_override", "OPTION_B": ""},
        "load",
        {"OPTION_A": "do_not_override", "OPTION_B": ""},
    ),
    Vector("godotenv_test.TestLoadPlainEnv", PLAIN, PLAIN_VALUES, "load"),
    Vector(
        "godotenv_test.TestLoadExportedEnv",
        "export OPTION_A=2\nexport OPTION_B='\\n'\n",
        {"OPTION_A": "2", "OPTION_B": "\\n"},
        "load",
    ),
    Vector(
        "godotenv_test.TestLoadEqualsEnv",
        "export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n",
        {"OPTION_A": "postgres://localhost:5432/database?sslmode=disable"},
        "load",
    ),
    Vector(
        "godotenv_test.TestLoadQuotedEnv",
        QUOTED,
        {
            "OPTION_A": "1",
            "OPTION_B": "2",
            "OPTION_C": "",
            "OPTION_D": "\\n",
            "OPTION_E": "1",
            "OPTION_F": "2",
            "OPTION_G": "",
            "OPTION_H": "\n",
            "OPTION_I": "echo 'asd'",
            "OPTION_J": "first line\nsecond line\nthird line\nand so on",
            "OPTION_K": "Let's go!",
            "OPTION_Z": "last value",
        },
        "load",
    ),
    Vector(
        "godotenv_test.TestLoadUnquotedEnv",
        UNQUOTED,
        {
            "OPTION_A": "some quoted phrase",
            "OPTION_B": "first one with an unquoted phrase",
            "OPTION_C": "then another one with an unquoted phrase",
            "OPTION_D": "then another one with an unquoted phrase special \u00e8 char",
            "OPTION_E": "then another one quoted phrase",
        },
        "load",
    ),
    Vector(
        "godotenv_test.TestSubstitutions",
        SUBSTITUTIONS,
        {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1", "OPTION_E": ""},
        "load",
    ),
    Vector("godotenv_test.TestExpanding", "FOO=test\nBAR=$FOO", {"FOO": "test", "BAR": "test"}),
    Vector(
        "godotenv_test.TestExpanding", "FOO=test\nBAR=${FOO}bar", {"FOO": "test", "BAR": "testbar"}
    ),
    Vector("godotenv_test.TestExpanding", "BAR=$FOO", {"BAR": ""}),
    Vector(
        "godotenv_test.TestExpanding",
        'FOO=test\nBAR="quote $FOO"',
        {"FOO": "test", "BAR": "quote test"},
    ),
    Vector("godotenv_test.TestExpanding", "BAR='quote $FOO'", {"BAR": "quote $FOO"}),
    Vector("godotenv_test.TestExpanding", 'FOO="foo\\$BAR"', {"FOO": "foo$BAR"}),
    Vector("godotenv_test.TestExpanding", 'FOO="foo\\${BAR}"', {"FOO": "foo${BAR}"}),
    Vector(
        "godotenv_test.TestExpanding",
        'FOO=test\nBAR="foo\\${FOO} ${FOO}"',
        {"FOO": "test", "BAR": "foo${FOO} test"},
    ),
    Vector(
        "godotenv_test.TestVariableStringValueSeparator",
        'TEST_URLS="stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"',
        {
            "TEST_URLS": "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"
        },
        "exact",
    ),
    Vector(
        "godotenv_test.TestActualEnvVarsAreLeftAlone",
        PLAIN,
        {"OPTION_A": "actualenv"},
        "load",
        {"OPTION_A": "actualenv"},
    ),
    _one(T, "FOO=bar", "FOO", "bar"),
    _one(T, "FOO =bar", "FOO", "bar"),
    _one(T, "FOO= bar", "FOO", "bar"),
    _one(T, 'FOO="bar"', "FOO", "bar"),
    _one(T, "FOO='bar'", "FOO", "bar"),
    _one(T, 'FOO="escaped\\"bar"', "FOO", 'escaped"bar'),
    _one(T, 'FOO="\\"quoted\\""', "FOO", '"quoted"'),
    _one(T, "FOO=\"'d'\"", "FOO", "'d'"),
    _one(T, "OPTION_A: 1", "OPTION_A", "1"),
    _one(T, "OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
    _one(T, "OPTION_A=1:B", "OPTION_A", "1:B"),
    _one(T, "export OPTION_A=2", "OPTION_A", "2"),
    _one(T, "export OPTION_B='\\n'", "OPTION_B", "\\n"),
    _one(T, "export exportFoo=2", "exportFoo", "2"),
    _one(T, "exportFOO=2", "exportFOO", "2"),
    _one(T, "export_FOO =2", "export_FOO", "2"),
    _one(T, "export.FOO= 2", "export.FOO", "2"),
    _one(T, "export\tOPTION_A=2", "OPTION_A", "2"),
    _one(T, "  export OPTION_A=2", "OPTION_A", "2"),
    _one(T, "\texport OPTION_A=2", "OPTION_A", "2"),
    _one(T, 'export OPTION_A="export A"', "OPTION_A", "export A"),
    _one(T, 'FOO="bar\\nbaz"', "FOO", "bar\nbaz"),
    _one(T, "FOO=a\\tb", "FOO", "a\\tb"),
    _one(T, 'FOO="a\\tb"', "FOO", "a\tb"),
    _one(
        T, 'KEY="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"', "KEY", "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"
    ),
    _one(T, "FOO.BAR=foobar", "FOO.BAR", "foobar"),
    _one(T, "FOO=foobar=", "FOO", "foobar="),
    _one(T, "FOO=bar ", "FOO", "bar"),
    _one(T, "FOO=bar # this is foo", "FOO", "bar"),
    _one(T, "FOO=bar #this is foo", "FOO", "bar"),
    _one(T, "FOO=bar #", "FOO", "bar"),
    _one(T, "FOO=123#not-an-inline-comment", "FOO", "123#not-an-inline-comment"),
    _one(T, 'FOO="bar#baz"', "FOO", "bar#baz"),
    _one(T, 'FOO="bar#baz"#', "FOO", "bar#baz"),
    _one(T, 'FOO="bar#baz" # comment', "FOO", "bar#baz"),
    _one(T, "FOO='bar#baz' # comment", "FOO", "bar#baz"),
    _one(T, 'FOO="bar#baz#bang" # comment', "FOO", "bar#baz#bang"),
    _one(T, 'FOO="ba#r"', "FOO", "ba#r"),
    _one(T, "FOO='ba#r'", "FOO", "ba#r"),
    _one(T, 'FOO="bar\\n\\ b\\az"', "FOO", "bar\n\\ b\az"),
    _one(T, 'FOO="bar\\\\\\n\\ b\\az"', "FOO", "bar\\\n\\ b\az"),
    _one(T, 'FOO="bar\\\\r\\ b\\az"', "FOO", "bar\\r\\ b\az"),
    _one(T, 'FOO="bar\\nbaz\\\\"', "FOO", "bar\nbaz\\"),
    _one(T, '="value"', "", "value"),
    _one(T, " KEY =value", "KEY", "value"),
    _one(T, "   KEY=value", "KEY", "value"),
    _one(T, "\tKEY=value", "KEY", "value"),
    _one(T, 'KEY="\\0123"', "KEY", "S"),
    _one(T, 'KEY="\\x07"', "KEY", "\\x07"),
    _one(T, 'KEY="\\u12e4"', "KEY", "\\u12e4"),
    _one(T, 'KEY="\\U00101234"', "KEY", "\\U00101234"),
    Vector(T, "lol$wut", REFUSED, line=1),
    *(
        Vector("godotenv_test.TestUnterminatedQuotes", text, REFUSED, line=1)
        for text in (
            'KEY="',
            'KEY="value',
            'KEY="value\\"',
            "KEY=\"value'",
            "KEY='",
            "KEY='value",
            "KEY='value\\'",
            "KEY='value\"",
        )
    ),
    Vector("godotenv_test.TestLinesToIgnore", "\n", {}, "exact"),
    Vector("godotenv_test.TestLinesToIgnore", "\r\n", {}, "exact"),
    Vector("godotenv_test.TestLinesToIgnore", "\t\t ", {}, "exact"),
    Vector("godotenv_test.TestLinesToIgnore", "# Comment", {}, "exact"),
    Vector("godotenv_test.TestLinesToIgnore", "\t # comment", {}, "exact"),
    Vector(
        "godotenv_test.TestLinesToIgnore", "export OPTION_B='\\n'", {"OPTION_B": "\\n"}, "exact"
    ),
    Vector("godotenv_test.TestErrorParsing", INVALID1, REFUSED, line=7),
    Vector(
        "godotenv_test.TestInheritedEnvVariableSameSize",
        INHERITED_MULTI,
        OS_VAR | {"foo": "bar", "bar": "baz"},
        "exact",
        OS_VAR,
    ),
    Vector(
        "godotenv_test.TestInheritedEnvVariableSingleVar",
        "VAR_TO_BE_LOADED_FROM_OS_ENV\n",
        OS_VAR,
        "exact",
        OS_VAR,
    ),
    Vector("godotenv_test.TestInheritedEnvVariableNotFound", "VARIABLE_NOT_FOUND\n", {}, "exact"),
    Vector(
        "godotenv_test.TestInheritedEnvVariableNotFoundWithLookup",
        "VARIABLE_NOT_FOUND\n",
        {},
        "exact",
        OS_VAR,
    ),
    Vector(
        "godotenv_test.TestExpandingEnvironmentWithLookup",
        "TEST=$ME",
        {"TEST": "YES"},
        env={"ME": "YES"},
    ),
    Vector(
        "godotenv_test.TestSubstitutionsWithEnvFilePrecedence",
        SUBSTITUTIONS,
        {"OPTION_A": "1", "OPTION_B": "5", "OPTION_C": "5", "OPTION_D": "5_5", "OPTION_E": ""},
        "exact",
        {"OPTION_A": "5"},
    ),
    Vector(
        "godotenv_test.TestSubstitutionsWithEnvFileDefaultValuePrecedence",
        SUBSTITUTIONS_DEFAULT,
        {"OPTION_A": "5", "OPTION_B": "5", "OPTION_C": "5", "OPTION_D": "5_5", "OPTION_E": ""},
        "exact",
        {"OPTION_A": "5"},
    ),
    Vector(
        "godotenv_test.TestSubstitutionsWithUnsetVarEnvFileDefaultValuePrecedence",
        SUBSTITUTIONS_DEFAULT,
        {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1", "OPTION_E": ""},
        "exact",
    ),
    Vector(
        "godotenv_test.TestDash",
        "VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n",
        {
            "VAR-WITH-DASHES": "dashes",
            "VAR.WITH.DOTS": "dots",
            "VAR_WITH_UNDERSCORES": "underscores",
        },
        "load",
    ),
    Vector(
        "godotenv_test.TestMultipleFiles",
        MULTIPLE_BASE + MULTIPLE_OVERRIDE,
        {"ENV_HOSTNAME": "dev.my-company.com", "ENV_MY_URL": "http://dev.my-company.com"},
        "exact",
    ),
    Vector(
        "godotenv_test.TestMultipleFiles",
        MULTIPLE_BASE + MULTIPLE_OVERRIDE,
        {"ENV_HOSTNAME": "dev.my-company.com", "ENV_MY_URL": "http://host.local"},
        "exact",
        {"ENV_HOSTNAME": "host.local"},
    ),
    Vector(
        "parser_test.TestParseBytes",
        PARSE_BYTES,
        {
            "a": "b",
            "a[1]": "c",
            "a.propertyKey": "d",
            "\u00e1rv\u00edzt\u0171r\u0151-T\u00dcK\u00d6RF\u00daR\u00d3G\u00c9P": "\u00c1RV\u00cdZT\u0170R\u0150-t\u00fck\u00f6rf\u00far\u00f3g\u00e9p",
        },
        "exact",
    ),
    Vector("parser_test.TestParseVariable", "%!(EXTRA string)=foo", REFUSED, line=1),
    Vector(
        "parser_test.TestMemoryExplosion",
        "\n".join(f"KEY{i}=VALUE{i}" for i in range(1000)),
        {f"KEY{i}": f"VALUE{i}" for i in range(1000)},
        "exact",
    ),
]

# godotenv_var_expansion_test.go calls expandVariables (template substitution with the
# file's earlier values) on whole strings; stategate's counterpart is ``substitute``.
EXPANSION_ENV = {"EMPTY_VAR": "", "TEST_VAR": "Test Value"}
EXPANSIONS = [
    ("TestExpandIfEmptyOrUnset", "RESULT=${UNSET_VAR:-Default Value}", "RESULT=Default Value"),
    ("TestExpandIfEmptyOrUnset", "RESULT=${EMPTY_VAR:-Default Value}", "RESULT=Default Value"),
    ("TestExpandIfEmptyOrUnset", "RESULT=${TEST_VAR:-Default Value}", "RESULT=Test Value"),
    ("TestExpandIfUnset", "RESULT=${UNSET_VAR-Default Value}", "RESULT=Default Value"),
    ("TestExpandIfUnset", "RESULT=${EMPTY_VAR-Default Value}", "RESULT="),
    ("TestExpandIfUnset", "RESULT=${TEST_VAR-Default Value}", "RESULT=Test Value"),
    ("TestErrorIfEmptyOrUnset", "RESULT=${UNSET_VAR:?Test error}", MissingRequiredError),
    ("TestErrorIfEmptyOrUnset", "RESULT=${EMPTY_VAR:?Test error}", MissingRequiredError),
    ("TestErrorIfEmptyOrUnset", "RESULT=${TEST_VAR:?Default Value}", "RESULT=Test Value"),
    ("TestErrorIfUnset", "RESULT=${UNSET_VAR?Test error}", MissingRequiredError),
    ("TestErrorIfUnset", "RESULT=${EMPTY_VAR?Test error}", "RESULT="),
    ("TestErrorIfUnset", "RESULT=${TEST_VAR?Default Value}", "RESULT=Test Value"),
]

_STARTS_WITH_DIGIT = re.compile(r"^\s*\d")  # godotenv.go's startsWithDigitRegex, used by Read


def _read(vector: Vector) -> dict[str, str]:
    """What the upstream test observes of ``vector.text``."""
    if vector.mode == "load":  # Load parses without a lookup; the environment wins
        return parse_env(vector.text, ".env") | vector.env
    env = parse_env(vector.text, ".env", lookup=vector.env)
    if vector.mode == "read":
        return {k: v for k, v in env.items() if not _STARTS_WITH_DIGIT.match(k)}
    return env


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{i}-{v.test}" for i, v in enumerate(VECTORS)])
def test_dotenv_vector(vector: Vector) -> None:
    if vector.expected is None:
        with pytest.raises(InputError) as refused:
            _read(vector)
        assert refused.value.file == ".env"
        if vector.line is not None:
            assert refused.value.line == vector.line
        return
    got = _read(vector)
    if vector.mode in ("subset", "load"):
        assert {k: got.get(k) for k in vector.expected} == vector.expected
    else:
        assert got == vector.expected


@pytest.mark.parametrize(("test", "template", "expected"), EXPANSIONS)
def test_dotenv_expansion_vector(test: str, template: str, expected: object) -> None:
    if expected is MissingRequiredError:
        with pytest.raises(MissingRequiredError):
            substitute(template, EXPANSION_ENV)
    else:
        assert substitute(template, EXPANSION_ENV).text == expected


def test_utf8_bom_is_skipped() -> None:
    # godotenv_test.TestUTF8BOM: the BOM goes with decoding (``decode_text``), as compose
    # trims it from the bytes before parsing
    data = ("\ufeff" + PLAIN.replace("OPTION_F = ", "OPTION_F =")).encode()
    assert parse_env(decode_text(data, ".env"), ".env").items() >= PLAIN_VALUES.items()


def test_compose_keeps_keys_starting_with_a_digit() -> None:
    # ``Read`` drops them (TestReadPlainEnv) but compose's GetEnvFromFile does not
    assert parse_env(PLAIN, ".env")["456"] == "ABC"


def test_a_missing_required_variable_is_refused_as_compose_does() -> None:
    # godotenv_var_expansion_test.go: "${EMPTY_VAR:?Test error}" fails with the message
    with pytest.raises(InputError, match="EMPTY_VAR is missing a value: Test error") as caught:
        parse_env("EMPTY_VAR=\nRESULT=${EMPTY_VAR:?Test error}\n", ".env")
    assert caught.value.line == 2
