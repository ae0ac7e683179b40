"""Load compose files into projects: discovery, ``-f`` merging, ``include``,
``extends``, interpolation and profiles.

Everything is read through a :class:`~stategate.source.Source`, so the same code
loads the work tree and any git revision.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stategate.compose.cache import ComposeCache, Interpolated, InterpolationKey, env_key
from stategate.compose.consistency import check_consistency
from stategate.compose.diagnostics import Diagnostics, Warning
from stategate.compose.envfile import parse_env
from stategate.compose.interpolate import ExpansionBudget, InterpolationError, interpolate_tree
from stategate.compose.memo import (
    Compose,
    EnvUsed,
    Interpolation,
    ProjectMemo,
    Read,
    Recording,
    RecordingDiagnostics,
    RecordingSource,
    Spent,
    Warned,
    same_answers,
)
from stategate.compose.merge import merge_service, merge_top
from stategate.compose.normalize import normalize_service, scalar_text
from stategate.compose.rebase import rebase_service
from stategate.compose.validation import validate_document
from stategate.errors import InputError
from stategate.source import Source, join
from stategate.yamlfile import Loc, YMap, YSeq, decode_text, loads

_DISCOVER = (
    "compose.yaml",
    "compose.yml",
    "docker-compose*.yaml",
    "docker-compose*.yml",
    "*.compose.yaml",
    "*.compose.yml",
)
_TOP_SECTIONS = ("volumes", "networks", "secrets", "configs")
# bounds on one load, far above real platforms (a few hundred services; the gate is
# measured at 10,000), so that a repo of many large compose files cannot take minutes
# and gigabytes to judge
MAX_SERVICES = 20_000
MAX_PORTS = 200_000  # published ports after ranges are expanded (8000-8100: 101)
MAX_COMPOSE_BYTES = 32 * 1024 * 1024
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # what compose accepts
_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_NAME_VARIABLE = "COMPOSE_PROJECT_NAME"


def _clip(text: str) -> str:
    return text if len(text) <= 64 else text[:60] + "..."


@dataclass
class ServiceDef:
    name: str
    file: str  # repo-relative file whose definition names this service first
    loc: Loc  # where the service key is written
    spec: YMap  # normalized, interpolated, merged definition
    # the project directory its relative paths resolve against (compose: the first -f
    # file's folder, for every file merged after it; an included file's own folder)
    directory: str = ""
    # the project's interpolation variables (env file, --env): what compose's own
    # lookups use, e.g. for references inside the service's env_file values
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Project:
    name: str
    directory: str
    files: list[str]
    services: dict[str, ServiceDef] = field(default_factory=dict)
    sections: dict[str, YMap] = field(default_factory=dict)  # volumes, networks, ...
    extensions: dict[str, Any] = field(default_factory=dict)  # top-level x-* (printed only)


@dataclass
class ComposeSet:
    projects: list[Project]
    warnings: list[Warning]
    # every interpolation variable in use (env files and --env), for masking credentials
    variables: tuple[tuple[str, str], ...] = ()


def discover(source: Source) -> list[str]:
    """Compose files of a repo: the usual names anywhere, and every YAML file under compose/."""
    found: list[str] = []
    for rel in source.list_files():
        name = posixpath.basename(rel)
        in_compose_dir = rel.startswith("compose/") or "/compose/" in rel
        if any(fnmatch.fnmatch(name, pattern) for pattern in _DISCOVER) or (
            in_compose_dir and name.endswith((".yml", ".yaml")) and rel.startswith("compose/")
        ):
            found.append(rel)
    return found


def load_compose(
    source: Source,
    files: Sequence[str] | None = None,
    *,
    env_file: str | None = None,
    profiles: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    host_variables: Sequence[str] = (),
    cache: ComposeCache | None = None,
) -> ComposeSet:
    """Load the platform's compose projects.

    With ``files`` (``-f`` or the policy's list) they form one project merged in
    order (an empty list: no project). Otherwise files are discovered and grouped by project name; files of
    one project are merged in path order, as ``docker compose -f`` would.
    ``extra_env`` (``--env KEY=VALUE``) overrides the env file's variables and, as
    compose's process environment, is what the env file's references see first;
    ``host_variables`` are set by the deploy host, so a required reference to one is
    not refused. ``cache`` shares parsed, interpolated and validated documents with other
    loads (the other side of a pull request).
    """
    diag = Diagnostics()
    loader = _Loader(
        source, diag, env_file, dict(extra_env or {}), frozenset(host_variables), cache
    )
    try:
        projects = _load(loader, source, files, profiles)
    except InputError as exc:
        # a message may quote an interpolated value (a port, a path, a name): mask the
        # credentials and the deploy host's variables among them (imported here:
        # redaction reads the classifier's credential names, which read this module)
        from stategate.redaction import credential_values, redact_text

        secrets = credential_values(loader.variables(), None)
        secrets |= {v for k, v in loader.variables() if k in loader.host and v}
        raise InputError(redact_text(exc.message, secrets), file=exc.file, line=exc.line) from None
    return ComposeSet(projects, diag.items, loader.variables())


def _load(
    loader: _Loader, source: Source, files: Sequence[str] | None, profiles: Sequence[str]
) -> list[Project]:
    key = tuple(profiles)
    if files is None:
        projects = _discovered_projects(loader, source, key)
    else:
        projects = [loader.top_project(list(files), profiles=key)] if files else []
    named: dict[str, Project] = {}
    for project in projects:
        if project.name in named:
            raise InputError(
                f"two compose projects are both named {project.name!r} "
                f"({named[project.name].files[0]} and {project.files[0]}): compose would "
                "treat them as one; give them distinct names, or list the files in the "
                "policy's compose.files",
                file=project.files[0],
            )
        named[project.name] = project
        if profiles:  # compose checks the services the profiles enable, and only those
            _apply_profiles(project, set(profiles))
        if id(project) not in loader.reused:  # a reused project passed it on its side
            check_consistency(project)
        for svc in project.services.values():
            loader.check_env_files(svc)
        memo = loader.recorded.get(id(project))
        if memo is not None:  # passed every check: another load may reuse it
            memo.checked = True
    return projects


def _discovered_projects(
    loader: _Loader, source: Source, profiles: tuple[str, ...]
) -> list[Project]:
    groups: dict[str, list[str]] = {}
    for rel in discover(source):
        if _is_override_of_sibling(rel, source):
            continue
        name = loader.peek_name(rel)
        groups.setdefault(name, []).append(rel)
    projects: list[Project] = []
    for name, members in groups.items():
        files: list[str] = []
        for rel in members:
            files.append(rel)
            override = _override_sibling(rel, source)
            if override:
                files.append(override)
        projects.append(loader.top_project(files, name_hint=name, profiles=profiles))
    return projects


def _override_sibling(rel: str, source: Source) -> str | None:
    stem, ext = posixpath.splitext(rel)
    candidate = f"{stem}.override{ext}"
    return candidate if source.is_file(candidate) else None


def _is_override_of_sibling(rel: str, source: Source) -> bool:
    stem, ext = posixpath.splitext(rel)
    if not stem.endswith(".override"):
        return False
    return source.is_file(stem[: -len(".override")] + ext)


def _apply_profiles(project: Project, active: set[str]) -> None:
    for name in list(project.services):
        profiles = project.services[name].spec.get("profiles")
        if profiles and not active.intersection(str(p) for p in profiles):
            del project.services[name]


def _refuse_nonstring_keys(node: Any, path: tuple[str, ...]) -> None:
    """Compose refuses a key written as a number, boolean or null anywhere in a compose
    file ("non-string key in services.s.environment: 123"); quote it to make it a string."""
    if isinstance(node, YMap):
        for key in sorted(node.nonstring_keys, key=lambda k: node.key_loc(k).line or 0):
            where = ".".join(path) or "the top level"
            loc = node.key_loc(key)
            raise InputError(
                f"non-string key in {where}: {_clip(key)} (quote it)", file=loc.file, line=loc.line
            )
        for key, value in node.items():
            _refuse_nonstring_keys(value, (*path, key))
    elif isinstance(node, YSeq):
        for value in node:
            _refuse_nonstring_keys(value, (*path, "[]"))


def _overriding(doc: YMap, defined: Mapping[str, ServiceDef]) -> YMap:
    """``doc`` as the schema sees it after merging: a service left empty (``a:``) in a
    later ``-f`` file overrides nothing of one defined before, which compose accepts."""
    services = doc.get("services")
    if not isinstance(services, YMap) or not any(
        services[name] is None and name in defined for name in services
    ):
        return doc
    patched = YMap(services.loc)
    for name, value in services.items():
        empty = value is None and name in defined
        patched.put(name, YMap(services.key_loc(name)) if empty else value, services.key_loc(name))
    out = YMap(doc.loc)
    for key, value in doc.items():
        out.put(key, patched if key == "services" else value, doc.key_loc(key))
    return out


def _merge_extension(old: Any, new: Any) -> Any:
    """A top-level ``x-`` key given by several ``-f`` files, merged as compose merges
    them (maps by key, lists appended, anything else replaced). Printed only."""
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge_extension(old.get(key), value)
        return merged
    if isinstance(old, list) and isinstance(new, list):
        return [*old, *new]
    return new


def _resolve_bare_environment(spec: YMap, env: Mapping[str, str]) -> None:
    """``environment: [NAME]`` takes NAME's value from the project's variables (the env
    file, ``--env``), as compose resolves it; unset, it stays without a value."""
    environment = spec.get("environment")
    if not isinstance(environment, YMap):
        return
    for key, value in environment.items():
        if value is None and key in env:
            environment.put(
                key, env[key], environment.key_loc(key), environment.directives.get(key)
            )


def _default_project_name(directory: str, root_name: str) -> str:
    base = posixpath.basename(directory) if directory else root_name
    return re.sub(r"[^a-z0-9_-]", "", base.lower()).lstrip("_-") or "default"


class _Loader:
    def __init__(
        self,
        source: Source,
        diag: Diagnostics,
        env_file: str | None,
        extra_env: dict[str, str],
        host: frozenset[str] = frozenset(),
        cache: ComposeCache | None = None,
    ) -> None:
        # every answer and warning is noted into the recordings of the projects being
        # loaded (compose.memo): the other side of a pull request may reuse them
        self.source = RecordingSource(source)
        self.cache = cache if cache is not None else ComposeCache()
        self.host = host
        self.diag: Diagnostics = RecordingDiagnostics(diag, self.source)
        self.env_file = env_file
        self.extra_env = extra_env
        self._raw: dict[str, Any] = {}
        self._data: dict[str, bytes] = {}  # the bytes each raw document was parsed from
        self._env_cache: dict[str, dict[str, str]] = {}
        self._env_bytes: dict[str, bytes] = {}  # the bytes each cached env file was read from
        # interpolated documents whose budget this load has spent (once per load, as
        # interpolating each once would)
        self._charged: set[InterpolationKey] = set()
        self.reused: set[int] = set()  # ids of the projects reused from the cache
        self.recorded: dict[int, ProjectMemo] = {}  # id of a project loaded here -> its memo
        self.budget = ExpansionBudget()  # for every interpolation of this load
        self._bytes = 0  # compose bytes read
        self._services = 0  # service definitions loaded
        self._ports = 0  # ports of those definitions, ranges expanded

    def variables(self) -> tuple[tuple[str, str], ...]:
        """Every (name, value) of the env files read so far and of ``--env``."""
        pairs = {(k, v) for env in self._env_cache.values() for k, v in env.items()}
        pairs.update(self.extra_env.items())
        return tuple(sorted(pairs))

    # -- files -----------------------------------------------------------
    def raw(self, rel: str) -> Any:
        if rel in self._raw:
            self.source.note(Read("file", rel, self._data[rel]))
        else:
            try:
                data = self.source.read_bytes(rel)
            except FileNotFoundError:
                raise InputError("compose file not found", file=rel) from None
            self._bytes += len(data)
            if self._bytes > MAX_COMPOSE_BYTES:
                raise InputError(
                    f"compose files total more than {MAX_COMPOSE_BYTES} bytes; refused", file=rel
                )
            doc = self.cache.parsed.get((rel, data))
            if doc is None:
                doc = self._parse(rel, data)
                self.cache.parsed[(rel, data)] = doc
            self._raw[rel] = doc
            self._data[rel] = data
        self.source.note(Compose(rel, len(self._data[rel])))
        return self._raw[rel]

    @staticmethod
    def _parse(rel: str, data: bytes) -> YMap:
        doc = loads(decode_text(data, rel), rel)
        if doc is None:
            doc = YMap(Loc(rel, 1))
        if not isinstance(doc, YMap):
            raise InputError("a compose file must be a mapping at the top", file=rel, line=1)
        _refuse_nonstring_keys(doc, ())
        return doc

    def peek_name(self, rel: str) -> str:
        name = scalar_text(self.raw(rel).get("name"))
        if name and "$" not in name:
            return name
        return _default_project_name(posixpath.dirname(rel), self.source.root_name)

    def env_for(self, directory: str, explicit: str | None = None) -> dict[str, str]:
        """Variables for interpolation: the given env file (compose's ``--env-file``),
        else ``.env`` in the project directory, as compose reads them (not the repo
        root's: compose does not read it either). The process environment is not used:
        the gate judges the repo, not the shell it runs in (``--env`` stands for it)."""
        chosen = explicit or self.env_file
        candidates = [chosen] if chosen else [join(directory, ".env")]
        for rel in candidates:
            if rel is None:
                continue
            if rel in self._env_cache:
                self.source.note(Read("exists", rel, True))
                self.source.note(Read("file", rel, self._env_bytes[rel]))
                self.source.note(EnvUsed(rel))
                return self._env_cache[rel]
            if self.source.is_file(rel):
                data = self.source.read_bytes(rel)
                self.source.note(EnvUsed(rel))
                return self._parse_env(rel, data)
            if chosen:
                raise InputError("env file not found", file=rel)
        return dict(self.extra_env)

    def _parse_env(self, rel: str, data: bytes) -> dict[str, str]:
        text = decode_text(data, rel)
        # compose looks references up in the process environment first;
        # stategate's stand-in for it is --env, which also wins over the file
        env = parse_env(text, rel, self.diag, lookup=self.extra_env, host=self.host)
        env.update(self.extra_env)
        self._env_cache[rel] = env
        self._env_bytes[rel] = data
        return env

    def document(self, rel: str, env: Mapping[str, str]) -> YMap:
        """``rel`` interpolated with ``env``: once per file and variables (an ``extends``
        base file is read by every service extending it), its warnings replayed."""
        raw = self.raw(rel)
        key = (rel, self._data[rel], env_key(env), self.host)
        done = self.cache.interpolated.get(key)
        if done is None:
            diag = Diagnostics()
            spends: list[tuple[Loc, int]] = []
            self.budget.log = spends
            try:
                doc = interpolate_tree(raw, env, diag, Loc(rel, 1), self.budget, self.host)
            finally:
                self.budget.log = None
            assert isinstance(doc, YMap)
            done = Interpolated(doc, diag.items, tuple(spends))
            self.cache.interpolated[key] = done
            self._charged.add(key)
        elif key not in self._charged:
            # interpolated by another load: this load spends what interpolating it here
            # would, once, and is refused where it would be
            self._charged.add(key)
            for loc, chars in done.spends:
                try:
                    self.budget.spend(chars)
                except InterpolationError as exc:
                    raise InputError(str(exc), file=loc.file, line=loc.line) from None
        self.source.note(Interpolation(key))
        for warning in done.warnings:
            self.diag.warn(warning.loc, warning.message)
        return done.document

    # -- projects --------------------------------------------------------
    def top_project(
        self, files: list[str], *, name_hint: str | None = None, profiles: tuple[str, ...] = ()
    ) -> Project:
        """:meth:`project`, or the same project another load of this cache loaded from
        the same inputs (``compose.memo``), replayed into this load."""
        key = (
            tuple(files),
            name_hint,
            profiles,
            self.env_file,
            frozenset(self.extra_env.items()),
            self.host,
            self.source.root_name,
        )
        memo = self.cache.projects.get(key)
        if memo is not None and memo.checked and self._replay(memo):
            self.reused.add(id(memo.project))
            return memo.project
        recording = Recording()
        services, ports = self._services, self._ports
        self.source.open.append(recording)
        try:
            project = self.project(files, name_hint=name_hint)
        finally:
            self.source.open.remove(recording)
        memo = ProjectMemo(recording, project, self._services - services, self._ports - ports)
        self.cache.projects[key] = memo
        self.recorded[id(project)] = memo
        return project

    def _replay(self, memo: ProjectMemo) -> bool:
        """Replay ``memo`` into this load when this side answers every read as it did
        and no limit would be crossed (else False, and nothing was changed)."""
        events = memo.recording.events
        if not same_answers(memo.recording.reads(), self.source.inner):
            return False
        first_reads = {e.rel: e.size for e in events if isinstance(e, Compose)}
        added = sum(size for rel, size in first_reads.items() if rel not in self._raw)
        spent = sum(e.chars for e in events if isinstance(e, Spent))
        uncharged = {e.key for e in events if isinstance(e, Interpolation)} - self._charged
        spent += sum(c for k in uncharged for _loc, c in self.cache.interpolated[k].spends)
        if (
            self._bytes + added > MAX_COMPOSE_BYTES
            or self._services + memo.services > MAX_SERVICES
            or self._ports + memo.ports > MAX_PORTS
            or spent > self.budget.remaining
        ):
            return False  # loaded again: it fails where a fresh load fails
        for event in events:
            if isinstance(event, Compose):
                self.raw(event.rel)
            elif isinstance(event, EnvUsed) and event.rel not in self._env_cache:
                self._parse_env(event.rel, self.source.inner.read_bytes(event.rel))
            elif isinstance(event, Warned):
                self.diag.warn(event.warning.loc, event.warning.message)
            elif isinstance(event, Spent):
                self.budget.spend(event.chars)
            elif isinstance(event, Interpolation) and event.key not in self._charged:
                self._charged.add(event.key)
                self.budget.spend(sum(c for _loc, c in self.cache.interpolated[event.key].spends))
        self._services += memo.services
        self._ports += memo.ports
        return True

    def project(
        self,
        files: list[str],
        *,
        name_hint: str | None = None,
        env: Mapping[str, str] | None = None,
        stack: tuple[str, ...] = (),
    ) -> Project:
        directory = posixpath.dirname(files[0])
        # a copy: the project's name is added to it, never to the env file's cached variables
        env = dict(env) if env is not None else dict(self.env_for(directory))
        name = env.get(_NAME_VARIABLE) or self._yaml_name(files, env)
        if name and "$" not in name and not _PROJECT_NAME.fullmatch(name):
            raise InputError(
                f"invalid project name {_clip(name)!r}: compose allows only lowercase "
                "letters, digits, '_' and '-', starting with a letter or digit",
                file=files[0],
            )
        project_name = name or name_hint or _default_project_name(directory, self.source.root_name)
        # compose interpolates with the project's name in COMPOSE_PROJECT_NAME
        env[_NAME_VARIABLE] = project_name
        merged_services: dict[str, ServiceDef] = {}
        sections: dict[str, YMap] = {}
        extensions: dict[str, Any] = {}
        for rel in files:
            if rel in stack:
                raise InputError("include cycle: " + " -> ".join((*stack, rel)), file=rel)
            doc = self.document(rel, env)
            for key, value in doc.items():
                if key.startswith("x-"):
                    extensions[key] = _merge_extension(extensions.get(key), value)
            validate_document(_overriding(doc, merged_services), rel, self.cache.valid)
            for included in self._includes(doc, rel, directory, env, (*stack, rel)):
                for svc in included.services.values():
                    if svc.name in merged_services:
                        raise InputError(
                            f"service {svc.name!r} from included {svc.file} conflicts with "
                            f"one already defined in {merged_services[svc.name].file}",
                            file=rel,
                        )
                    merged_services[svc.name] = svc
                for section, values in included.sections.items():
                    sections[section] = merge_top(sections.get(section, YMap(values.loc)), values)
            services = doc.get("services") or YMap(doc.loc)
            if not isinstance(services, YMap):
                raise InputError(
                    "'services' must be a mapping", file=rel, line=doc.key_loc("services").line
                )
            for svc_name, raw_spec in services.items():
                loc = services.key_loc(svc_name)
                self._services += 1
                if self._services > MAX_SERVICES:
                    raise InputError(
                        f"more than {MAX_SERVICES} services; refused", file=rel, line=loc.line
                    )
                if not _SERVICE_NAME.fullmatch(svc_name):
                    raise InputError(
                        f"invalid service name {_clip(svc_name)!r}: compose allows only "
                        "letters, digits, '_', '.' and '-', starting with a letter or digit",
                        file=rel,
                        line=loc.line,
                    )
                spec = self._service(rel, svc_name, raw_spec, loc, env, doc, (), directory)
                self._ports += len(spec.get("ports") or ())
                if self._ports > MAX_PORTS:
                    raise InputError(
                        f"services publish more than {MAX_PORTS} ports once ranges are "
                        "expanded; refused",
                        file=rel,
                        line=loc.line,
                    )
                if svc_name in merged_services:
                    prior = merged_services[svc_name]
                    prior.spec = merge_service(prior.spec, spec)
                else:
                    merged_services[svc_name] = ServiceDef(svc_name, rel, loc, spec, directory, env)
            for section in _TOP_SECTIONS:
                section_values = doc.get(section)
                if isinstance(section_values, YMap):
                    values = section_values
                    sections[section] = merge_top(sections.get(section, YMap(values.loc)), values)
        for svc in merged_services.values():
            if svc.file in files:  # an included project's were resolved with its own
                _resolve_bare_environment(svc.spec, env)
        return Project(project_name, directory, list(files), merged_services, sections, extensions)

    def _yaml_name(self, files: list[str], env: Mapping[str, str]) -> str | None:
        """The top-level ``name:`` of the last file that gives one, interpolated."""
        name: str | None = None
        for rel in files:
            raw = self.raw(rel)
            if "name" in raw:
                before = self.budget.remaining
                value = interpolate_tree(
                    raw.get("name"), env, Diagnostics(), raw.key_loc("name"), self.budget, self.host
                )
                # spent on every load (not cached): a reused project spends it again
                self.source.note(Spent(before - self.budget.remaining))
                name = scalar_text(value) or name
        return name

    def check_env_files(self, svc: ServiceDef) -> None:
        """Every required ``env_file`` must exist, as compose requires ("env file ...
        not found"); a path is relative to the project directory (an ``extends`` base
        from another file has had its paths rebased onto it)."""
        entries = svc.spec.get("env_file")
        if not isinstance(entries, YSeq):
            return
        for index, entry in enumerate(entries):
            loc = entries.item_loc(index)
            path = scalar_text(entry.get("path")) if isinstance(entry, YMap) else None
            optional = isinstance(entry, YMap) and scalar_text(entry.get("required")) == "false"
            if not path or optional:
                continue
            target = join(svc.directory, path, shown=loc.file, line=loc.line)
            if not self.source.is_file(target):
                raise InputError(f"env file {target} not found", file=loc.file, line=loc.line)

    def _includes(
        self, doc: YMap, rel: str, directory: str, env: Mapping[str, str], stack: tuple[str, ...]
    ) -> list[Project]:
        entries = doc.get("include")
        if entries is None:
            return []
        if not isinstance(entries, YSeq):
            raise InputError("'include' must be a list", file=rel, line=doc.key_loc("include").line)
        projects: list[Project] = []
        base_dir = posixpath.dirname(rel)
        for index, entry in enumerate(entries):
            loc = entries.item_loc(index)
            paths: list[str]
            project_dir: str | None = None
            inc_env_file: str | None = None
            if isinstance(entry, YMap):
                raw_paths = entry.get("path")
                paths = (
                    [str(p) for p in raw_paths] if isinstance(raw_paths, YSeq) else [str(raw_paths)]
                )
                project_dir = scalar_text(entry.get("project_directory"))
                env_value = entry.get("env_file")
                if isinstance(env_value, YSeq) and env_value:
                    inc_env_file = str(env_value[0])
                elif env_value is not None:
                    inc_env_file = scalar_text(env_value)
            else:
                paths = [str(entry)]
            resolved = [join(base_dir, p, shown=rel, line=loc.line) for p in paths]
            if not resolved:
                continue  # compose accepts an include with no paths, and includes nothing
            for target in resolved:
                if not self.source.is_file(target):
                    raise InputError(f"include target {target} not found", file=rel, line=loc.line)
            inc_dir = (
                join(base_dir, project_dir, shown=rel, line=loc.line)
                if project_dir
                else posixpath.dirname(resolved[0])
            )
            inc_env = dict(env)
            env_rel = (
                join(base_dir, inc_env_file, shown=rel, line=loc.line)
                if inc_env_file
                else join(inc_dir, ".env")
            )
            if inc_env_file and not self.source.is_file(env_rel):
                raise InputError(f"include env file {env_rel} not found", file=rel, line=loc.line)
            if self.source.is_file(env_rel):
                # the including project's variables win over the included env file's,
                # as compose reads them
                inc_env = {**self.env_for(inc_dir, env_rel), **env}
            projects.append(self.project(resolved, env=inc_env, stack=stack))
        return projects

    # -- services and extends -------------------------------------------
    def _service(
        self,
        rel: str,
        name: str,
        raw: Any,
        loc: Loc,
        env: Mapping[str, str],
        doc: YMap,
        chain: tuple[tuple[str, str], ...],
        paths_dir: str,
    ) -> YMap:
        """The normalized service, ``extends`` applied; relative paths of a base from
        another file are rebased onto ``paths_dir``, which this service's are relative to."""
        if raw is None:
            raw = YMap(loc)
        if not isinstance(raw, YMap):
            raise InputError(f"service {name!r} must be a mapping", file=rel, line=loc.line)
        if (rel, name) in chain:
            cycle = " -> ".join(f"{f}:{s}" for f, s in (*chain, (rel, name)))
            raise InputError(f"extends cycle: {cycle}", file=rel, line=loc.line)
        spec = normalize_service(raw)
        extends = spec.get("extends")
        if extends is None:
            return spec
        eloc = spec.key_loc("extends")
        if isinstance(extends, YMap):
            base_name = scalar_text(extends.get("service"))
            base_file = scalar_text(extends.get("file"))
        else:
            base_name, base_file = scalar_text(extends), None
        if not base_name:
            raise InputError("extends needs a service", file=rel, line=eloc.line)
        if base_file:
            target = join(posixpath.dirname(rel), base_file, shown=rel, line=eloc.line)
            if not self.source.is_file(target):
                raise InputError(f"extends file {target} not found", file=rel, line=eloc.line)
            base_doc = self.document(target, env)
        else:
            target, base_doc = rel, doc
        base_services = base_doc.get("services")
        if not isinstance(base_services, YMap) or base_name not in base_services:
            raise InputError(
                f"extends: service {base_name!r} not found in {target}", file=rel, line=eloc.line
            )
        base = self._service(
            target,
            base_name,
            base_services[base_name],
            base_services.key_loc(base_name),
            env,
            base_doc,
            (*chain, (rel, name)),
            posixpath.dirname(target) if base_file else paths_dir,
        )
        if base_file:
            base = rebase_service(base, posixpath.dirname(target), paths_dir)
        local = YMap(spec.loc)
        for key, value in spec.items():
            if key != "extends":
                local.put(key, value, spec.key_loc(key), spec.directives.get(key))
        return merge_service(base, local)
