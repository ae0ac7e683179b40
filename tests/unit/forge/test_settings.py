"""Where publish sends the token: the API URL and the token, from options and CI variables."""

from __future__ import annotations

import pytest

from stategate.errors import InputError
from stategate.forge.settings import Token, api_url, ci_user, run_url, token


def test_api_url_sources_in_order() -> None:
    assert api_url("github", "https://ghe.example/api/v3/", {}) == "https://ghe.example/api/v3"
    env = {"GITHUB_API_URL": "https://api.github.com", "GITHUB_SERVER_URL": "https://x"}
    assert api_url("github", None, env) == "https://api.github.com"
    assert api_url("github", None, {"GITHUB_SERVER_URL": "https://github.com"}) == (
        "https://api.github.com"
    )
    assert api_url("github", None, {"GITHUB_SERVER_URL": "https://ghe.corp"}) == (
        "https://ghe.corp/api/v3"
    )
    forgejo = {"FORGEJO_SERVER_URL": "https://code.example/", "GITHUB_SERVER_URL": "https://no"}
    assert api_url("forgejo", None, forgejo) == "https://code.example/api/v1"
    assert api_url("gitea", None, {"GITHUB_SERVER_URL": "https://tea.example"}) == (
        "https://tea.example/api/v1"
    )
    with pytest.raises(InputError, match="no forge API URL"):
        api_url("gitea", None, {"FORGEJO_SERVER_URL": "https://only-for-forgejo"})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://forge.example/api/v1", "plain http"),
        ("ftp://forge.example", r"not an http\(s\) URL"),
        ("https://user:pw@forge.example/api/v1", "credentials in the URL"),
        ("https://forge.example/api/v1?x=1", "no query"),
    ],
)
def test_unsafe_api_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        api_url("gitea", url, {})


def test_plain_http_to_this_machine_only() -> None:
    for url in ("http://127.0.0.1:3000/api/v1", "http://localhost/api/v1", "http://[::1]:80"):
        assert api_url("gitea", url, {}) == url


def test_token_order_per_forge() -> None:
    env = {"GITHUB_TOKEN": "g", "GITEA_TOKEN": "t", "FORGEJO_TOKEN": "f"}
    assert token("github", env) == token("github", {"GITHUB_TOKEN": "g"})
    assert (token("gitea", env) or pytest.fail()).variable == "GITEA_TOKEN"
    assert (token("forgejo", env) or pytest.fail()).variable == "FORGEJO_TOKEN"
    assert (token("forgejo", {**env, "STATEGATE_FORGE_TOKEN": "s"}) or pytest.fail()).value == "s"
    assert token("github", {"GITHUB_TOKEN": "  "}) is None
    with pytest.raises(InputError) as caught:
        token("github", {"GITHUB_TOKEN": "abc def"})
    assert "abc" not in str(caught.value)


def test_run_url_and_ci_user() -> None:
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/platform",
        "GITHUB_RUN_ID": "42",
    }
    assert run_url(actions) == "https://github.com/acme/platform/actions/runs/42"
    assert run_url({**actions, "GITEA_ACTIONS": "true"}) is None
    assert run_url({**actions, "STATEGATE_TARGET_URL": "https://ci/1"}) == "https://ci/1"
    own = Token("ghs_actions", "GITHUB_TOKEN")
    actions["GITHUB_TOKEN"] = own.value
    assert ci_user("github", actions, own) == "github-actions[bot]"
    assert ci_user("forgejo", actions, own) is None and ci_user("github", {}, own) is None
    # a token that is not Actions' own GITHUB_TOKEN may act as anyone: ask, never assume
    pat = Token("ghp_personal", "STATEGATE_FORGE_TOKEN")
    assert ci_user("github", actions, pat) is None and ci_user("github", actions, None) is None


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("ftp://x:SECRET@host", "SECRET"),
        ("https://x:SE/CRET@forge.example/api/v1", "CRET"),  # '/' in the password
        ("https://[::1@SECRET", "SECRET"),
    ],
)
def test_credentials_in_the_url_are_never_echoed(url: str, secret: str) -> None:
    for forge, option, env in (("gitea", url, {}), ("github", None, {"GITHUB_API_URL": url})):
        with pytest.raises(InputError, match="credentials in the URL") as caught:
            api_url(forge, option, env)
        assert secret not in str(caught.value)


@pytest.mark.parametrize("url", ["https://[::1", "https://host:99999/api", "http://[fe80::1"])
def test_a_malformed_url_is_an_input_error(url: str) -> None:
    with pytest.raises(InputError, match="not a valid URL"):
        api_url("gitea", url, {})
