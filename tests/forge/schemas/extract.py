"""Cut the operations ``stategate publish`` uses out of the forges' API descriptions.

Run it again when a description moves on (see NOTICE for where each comes from)::

    python tests/forge/schemas/extract.py --github api.github.com.json \
        --gitea gitea-swagger.v1.json --forgejo forgejo-swagger.v1.json

Each output keeps the chosen paths and methods whole, with every component they
reference (transitively), so the test server validates requests against the forge's
own definitions, not against a copy retyped by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

GITHUB_OPERATIONS = {
    "/user": ("get",),
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": ("get", "post"),
    "/repos/{owner}/{repo}/issues/comments/{comment_id}": ("patch", "delete"),
    "/repos/{owner}/{repo}/issues/{issue_number}/labels": ("get", "post"),
    "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}": ("delete",),
    "/repos/{owner}/{repo}/labels": ("get", "post"),
    "/repos/{owner}/{repo}/statuses/{sha}": ("post",),
    "/repos/{owner}/{repo}/pulls/{pull_number}": ("get",),
}
GITEA_OPERATIONS = {
    "/user": ("get",),
    "/repos/{owner}/{repo}/issues/{index}/comments": ("get", "post"),
    "/repos/{owner}/{repo}/issues/comments/{id}": ("patch", "delete"),
    "/repos/{owner}/{repo}/issues/{index}/labels": ("get", "post"),
    "/repos/{owner}/{repo}/issues/{index}/labels/{id}": ("delete",),
    "/repos/{owner}/{repo}/labels": ("get", "post"),
    "/repos/{owner}/{repo}/statuses/{sha}": ("post",),
    "/repos/{owner}/{repo}/pulls/{index}": ("get",),
}
TOP_KEYS = ("openapi", "swagger", "info", "basePath", "consumes", "produces")


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _pointer(doc: dict[str, Any], ref: str) -> tuple[list[str], Any]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
    node: Any = doc
    for part in parts:
        node = node[part]
    return parts, node


def subset(doc: dict[str, Any], operations: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: doc[k] for k in TOP_KEYS if k in doc}
    out["paths"] = {}
    for path, methods in operations.items():
        item = doc["paths"][path]
        kept = {m: item[m] for m in methods}
        if "parameters" in item:
            kept["parameters"] = item["parameters"]
        out["paths"][path] = kept
    pending = _refs(out["paths"])
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        parts, node = _pointer(doc, ref)
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = node
        pending |= _refs(node) - done
    return out


def _sorted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(v) for v in node]
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--github", type=Path)
    parser.add_argument("--gitea", type=Path)
    parser.add_argument("--forgejo", type=Path)
    args = parser.parse_args()
    for name, source, operations in (
        ("github", args.github, GITHUB_OPERATIONS),
        ("gitea", args.gitea, GITEA_OPERATIONS),
        ("forgejo", args.forgejo, GITEA_OPERATIONS),
    ):
        if source is None:
            continue
        doc = json.loads(source.read_text(encoding="utf-8"))
        text = json.dumps(_sorted(subset(doc, operations)), indent=1, ensure_ascii=False)
        (HERE / f"{name}.json").write_text(text + "\n", encoding="utf-8")
        print(f"{name}.json: {len(text)} characters")


if __name__ == "__main__":
    main()
