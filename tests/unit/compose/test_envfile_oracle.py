"""``.env`` parsing against the real Docker Compose v2.40.3 (the oracle).

Each ``.env`` text is read by ``docker compose config --environment`` in an empty
environment (``--env`` variables stand for the process environment) and by
``parse_env``; the two must print the same variables, or both refuse the file.
Compose prints ``KEY=VALUE`` lines sorted, with the process environment winning over
the file, exactly as the loader lets ``--env`` win; comparing the printed text keeps
multiline values unambiguous enough.

A missing required variable (``${X:?msg}``) refuses the file in both, unless the
policy lists it as set by the deploy host (``compose.host_variables``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stategate.compose.diagnostics import Diagnostics
from stategate.compose.envfile import parse_env
from stategate.errors import InputError
from stategate.yamlfile import decode_text
from tests.unit.compose.test_envfile_vectors import VECTORS

ORACLE = Path(
    os.environ.get("STATEGATE_COMPOSE_ORACLE")
    or Path(__file__).resolve().parents[3] / ".venv/oracle/docker-compose"
)
COMPOSE_FILE = "services:\n  s:\n    image: busybox\n"
PROJECT = "oracle"  # the directory's name: COMPOSE_PROJECT_NAME
BASE_ENV = {"PATH": "/usr/bin:/bin"}

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(
        not ORACLE.is_file(), reason="Docker Compose oracle not installed: run scripts/setup.sh"
    ),
]


def compose_reads(text: str, extra: dict[str, str]) -> str | None:
    """What compose prints for ``config --environment``; None when it refuses."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / PROJECT
        project.mkdir()
        (project / ".env").write_bytes(text.encode())
        (project / "compose.yaml").write_text(COMPOSE_FILE)
        done = subprocess.run(
            [str(ORACLE), "config", "--environment"],
            cwd=project,
            env=BASE_ENV | extra,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            return None
        printed = done.stdout.decode()
        return printed.replace(f"PWD={project}\n", "PWD=\n")


def stategate_reads(text: str, extra: dict[str, str]) -> str | None:
    """The same print of what stategate reads; None when it refuses."""
    try:
        env = parse_env(decode_text(text.encode(), ".env"), ".env", lookup=extra)
    except InputError as refused:
        assert refused.file == ".env" and refused.line is not None
        return None
    seen = env | BASE_ENV | extra | {"COMPOSE_PROJECT_NAME": PROJECT, "PWD": ""}
    return "".join(sorted(f"{key}={value}\n" for key, value in seen.items()))


EDGE_CASES: list[tuple[str, dict[str, str]]] = [
    ("KEY", {}),  # a last line without a separator: the value of ""
    ("KEY\n", {"KEY": "from env"}),
    ("A=1\nA\n", {}),  # a bare name keeps the file's value
    ("export", {}),
    ("export ", {}),
    ("export\nA=1\n", {}),
    ("export  A = 1\n", {}),
    ('A="x" B=y\n', {}),  # after a closing quote the next statement starts
    ("A='x'junk\n", {}),
    ('A="x"y z\n', {}),
    ("A='it''s'\n", {}),
    ("A=1\r\nB=2\r\n", {}),
    ('A="multi\r\nline"\r\nB=2\r\n', {}),
    ("A=\\$B\nB=2\n", {}),
    ('A="\\$B"\n', {}),
    ("A='$B'\n", {}),
    ('A="${B:-x}"\n', {"B": "env"}),
    ("A=$$B\nB=$${A}\n", {}),
    ("A=1 #c\nB=1\t#c\nC= #c\nD=#c\n", {}),
    ("#comment\n  # indented\nA=1 # and\n", {}),
    ("A B=1\n", {}),
    ("A.B-C[0]=1\n\u00c4=2\n1A=3\n", {}),
    ("A$=1\n", {}),
    ("A/B=1\n", {}),
    ("A::b\nB:=c\nC=d:e\n", {}),
    ('O="\\0101|\\0|\\01|\\0777|\\0400|\\0377|\\08|\\01234"\n', {}),
    ('E="\\x41|\\e|\\\'|\\q|\\\\n"\n', {}),
    ("S='a\\\\b\\nc'\n", {}),
    ('A="a"#c\nB="b" #c\n', {}),
    ("\ufeffA=1\n", {}),
    ("\ufeff\ufeffA=1\n", {}),
    ("A=${B\n", {}),
    ('A="${B"\n', {}),
    ("A=${}\n", {}),
    ("A=${B?msg}\n", {"B": "set"}),
    ("", {}),
    ("\n\n\t\n", {}),
    ("A=\\\n", {}),
    ('A="\\"\n', {}),
    ('A=" spaced "\nB=  spaced  \n', {}),
    ("A\xa0B=1\nC\x0bD=2\n", {}),
    ("\u2003A=1\nB=2\u2003\n", {}),
    ("\x1cA=1\n", {}),
    ("A=b\x85\n", {}),
    ("A=1\nB=${A}\nC=$A$A\n", {"A": "cli"}),  # --env is what references see first
    ("B=${A}\nA=file\n", {"A": "cli"}),
    ("A=${EXTRA:-d}-${MISSING:-m}\n", {"EXTRA": "x"}),
    ("A='multi\nline'\nB=\"also\nmulti\"\nC=after\n", {}),
    ('A="unterminated\nB=2\n', {}),
    ("A='x\n\nB=2\n", {}),
    ('A="a\\\nb"\n', {}),
    ("export A='1'; B=2\n", {}),
    ('A="quoted" # comment with \'quote\n', {}),
    ("A=x\n  B = y  \n\tC\t=\tz\t\n", {}),
    ("A=${A:-self}\n", {}),
    ("A=${A:-self}\n", {"A": "cli"}),
    ("A=[1,2]\nB={x}\nC=a=b=c\n", {}),
    ("A=$\nB=$1\nC=${A}$\n", {}),
    ("ÄÖ=\u00fcml\u00e4ut\n", {}),
    ("A=\u00e8 #\u00e8\n", {}),
    (":=x\n", {}),
    ("=\n", {}),
]
CASES = [(v.text, v.env) for v in VECTORS] + EDGE_CASES


@pytest.mark.parametrize(("text", "extra"), CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_same_as_compose(text: str, extra: dict[str, str]) -> None:
    assert stategate_reads(text, extra) == compose_reads(text, extra)


def test_a_missing_required_variable_refuses_unless_the_host_sets_it() -> None:
    text = "A=${B:?set B}\nC=after\n"
    assert compose_reads(text, {}) is None
    assert stategate_reads(text, {}) is None
    diag = Diagnostics()
    assert parse_env(text, ".env", diag, host=frozenset({"B"})) == {"A": "", "C": "after"}
    assert diag.items == []


# -- generated .env files -----------------------------------------------------------

NAMES = ["A", "B", "C", "a.b", "_x", "9k", "K-1", "EXTRA"]
REFERENCES = ["$A", "${B}", "${C:-d}", "${A-x}", "${B:+r}", "$EXTRA", "${MISSING}", "$$", "$"]
ESCAPES = ["\\n", "\\t", "\\r", "\\$", "\\\\", '\\"', "\\'", "\\0101", "\\x41", "\\"]
PLAIN = st.text(alphabet="ab #=:'\"\t-_.,{}", max_size=6)
PIECE = st.one_of(PLAIN, st.sampled_from(REFERENCES), st.sampled_from(ESCAPES), st.just("\n"))


@st.composite
def statements(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["value", "value", "value", "bare", "comment", "blank"]))
    if kind == "comment":
        return draw(st.sampled_from(["#", "  # "])) + draw(PLAIN)
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t"]))
    export = draw(st.sampled_from(["", "", "export ", "export\t"]))
    name = draw(st.sampled_from(NAMES))
    if kind == "bare":
        return export + name
    separator = draw(st.sampled_from(["=", "=", " = ", ": ", ":"]))
    quote = draw(st.sampled_from(["", "'", '"']))
    body = "".join(draw(st.lists(PIECE, max_size=5)))
    if not quote:
        body = body.replace("\n", "")
    tail = draw(st.sampled_from(["", "", " # note", "#x", " "]))
    return f"{export}{name}{separator}{quote}{body}{quote}{tail}"


@st.composite
def env_files(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    ending = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = ending.join(draw(st.lists(statements(), min_size=1, max_size=8)))
    if draw(st.booleans()):
        text += ending
    extra = draw(st.sampled_from([{}, {"EXTRA": "x"}, {"A": "cli", "EXTRA": "y z"}]))
    return text, extra


@settings(
    max_examples=150,  # one compose run each (40-170 ms): about 10-30 s in all
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(env_files())
def test_generated_env_files_read_as_compose_reads_them(case: tuple[str, dict[str, str]]) -> None:
    text, extra = case
    assert stategate_reads(text, extra) == compose_reads(text, extra)
