"""The HTTP edge in process: retries with an injected clock, errors, the schema guard."""

from __future__ import annotations

import pytest

from stategate.forge.dialects import DIALECTS, Target
from stategate.forge.document import parse_verdict
from stategate.forge.http import Client, ForgeError, Request
from stategate.forge.publish import publish
from tests.forge.conftest import FORGES, HEAD, TOKEN, verdict_doc
from tests.forge.server import FakeForge, Fault

pytestmark = pytest.mark.integration  # a real HTTP server on loopback


def client(forge: FakeForge, delays: list[float]) -> Client:
    dialect = DIALECTS[forge.dialect]
    return Client(
        forge.url,
        TOKEN,
        dialect.headers,
        dialect.auth_scheme,
        f"{forge.owner}/{forge.name}",
        forge.pr,
        sleep=delays.append,
    )


def run(forge: FakeForge, delays: list[float]) -> None:
    verdict = parse_verdict(verdict_doc("blocked", ("risk/runtime",)), "v.json")
    publish(
        verdict,
        DIALECTS[forge.dialect],
        Target(forge.owner, forge.name, forge.pr),
        HEAD,  # the PR's head: a run for an older commit would set the status only
        client=client(forge, delays),
        dry_run=False,
    )


@pytest.mark.parametrize("dialect", FORGES)
def test_429_is_retried_after_the_time_the_forge_asks(dialect: str) -> None:
    with FakeForge(dialect, TOKEN) as forge:
        forge.faults.append(Fault(429, method="POST", headers={"Retry-After": "7"}))
        delays: list[float] = []
        run(forge, delays)
        assert delays == [7.0]
        assert len(forge.comments) == 1 and len(forge.statuses) == 1
    assert forge.violations == []


@pytest.mark.parametrize("dialect", FORGES)
def test_5xx_backs_off_exponentially_then_gives_up_with_one_line(dialect: str) -> None:
    with FakeForge(dialect, TOKEN) as forge:
        forge.faults.append(Fault(502, times=2, method="GET"))
        delays: list[float] = []
        run(forge, delays)  # two failures, then it goes through
        assert delays == [1.0, 2.0]
        forge.faults.append(Fault(500, times=99, path_contains="/statuses/"))
        delays.clear()
        with pytest.raises(ForgeError) as caught:
            run(forge, delays)
        assert delays == [1.0, 2.0, 4.0, 8.0]  # five attempts, bounded
        message = str(caught.value)
        assert "HTTP 500 after 5 attempts" in message and "\n" not in message
        assert TOKEN not in message
        assert caught.value.exit_code == 2


def test_retry_after_is_capped() -> None:
    with FakeForge("github", TOKEN) as forge:
        forge.faults.append(Fault(503, headers={"Retry-After": "86400"}))
        delays: list[float] = []
        run(forge, delays)
        assert delays == [60.0]


def test_a_next_page_on_another_host_is_refused() -> None:
    with FakeForge("github", TOKEN) as forge:
        c = client(forge, [])
        with pytest.raises(ForgeError, match=r"leaves http://127\.0\.0\.1"):
            c._next('<https://elsewhere.example/x?page=2>; rel="next"')
        assert c._next(f'<{forge.url}/x?page=2>; rel="next"') == f"{forge.url}/x?page=2"


@pytest.mark.parametrize("dialect", FORGES)
def test_the_fake_forge_refuses_a_request_its_description_does_not_allow(dialect: str) -> None:
    """The schema guard itself can fail a test: a label whose name is not a string."""
    with FakeForge(dialect, TOKEN) as forge:
        c = client(forge, [])
        with pytest.raises(ForgeError, match="HTTP 422"):
            c.send(Request("POST", "/repos/acme/platform/labels", {"name": 5, "color": "ffffff"}))
        with pytest.raises(ForgeError, match="HTTP 422"):
            c.send(Request("GET", "/repos/acme/platform/labels?sort=name"))
        assert len(forge.violations) == 2
        assert "is not of type 'string'" in forge.violations[0] and "sort" in forge.violations[1]


def test_a_rate_limit_answered_403_is_retried_then_named() -> None:
    with FakeForge("github", TOKEN) as forge:
        limited = {"X-RateLimit-Remaining": "0", "Retry-After": "2"}
        forge.faults.append(Fault(403, times=99, method="POST", headers=limited))
        delays: list[float] = []
        with pytest.raises(ForgeError, match="HTTP 403: still rate limited after 5 attempts"):
            run(forge, delays)
        assert delays == [2.0, 2.0, 4.0, 8.0]
