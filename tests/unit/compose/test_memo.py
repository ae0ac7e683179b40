"""A project reused from the other side of a pull request (``compose.memo``) leaves the
load exactly as loading it again would: the same projects, warnings in the same order,
the same variables, the same refusals."""

from __future__ import annotations

import json

import pytest

from stategate.compose import load
from stategate.compose.cache import ComposeCache
from stategate.compose.load import load_compose
from stategate.errors import InputError
from stategate.yamlfile import to_plain
from tests.memory_source import MemorySource as Memory


def MemorySource(files: dict[str, str]) -> Memory:
    return Memory({k: v.encode() for k, v in files.items()})


def _judged(source: Memory, cache: ComposeCache | None) -> str:
    try:
        loaded = load_compose(source, cache=cache)
    except InputError as exc:
        return f"refused: {exc.message} ({exc.file})"
    return json.dumps(
        {
            "projects": [
                {
                    "name": p.name,
                    "files": p.files,
                    "services": {n: to_plain(d.spec) for n, d in p.services.items()},
                }
                for p in loaded.projects
            ],
            "warnings": [str(w) for w in loaded.warnings],
            "variables": loaded.variables,
        },
        sort_keys=True,
        default=str,
    )


def _reused(base: dict[str, str], head: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Load base then head through one cache; head must judge as a fresh load of it.
    Returns how many projects the head reused."""
    count = 0
    original = load._Loader._replay

    def counting(self: load._Loader, memo: object) -> bool:
        nonlocal count
        done = original(self, memo)  # type: ignore[arg-type]
        count += done
        return done

    monkeypatch.setattr(load._Loader, "_replay", counting)
    cache = ComposeCache()
    _judged(MemorySource(base), cache)
    count = 0
    shared = _judged(MemorySource(head), cache)
    assert shared == _judged(MemorySource(head), None)
    return count


def _project(name: str, image: str = "nginx:1.25", extra: str = "") -> str:
    return (
        f"name: {name}\n"
        "include:\n  - path: ../shared/data.yml\n    env_file: ../shared/data.env\n"
        f"services:\n  web-{name}:\n    image: {image}\n    environment:\n"
        f"      MODE: ${{MODE}}\n{extra}"
    )


SHARED = {
    # one env file read by both projects' includes, one of its references unset: a warning
    # its first reader gives, once per load
    "shared/data.env": "PG=16.4\nURL=${UNSET_IN_FILE}\n",
}


def _data(project: str) -> str:
    return f"services:\n  pg-{project}:\n    image: postgres:${{PG}}\n"


def _files(first: str, second: str) -> dict[str, str]:
    return {
        **SHARED,
        "a/compose.yaml": first,
        "b/compose.yaml": second,
        "shared/data.yml": _data("x"),
        "a/.env": "MODE=${UNSET_A}\n",
        "b/.env": "MODE=b\n",
    }


def test_an_unchanged_project_is_reused_and_warns_as_a_fresh_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = _files(_project("a"), _project("b"))
    head = _files(_project("a", "nginx:1.27"), _project("b"))
    # the include names the same file in both projects: two projects named pg-x refuse,
    # so each project includes its own copy of the data file
    base["a/compose.yaml"] = base["a/compose.yaml"].replace("shared/data.yml", "shared/a.yml")
    head["a/compose.yaml"] = head["a/compose.yaml"].replace("shared/data.yml", "shared/a.yml")
    for files in (base, head):
        files["shared/a.yml"] = _data("a")
    assert _reused(base, head, monkeypatch) == 1


def test_a_reused_project_reads_the_env_file_the_changed_one_stopped_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the base the first project read the shared env file (and warned); on the head
    it no longer does, so the reused second project reads it and gives the warning."""
    base = _files(_project("a"), _project("b"))
    base["a/compose.yaml"] = base["a/compose.yaml"].replace("shared/data.yml", "shared/a.yml")
    base["shared/a.yml"] = _data("a")
    head = dict(base)
    head["a/compose.yaml"] = "name: a\nservices:\n  web-a:\n    image: nginx:1.27\n"
    assert _reused(base, head, monkeypatch) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.update({"shared/data.env": "PG=17.0\n"}),  # a shared env file
        lambda f: f.pop("b/.env"),  # an env file gone
        lambda f: f.update({"shared/data.yml": _data("y")}),  # an included file
        lambda f: f.update({"b/compose.override.yaml": "services: {}\n"}),  # files grouped anew
    ],
)
def test_a_project_whose_inputs_changed_is_loaded_again(
    monkeypatch: pytest.MonkeyPatch, change: object
) -> None:
    base = _files(_project("a"), _project("b"))
    base["a/compose.yaml"] = base["a/compose.yaml"].replace("shared/data.yml", "shared/a.yml")
    base["shared/a.yml"] = _data("a")
    head = dict(base)
    change(head)  # type: ignore[operator]
    reused = _reused(base, head, monkeypatch)
    # project a reads neither the shared data file nor b's files: only a shared env
    # file change reaches it
    assert reused == (0 if "PG=17.0" in head["shared/data.env"] else 1)


def test_a_limit_a_reuse_would_cross_is_refused_as_a_fresh_load_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service limit counts reused projects too: the head's refusal is the fresh
    load's, word for word."""
    base = {
        "a/compose.yaml": "services:\n  one: {image: x:1}\n  two: {image: x:1}\n",
        "b/compose.yaml": "services:\n  three: {image: x:1}\n  four: {image: x:1}\n",
    }
    head = dict(base)
    head["a/compose.yaml"] += "  five: {image: x:1}\n"
    monkeypatch.setattr(load, "MAX_SERVICES", 4)
    _reused(base, head, monkeypatch)
    assert "more than 4 services" in _judged(MemorySource(head), None)


def test_a_cached_interpolation_spends_the_budget_a_fresh_one_spends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unchanged project (its interpolated documents cached, or the project reused)
    spends the expansion budget again, so a head crossing it is refused as a fresh load
    refuses it, at the same file and line."""
    from stategate.compose import interpolate

    monkeypatch.setattr(load, "ExpansionBudget", lambda: interpolate.ExpansionBudget(3000))
    value = "v" * 100

    def compose(name: str, count: int) -> str:
        env = "".join(f"      K{i}: ${{V}}\n" for i in range(count))
        return f"services:\n  {name}:\n    image: nginx:1.25\n    environment:\n{env}"

    base = {
        "a/compose.yaml": compose("a", 20),
        "a/.env": f"V={value}\n",
        "b/.env": f"V={value}\n",
        "b/compose.yaml": "services:\n  b:\n    image: nginx:1.25\n",
    }
    head = {**base, "b/compose.yaml": compose("b", 15)}
    _reused(base, head, monkeypatch)
    assert "more than 3000 characters" in _judged(MemorySource(head), None)


def test_a_project_that_failed_its_checks_is_never_reused() -> None:
    """A project refused after loading (here: a dependency on no service) is refused by
    every later load through the same cache, as a fresh load refuses it."""
    files = {"a/compose.yaml": "services:\n  web:\n    image: nginx:1\n    depends_on: [nope]\n"}
    cache = ComposeCache()
    fresh = _judged(MemorySource(files), None)
    assert fresh.startswith("refused: ") and "nope" in fresh
    assert _judged(MemorySource(files), cache) == fresh
    assert _judged(MemorySource(files), cache) == fresh


def test_a_document_extended_many_times_spends_its_budget_once_per_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ``extends`` base file read by five services is interpolated once per load, so
    its expansion counts once, with a shared cache or without."""
    from stategate.compose import interpolate

    monkeypatch.setattr(load, "ExpansionBudget", lambda: interpolate.ExpansionBudget(1500))
    template = "services:\n  base:\n    environment:\n" + "".join(
        f"      K{i}: ${{V}}\n" for i in range(10)
    )  # 10 x 100 characters
    users = "".join(
        f"  s{i}:\n    extends: {{file: base.yml, service: base}}\n    image: x:1\n"
        for i in range(5)
    )
    base = {
        "a/base.yml": template,
        "a/.env": f"V={'v' * 100}\n",
        "a/compose.yaml": "services:\n" + users,
        "b/compose.yaml": "services:\n  b:\n    image: nginx:1.25\n",
    }
    head = {**base, "b/compose.yaml": "services:\n  b:\n    image: nginx:1.27\n"}
    assert not _judged(MemorySource(base), None).startswith("refused")
    assert _reused(base, head, monkeypatch) == 1
    assert not _judged(MemorySource(head), None).startswith("refused")
