"""Read ``stategate.yaml``: defaults applied, every error reported with file, line and path,
and any relaxation of an always-manual rule found (it needs a decision record)."""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from stategate.errors import InputError
from stategate.policy.default import default_policy
from stategate.policy.schema import ALWAYS_ON_STOPS, Policy
from stategate.source import Source
from stategate.yamlfile import Loc, YMap, decode_text, line_at, loads, to_plain

POLICY_FILE = "stategate.yaml"


@dataclass(frozen=True)
class Relaxation:
    message: str
    loc: Loc

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


@dataclass
class LoadedPolicy:
    policy: Policy
    file: str | None  # None: the built-in default
    digest: str
    relaxations: list[Relaxation] = field(default_factory=list)
    locs: YMap | None = None  # the parsed file, for line lookups

    def loc_of(self, *path: str) -> Loc:
        node: Any = self.locs
        where = Loc(self.file or "<default policy>", 1)
        for key in path:
            if isinstance(node, YMap) and key in node:
                where = node.key_loc(key)
                node = node[key]
            else:
                break
        return where


class PolicyError(InputError):
    """Every validation error of a policy file, one per line."""

    def __init__(self, file: str, problems: list[str]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the policy:\n  " + "\n  ".join(problems), file=file
        )
        self.problems = problems


def policy_digest(policy: Policy) -> str:
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def load_policy(source: Source, rel: str | None = None) -> LoadedPolicy:
    """The policy in force: ``rel`` (default ``stategate.yaml``) over the built-in default."""
    path = rel or POLICY_FILE
    if not source.is_file(path):
        if rel:
            raise InputError("policy file not found", file=rel)
        policy = default_policy()
        return LoadedPolicy(policy, None, policy_digest(policy))
    doc = loads(decode_text(source.read_bytes(path), path), path)
    return parse_policy(doc, path, source)


def parse_policy(doc: Any, path: str, source: Source | None = None) -> LoadedPolicy:
    if doc is None:
        doc = YMap(Loc(path, 1))
    if not isinstance(doc, YMap):
        raise InputError("a policy must be a mapping at the top", file=path, line=1)
    base = default_policy()
    merged = _overlay(base.model_dump(mode="json"), doc)
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(path, [_describe(err, doc, path) for err in exc.errors()]) from None
    loaded = LoadedPolicy(policy, path, policy_digest(policy), locs=doc)
    loaded.relaxations = find_relaxations(loaded, base, source)
    return loaded


def _overlay(base: Any, override: Any) -> Any:
    """User values over defaults: mappings merge by key (so a class rule may set only its
    labels), everything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _overlay(base.get(key), value) if key in base else to_plain(value)
        return out
    return to_plain(override)


def _describe(err: Any, doc: YMap, path: str) -> str:
    loc_path = [str(p) for p in err.get("loc", ())]
    dotted = ".".join(loc_path) or "(top)"
    return f"{path}:{line_at(doc, loc_path)}: {dotted}: {err.get('msg', 'invalid')}"


def _cites_decision(decision: str | None, source: Source | None) -> bool:
    if not decision:
        return False
    if source is None:
        return True
    norm = posixpath.normpath(decision)
    return norm.startswith("decisions/") and source.is_file(norm)


def find_relaxations(loaded: LoadedPolicy, base: Policy, source: Source | None) -> list[Relaxation]:
    """Settings that weaken an always-manual rule of the strict default without a
    policy-level ``decision:`` naming an existing file under ``decisions/``."""
    policy = loaded.policy
    if _cites_decision(policy.decision, source):
        return []
    found: list[Relaxation] = []
    for cls, default_rule in base.classes.items():
        if not default_rule.always_manual:
            continue
        rule = policy.rule(cls)
        where = loaded.loc_of("classes", cls.value)
        if not rule.always_manual:
            found.append(
                Relaxation(
                    f"class {cls.value} is always manual; setting "
                    "always_manual: false needs a decision record",
                    where,
                )
            )
        for stage in ("merge", "apply"):
            missing = [
                r.value for r in getattr(default_rule, stage) if r not in getattr(rule, stage)
            ]
            if missing:
                found.append(
                    Relaxation(
                        f"class {cls.value} drops {stage} requirement(s) {', '.join(missing)}; "
                        "relaxing an always-manual class needs a decision record",
                        loaded.loc_of("classes", cls.value, stage),
                    )
                )
    missing_stops = [
        s.value for s in base.stops if s not in policy.stops and s not in ALWAYS_ON_STOPS
    ]
    if missing_stops:
        found.append(
            Relaxation(
                f"stop condition(s) {', '.join(missing_stops)} removed; "
                "that needs a decision record",
                loaded.loc_of("stops"),
            )
        )
    for name in ("backup_max_age_hours", "dr_drill_max_age_days", "approval_max_age_hours"):
        if getattr(policy.freshness, name) > getattr(base.freshness, name):
            found.append(
                Relaxation(
                    f"freshness.{name} is longer than the default "
                    f"({getattr(base.freshness, name)}); that needs a decision "
                    "record",
                    loaded.loc_of("freshness", name),
                )
            )
    for module_id, entry in policy.modules.items():
        for cls in entry.classes.remove:
            if policy.rule(cls).always_manual and not _cites_decision(entry.decision, source):
                found.append(
                    Relaxation(
                        f"module {module_id} removes always-manual class {cls.value}; set "
                        "decision: to a decision record under decisions/",
                        loaded.loc_of("modules", module_id, "classes"),
                    )
                )
    return found
