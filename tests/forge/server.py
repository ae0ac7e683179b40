"""A forge for the tests: the endpoints ``publish`` uses, with state kept in memory.

Every request is checked against the forge's own vendored API description
(``schemas/*.json``): the operation must exist, path and query parameters must be
declared and well typed, and the JSON body must validate against the operation's
schema. A request that does not is answered 422 and recorded in ``violations``; the
tests assert there are none.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMAS = Path(__file__).resolve().parent / "schemas"
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status`` instead."""

    status: int
    times: int = 1
    method: str | None = None
    path_contains: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # what the forge says (default: "injected STATUS")


@dataclass
class Seen:
    method: str
    path: str  # decoded path, without the API prefix
    query: dict[str, list[str]]
    body: Any
    operation: str
    authorization: str


@dataclass
class _Operation:
    template: str
    method: str
    spec: dict[str, Any]
    pattern: re.Pattern[str]
    pointer: str  # JSON pointer of the operation in the description


class FakeForge:
    def __init__(
        self,
        dialect: str,
        token: str,
        *,
        owner: str = "acme",
        name: str = "platform",
        pr: int = 7,
        page_size: int = 2,
    ) -> None:
        self.dialect = dialect
        self.family = "github" if dialect == "github" else "gitea"
        self.token = token
        self.owner, self.name, self.pr = owner, name, pr
        self.page_size = page_size
        self.doc: dict[str, Any] = json.loads((SCHEMAS / f"{dialect}.json").read_text("utf-8"))
        self.prefix = "" if self.family == "github" else "/api/v1"
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:api", Resource.from_contents(self.doc, default_specification=DRAFT4)
        )
        self.operations = [
            _Operation(
                template,
                method.upper(),
                spec,
                re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$"),
                "/paths/" + template.replace("~", "~0").replace("/", "~1") + "/" + method,
            )
            for template, item in self.doc["paths"].items()
            for method, spec in item.items()
            if method != "parameters"
        ]
        self.lock = threading.Lock()
        self.comments: list[dict[str, Any]] = []
        self.repo_labels: list[dict[str, Any]] = []
        self.pr_labels: list[int] = []  # ids of repo labels
        self.statuses: list[dict[str, Any]] = []
        self.seen: list[Seen] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.forbidden: set[str] = set()  # "comments", "labels", "statuses": answered 403
        self.login = "stategate-bot"  # the user the token acts as
        self.whoami_forbidden = False  # as GET /user is for GitHub Actions' own token
        self.pr_head = "3f" * 20  # the PR's current head commit
        self.pr_state = "open"
        self.pr_merged = False
        self._next_id = 1000
        self.server: ThreadingHTTPServer | None = None

    # --- state helpers for the tests ---------------------------------------------------

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_repo_label(self, name: str, color: str = "ededed") -> dict[str, Any]:
        label = {"id": self.new_id(), "name": name, "color": color, "description": ""}
        self.repo_labels.append(label)
        return label

    def add_comment(self, body: str, user: str = "someone") -> dict[str, Any]:
        comment = {"id": self.new_id(), "body": body, "user": {"login": user}}
        self.comments.append(comment)
        return comment

    def label_names(self) -> list[str]:
        by_id = {label["id"]: label["name"] for label in self.repo_labels}
        return sorted(by_id[i] for i in self.pr_labels)

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method in WRITES]

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def __enter__(self) -> FakeForge:
        forge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                forge.handle(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    # --- the HTTP side -------------------------------------------------------------------

    def handle(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        status, headers, payload = self._answer(http, split.path, parse_qs(split.query), raw)
        data = b"" if payload is None else json.dumps(payload).encode()
        http.send_response(status)
        for key, value in headers.items():
            http.send_header(key, value)
        if payload is not None:
            http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        http.wfile.write(data)

    def _violation(self, text: str) -> tuple[int, dict[str, str], Any]:
        self.violations.append(text)
        return 422, {}, {"message": f"schema violation: {text}"}

    def _answer(
        self, http: BaseHTTPRequestHandler, raw_path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        method = http.command
        if not raw_path.startswith(self.prefix):
            return self._violation(f"{method} {raw_path}: outside the API base {self.prefix}")
        path = raw_path[len(self.prefix) :]
        found = [
            (op, m)
            for op in self.operations
            if op.method == method and (m := op.pattern.match(path))
        ]
        if not found:
            return self._violation(f"{method} {path}: no such operation in the {self.dialect} API")
        op, match = found[0]
        names = re.findall(r"\{([^}]+)\}", op.template)
        params = {n: unquote(v) for n, v in zip(names, match.groups(), strict=True)}
        body: Any = None
        if raw:
            if http.headers.get("Content-Type", "").split(";")[0] != "application/json":
                return self._violation(f"{method} {path}: a body that is not application/json")
            body = json.loads(raw)
        with self.lock:
            self.seen.append(
                Seen(method, path, query, body, op.template, http.headers.get("Authorization", ""))
            )
            problem = self._validate(op, params, query, body)
            if problem:
                return self._violation(f"{method} {op.template}: {problem}")
            scheme = "Bearer" if self.family == "github" else "token"
            if http.headers.get("Authorization") not in (
                f"{scheme} {self.token}",
                f"token {self.token}",
            ):
                return 401, {}, {"message": "Bad credentials"}
            for fault in self.faults:
                if (
                    fault.times > 0
                    and (fault.method in (None, method))
                    and (fault.path_contains is None or fault.path_contains in path)
                ):
                    fault.times -= 1
                    message = fault.message or f"injected {fault.status}"
                    return fault.status, fault.headers, {"message": message}
            if "owner" in params and (
                params["owner"] != self.owner or params.get("repo") != self.name
            ):
                return 404, {}, {"message": "Not Found"}
            return self._serve(method, op.template, params, query, body, path)

    # --- validation against the description ------------------------------------------

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.registry.resolver().lookup("urn:api" + node["$ref"]).contents
        return node

    def _validate(
        self,
        op: _Operation,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
    ) -> str | None:
        declared = [self._resolve(p) for p in op.spec.get("parameters", [])]
        by_place: dict[str, dict[str, dict[str, Any]]] = {}
        for p in declared:
            by_place.setdefault(p["in"], {})[p["name"]] = p
        for name, value in params.items():
            spec = by_place.get("path", {}).get(name)
            if spec is None:
                return f"path parameter {name} is not declared"
            if _type(spec) == "integer" and not value.isdigit():
                return f"path parameter {name}={value!r} is not an integer"
        for name, values in query.items():
            spec = by_place.get("query", {}).get(name)
            if spec is None:
                return f"query parameter {name} is not declared"
            if _type(spec) == "integer" and not all(v.isdigit() for v in values):
                return f"query parameter {name}={values!r} is not an integer"
        schema_pointer: str | None = None
        required = False
        if self.family == "github":
            request_body = op.spec.get("requestBody")
            if request_body is not None:
                required = bool(request_body.get("required"))
                schema_pointer = op.pointer + "/requestBody/content/application~1json/schema"
        else:
            for index, p in enumerate(op.spec.get("parameters", [])):
                if p.get("in") == "body":
                    required = bool(p.get("required"))
                    schema_pointer = f"{op.pointer}/parameters/{index}/schema"
        if body is None:
            return "a request body is required" if required else None
        if schema_pointer is None:
            return "a body where the operation takes none"
        validator_class = OAS30Validator if self.family == "github" else jsonschema.Draft4Validator
        validator = validator_class({"$ref": "urn:api#" + schema_pointer}, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            return f"body does not match the schema: {errors[0].message}"
        return None

    # --- the forge's behaviour -------------------------------------------------------

    def _page(
        self, items: list[Any], query: dict[str, list[str]], path: str, size_param: str
    ) -> tuple[int, dict[str, str], Any]:
        asked = int(query.get(size_param, ["30"])[0])
        size = max(1, min(asked, self.page_size))
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * size : page * size]
        headers = {"X-Total-Count": str(len(items))}
        if page * size < len(items):
            headers["Link"] = f'<{self.url}{path}?{size_param}={asked}&page={page + 1}>; rel="next"'
        return 200, headers, chunk

    def _label(self, label: dict[str, Any]) -> dict[str, Any]:
        return {**label, "color": label["color"].lstrip("#")}  # both answer without the '#'

    def _serve(
        self,
        method: str,
        template: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
        path: str,
    ) -> tuple[int, dict[str, str], Any]:
        if template == "/user":
            if self.whoami_forbidden:
                return 403, {}, {"message": "Resource not accessible by integration"}
            return 200, {}, {"login": self.login, "id": 1}
        if "/pulls/" in template:
            number = params.get("pull_number") or params.get("index")
            if number is None or int(number) != self.pr:
                return 404, {}, {"message": "Not Found"}
            return (
                200,
                {},
                {
                    "number": self.pr,
                    "state": self.pr_state,
                    "merged": self.pr_merged,
                    "head": {"sha": self.pr_head, "ref": "feature"},
                },
            )
        kind = (
            "statuses"
            if "/statuses/" in template
            else "labels"
            if "labels" in template
            else "comments"
        )
        if kind in self.forbidden and method in WRITES:
            return 403, {}, {"message": "Resource not accessible by integration"}
        issue = params.get("issue_number") or params.get("index")
        if issue is not None and int(issue) != self.pr:
            return 404, {}, {"message": "Not Found"}
        by_name = {label["name"].casefold(): label for label in self.repo_labels}
        size_param = "per_page" if self.family == "github" else "limit"
        if template.endswith("/comments") and method == "GET":
            if self.family == "gitea":  # Gitea's issue comments come whole
                return 200, {}, list(self.comments)
            return self._page(list(self.comments), query, path, size_param)
        if template.endswith("/comments") and method == "POST":
            return 201, {}, self.add_comment(body["body"], user=self.login)
        if "/issues/comments/" in template:
            comment = next(
                (
                    c
                    for c in self.comments
                    if str(c["id"]) == params.get("comment_id", params.get("id"))
                ),
                None,
            )
            if comment is None:
                return 404, {}, {"message": "Not Found"}
            if method == "PATCH":
                comment["body"] = body["body"]
                return 200, {}, comment
            self.comments.remove(comment)
            return 204, {}, None
        if template.endswith("/{owner}/{repo}/labels"):
            if method == "GET":
                return self._page(
                    [self._label(label) for label in self.repo_labels], query, path, size_param
                )
            if body["name"].casefold() in by_name:
                return 422, {}, {"message": "Validation Failed: already_exists"}
            return 201, {}, self.add_repo_label(body["name"], body.get("color", "ededed"))
        if template.endswith("/labels") and method == "GET":
            labels = [
                self._label(label) for label in self.repo_labels if label["id"] in self.pr_labels
            ]
            if self.family == "gitea":
                return 200, {}, labels
            return self._page(labels, query, path, size_param)
        if template.endswith("/labels") and method == "POST":
            for name in body["labels"]:
                label = by_name.get(str(name).casefold())
                if label is None:
                    return 422, {}, {"message": f"label {name} does not exist"}
                if label["id"] not in self.pr_labels:
                    self.pr_labels.append(label["id"])
            return 200, {}, [self._label(x) for x in self.repo_labels if x["id"] in self.pr_labels]
        if "/labels/" in template:
            if self.family == "github":
                label = by_name.get(params["name"].casefold())
            else:
                label = next((x for x in self.repo_labels if str(x["id"]) == params["id"]), None)
            if label is None or label["id"] not in self.pr_labels:
                return 404, {}, {"message": "Label does not exist"}
            self.pr_labels.remove(label["id"])
            return (200, {}, []) if self.family == "github" else (204, {}, None)
        if "/statuses/" in template:
            status = {"id": self.new_id(), "sha": params["sha"], **body}
            self.statuses.append(status)
            return 201, {}, status
        return self._violation(f"{method} {template}: not served by the fake forge")


def _type(spec: dict[str, Any]) -> str | None:
    schema = spec.get("schema", spec)
    value = schema.get("type")
    return value if isinstance(value, str) else None
