"""Where to publish and with what: the API URL, the token, the CI run's URL.

The token comes from the environment only (never an option: options end up in shell
history and process lists). The API URL comes from ``--api-url`` or from what the CI
itself sets; GitHub Actions and the Gitea/Forgejo runners all set ``GITHUB_API_URL``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from stategate.errors import InputError

TOKEN_VARIABLES = {
    "github": ("STATEGATE_FORGE_TOKEN", "GITHUB_TOKEN"),
    "gitea": ("STATEGATE_FORGE_TOKEN", "GITEA_TOKEN", "GITHUB_TOKEN"),
    "forgejo": ("STATEGATE_FORGE_TOKEN", "FORGEJO_TOKEN", "GITEA_TOKEN", "GITHUB_TOKEN"),
}
SERVER_VARIABLES = {
    "github": ("GITHUB_SERVER_URL",),
    "gitea": ("GITEA_SERVER_URL", "GITHUB_SERVER_URL"),
    "forgejo": ("FORGEJO_SERVER_URL", "GITEA_SERVER_URL", "GITHUB_SERVER_URL"),
}
GITHUB_COM = "https://github.com"


@dataclass(frozen=True)
class Token:
    value: str
    variable: str


def token(forge: str, env: Mapping[str, str]) -> Token | None:
    for variable in TOKEN_VARIABLES[forge]:
        value = env.get(variable, "").strip()
        if value:
            if not value.isprintable() or any(c.isspace() for c in value):
                # it goes into an HTTP header; never echo it, even in this error
                raise InputError(f"${variable}: the token holds spaces or control characters")
            return Token(value, variable)
    return None


def api_url(forge: str, option: str | None, env: Mapping[str, str]) -> str:
    """The API base URL, checked: https, or http to this machine only."""
    if option:
        return _checked(option, "--api-url")
    if env.get("GITHUB_API_URL"):
        return _checked(env["GITHUB_API_URL"], "GITHUB_API_URL")
    for variable in SERVER_VARIABLES[forge]:
        server = env.get(variable, "").rstrip("/")
        if not server:
            continue
        if forge != "github":
            return _checked(server + "/api/v1", variable)
        if server.lower() == GITHUB_COM:
            return "https://api.github.com"
        return _checked(server + "/api/v3", variable)  # GitHub Enterprise Server
    names = ", ".join(("GITHUB_API_URL", *SERVER_VARIABLES[forge]))
    raise InputError(f"no forge API URL: pass --api-url, or run in CI that sets one of {names}")


def _checked(url: str, source: str) -> str:
    # before anything echoes the URL: an '@' is userinfo (or hides it), never repeated
    if "@" in url:
        raise InputError(
            f"{source}: credentials in the URL (it holds an '@'); give the token in the environment"
        )
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - parsing it is the check (a port out of range raises)
    except ValueError as exc:
        raise InputError(f"{source}: not a valid URL: {url!r} ({exc})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InputError(f"{source}: not an http(s) URL: {url!r}")
    if parts.query or parts.fragment:
        raise InputError(f"{source}: an API base URL has no query or fragment")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise InputError(f"{source}: plain http would send the token in clear; use https")
    return url.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_url(env: Mapping[str, str]) -> str | None:
    """The CI run's page, for the status's link: STATEGATE_TARGET_URL, else GitHub Actions'."""
    if env.get("STATEGATE_TARGET_URL"):
        return env["STATEGATE_TARGET_URL"]
    server, repo, run = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    github_actions = env.get("GITHUB_ACTIONS") == "true" and not env.get("GITEA_ACTIONS")
    if (
        github_actions and server and repo and run
    ):  # Forgejo/Gitea run pages are addressed otherwise
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
    return None


def ci_user(forge: str, env: Mapping[str, str], used: Token | None) -> str | None:
    """The user GitHub Actions' own token acts as (it may not ask ``GET /user``): only when
    the token publish uses is that GITHUB_TOKEN; any other token's user must be asked for,
    or given with --author."""
    in_actions = env.get("GITHUB_ACTIONS") == "true" and not env.get("GITEA_ACTIONS")
    github_token = env.get("GITHUB_TOKEN", "").strip()
    if forge == "github" and in_actions and used is not None and used.value == github_token:
        return "github-actions[bot]"
    return None
