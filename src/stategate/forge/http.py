"""The one edge that talks to a forge's REST API (stdlib ``urllib``, no new dependency).

Retries 429 and 5xx with bounded exponential backoff, honouring ``Retry-After``; follows
``Link: rel="next"`` pages on the same origin only (the token never goes elsewhere);
turns 401/403/404 into one line that says what to fix. The token is sent only in the
``Authorization`` header and masked out of every message.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stategate import __version__
from stategate.errors import ExitCode, StategateError
from stategate.execute import mask

log = logging.getLogger("stategate.forge")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 5
BACKOFF_BASE = 1.0  # seconds: 1, 2, 4, 8 between the five attempts
MAX_DELAY = 60.0  # never wait longer than this for one retry, whatever Retry-After says
MAX_PAGES = 100  # a list longer than this many pages is not a PR's comments: stop
TIMEOUT = 30.0
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class ForgeError(StategateError):
    """The forge refused or failed: a token, a permission, a name, an outage (exit 2)."""

    exit_code = ExitCode.INPUT_ERROR

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """One API call, as data: dry-run prints it, a real run sends it."""

    method: str
    path: str  # under the API base, already quoted, with any query
    body: Mapping[str, Any] | None = None
    permission: str = ""  # what the token needs for it, named in a 403


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any


@dataclass
class Client:
    base_url: str  # e.g. https://api.github.com or https://forge.example/api/v1
    token: str
    headers: Mapping[str, str]
    auth_scheme: str  # "Bearer" (GitHub) or "token" (Gitea, Forgejo)
    repo: str  # OWNER/NAME and PR, for error messages
    pr: int
    sleep: Callable[[float], None] = time.sleep
    max_attempts: int = MAX_ATTEMPTS
    backoff: float = BACKOFF_BASE

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._origin = _origin(self.base_url)

    def send(self, request: Request) -> Response:
        return self._send(request.method, self.base_url + request.path, request)

    def get_optional(self, path: str, permission: str) -> Response | None:
        """A GET whose 403 or 404 means "not available to this token", not a failure."""
        try:
            return self.send(Request("GET", path, None, permission))
        except ForgeError as exc:
            if exc.status in (403, 404):
                return None
            raise

    def get_all(self, path: str, permission: str) -> list[Any]:
        """Every item of a list endpoint, following ``rel="next"`` links."""
        items: list[Any] = []
        url: str | None = self.base_url + path
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = self._send("GET", url, Request("GET", path, None, permission))
            if not isinstance(response.data, list):
                raise ForgeError(f"{self._where(path)}: expected a JSON list from the forge")
            items.extend(response.data)
            url = self._next(response.headers.get("link", ""))
        raise ForgeError(f"{self._where(path)}: more than {MAX_PAGES} pages; refusing to go on")

    def _next(self, link: str) -> str | None:
        match = _LINK_NEXT.search(link)
        if not match:
            return None
        url: str = urllib.parse.urljoin(self.base_url + "/", str(match.group(1)))
        if _origin(url) != self._origin:  # never hand the token to another host
            raise ForgeError(f"the forge's next-page link leaves {self._origin}; refusing it")
        return url

    def _send(self, method: str, url: str, request: Request) -> Response:
        data = None
        headers = {
            **self.headers,
            "Authorization": self._authorization(),
            "User-Agent": f"stategate/{__version__}",
        }
        if request.body is not None:
            data = json.dumps(request.body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        for attempt in range(1, self.max_attempts + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with _OPENER.open(req, timeout=TIMEOUT) as raw:
                    body = raw.read()
                    return Response(raw.status, _lower(raw.headers), _json(body))
            except urllib.error.HTTPError as exc:
                status = exc.code
                response_headers = _lower(exc.headers)
                detail = _message(exc.read())
                exc.close()
                if not self._retryable(status, response_headers) or attempt == self.max_attempts:
                    raise self._error(status, request, detail, response_headers) from None
                delay = self._delay(attempt, response_headers)
                log.debug(
                    "%s %s: HTTP %s, retry %d in %.1fs",
                    method,
                    request.path,
                    status,
                    attempt,
                    delay,
                )
            except (
                TimeoutError,
                urllib.error.URLError,
                ConnectionError,
                http.client.HTTPException,
            ) as exc:
                reason = printable(str(getattr(exc, "reason", exc)))
                if attempt == self.max_attempts:
                    raise ForgeError(
                        self._mask(f"cannot reach the forge at {self._origin}: {reason}")
                    ) from None
                delay = self._delay(attempt, {})
                log.debug(
                    "%s %s: %s, retry %d in %.1fs", method, request.path, reason, attempt, delay
                )
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _authorization(self) -> str:
        return f"{self.auth_scheme} {self.token}"

    def _retryable(self, status: int, headers: Mapping[str, str]) -> bool:
        if status in RETRY_STATUSES:
            return True
        # GitHub's rate limits answer 403 too, and say so in their headers
        return status == 403 and (
            "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"
        )

    def _delay(self, attempt: int, headers: Mapping[str, str]) -> float:
        delay: float = self.backoff * float(2 ** (attempt - 1))
        retry_after = _retry_after(headers)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, MAX_DELAY)

    def _where(self, path: str) -> str:
        return path.split("?", 1)[0]

    def _error(
        self, status: int, request: Request, detail: str, headers: Mapping[str, str]
    ) -> ForgeError:
        what = f"{request.method} {self._where(request.path)}"
        server = f" (forge said: {detail})" if detail else ""
        if status in (403, 429) and self._retryable(403, headers):
            text = f"{what}: HTTP {status}: still rate limited after {self.max_attempts} attempts{server}"
        elif status == 401:
            text = f"{what}: HTTP 401: the forge rejected the token (expired, revoked or mistyped)"
        elif status == 403:
            need = f"; it needs {request.permission}" if request.permission else ""
            text = f"{what}: HTTP 403: the token lacks permission{need}{server}"
        elif status == 404:
            text = (
                f"{what}: HTTP 404: repository {self.repo} or PR #{self.pr} not found, "
                f"or the token cannot see it{server}"
            )
        elif status in RETRY_STATUSES:
            text = f"{what}: HTTP {status} after {self.max_attempts} attempts; the forge is failing{server}"
        elif 300 <= status < 400:
            text = f"{what}: HTTP {status}: the forge redirects; give the API URL it redirects to"
        else:
            text = f"{what}: HTTP {status}{server}"
        return ForgeError(self._mask(text), status=status)

    def _mask(self, text: str) -> str:
        return mask(text, [self.token])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the Authorization header to wherever it points: refuse it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers.items() if headers else [])}


def _json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ForgeError("the forge answered with something that is not JSON") from None


def _message(body: bytes) -> str:
    """The forge's own short explanation, if it gave one (one line, bounded)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    text = data.get("message", "") if isinstance(data, dict) else ""
    return " ".join(printable(str(text)).split())[:200]


def printable(text: str) -> str:
    """``text`` without control characters (an ESC sequence from a server would drive
    the operator's terminal): line breaks and tabs become spaces, the rest is dropped."""
    return "".join(c if c.isprintable() else " " if c in "\t\n\r" else "" for c in text)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        reset = headers.get("x-ratelimit-reset")
        if headers.get("x-ratelimit-remaining") == "0" and reset and reset.isdigit():
            return max(0.0, int(reset) - time.time())
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
