"""Read Kubernetes manifests through a :class:`~stategate.source.Source`: plain files
(several documents each, ``List`` kinds), folders, and kustomizations.

Discovery (no paths given) reads every ``.yaml``/``.yml`` file that carries a
top-level ``apiVersion:`` and ``kind:`` line (compose-named files included),
outside the folders stategate itself owns (a workload there is an error) and
outside a Helm chart's ``templates/`` (commit the ``helm template`` output
instead). A discovered file that may be a manifest and cannot be read or loaded
is an error, never a skip: skipping would hide its workloads. A folder with a ``kustomization.yaml`` is
built as a kustomization (resources, images, namePrefix/nameSuffix, namespace);
the rest of kustomize is reported as not applied.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from stategate.compose.diagnostics import Diagnostics, Warning
from stategate.errors import InputError
from stategate.kubernetes.manifest import (
    ROUTE_KINDS,
    WORKLOAD_KINDS,
    GoRegexpError,
    ImageOverride,
    KubeService,
    Layer,
    Route,
    Workload,
    get_seq,
    get_text,
    image_matcher,
    kube_service,
    maps_of,
    object_kind,
    route,
    workload,
)
from stategate.source import Source, clean_rel, join
from stategate.yamlfile import Loc, YMap, YSeq, decode_text, loads, loads_all

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# folders stategate reads for itself (policy, packets, evidence, ...), never manifests
OWN_DIRS = ("packets/", "evidence/", "trust/", "decisions/", "state/", ".github/")
# bounds on one load, far above real platforms
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
MAX_OBJECTS = 20_000
MAX_WORKLOADS = 2000
MAX_KUSTOMIZE_DEPTH = 32
_MANIFEST_LINE = re.compile(r"^apiVersion:[ \t]*\S", re.MULTILINE)
_KIND_LINE = re.compile(r"^kind:[ \t]*\S", re.MULTILINE)
_MANIFEST_BYTES = re.compile(rb"^(?:\xef\xbb\xbf)?apiVersion:[ \t]*\S", re.MULTILINE)
_KIND_BYTES = re.compile(rb"^kind:[ \t]*\S", re.MULTILINE)
# kustomize fields that change objects but are not applied here (said in a warning)
_NOT_APPLIED = (
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "components",
    "replicas",
    "replacements",
    "helmCharts",
    "transformers",
    "generators",
    "configMapGenerator",
    "secretGenerator",
    "commonLabels",
    "labels",
    "vars",
)


_JUDGED_KINDS = frozenset({*WORKLOAD_KINDS, "Service", *ROUTE_KINDS})

Parsed = Workload | KubeService | Route | tuple[str, Loc]  # a kind not read, and where


@dataclass
class KubernetesSet:
    workloads: list[Workload] = field(default_factory=list)
    services: list[KubeService] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)


def is_manifest_text(text: str) -> bool:
    return bool(_MANIFEST_LINE.search(text) and _KIND_LINE.search(text))


def load_kubernetes(source: Source, paths: Sequence[str] = ()) -> KubernetesSet:
    """Workloads, Services and routes of ``paths`` (files or folders), else of discovery."""
    return _Loader(source).load(list(paths))


class _Loader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.diag = Diagnostics()
        self.bytes = 0
        self.objects = 0
        self.out = KubernetesSet()
        self.ignored: Counter[str] = Counter()
        self.first_ignored: dict[str, Loc] = {}
        self._files: list[str] | None = None
        self._texts: dict[str, str] = {}
        self._counted: set[str] = set()
        # (kind, namespace, name) -> index in out.workloads: a later definition wins
        self._seen: dict[tuple[str, str, str], int] = {}

    # -- files ---------------------------------------------------------------
    def all_files(self) -> list[str]:
        if self._files is None:
            self._files = self.source.list_files()
        return self._files

    def text(self, rel: str) -> str:
        if rel not in self._texts:
            try:
                data = self.source.read_bytes(rel)
            except FileNotFoundError:
                raise InputError("manifest file not found", file=rel) from None
            self._texts[rel] = decode_text(data, rel)
        return self._texts[rel]

    def count(self, rel: str) -> None:
        """Bound the manifests read (each file once): counted when read as manifests."""
        if rel in self._counted:
            return
        self._counted.add(rel)
        self.bytes += len(self.text(rel).encode())
        if self.bytes > MAX_MANIFEST_BYTES:
            raise InputError(
                f"manifests total more than {MAX_MANIFEST_BYTES} bytes; refused", file=rel
            )

    def discovered_text(self, rel: str) -> str | None:
        """The text of a discovered YAML file, None when it is not a manifest. A file
        that cannot be read (too large, a symlink in git, a FIFO, ...) is an error: it
        may be a manifest, and skipping it would hide its workloads. Bytes that are not
        UTF-8 are an error when they carry a top-level apiVersion and kind line."""
        try:
            data = self.source.read_bytes(rel)
        except FileNotFoundError:
            raise InputError("manifest file not found", file=rel) from None
        except InputError as exc:
            raise InputError(
                f"{exc.message}; a discovered YAML file that may be a manifest must be "
                "readable (or keep it out of discovery with inventory.kubernetes.paths)",
                file=rel,
            ) from None
        try:
            text = decode_text(data, rel)
        except InputError as exc:
            if _MANIFEST_BYTES.search(data) and _KIND_BYTES.search(data):
                raise InputError(
                    f"{exc.message}: a manifest (top-level apiVersion and kind) that cannot "
                    "be read; refused",
                    file=rel,
                ) from None
            self.diag.warn(Loc(rel, 1), f"not read ({exc.message}); not a manifest")
            return None
        self._texts[rel] = text
        return text if is_manifest_text(text) else None

    def is_dir(self, rel: str) -> bool:
        prefix = f"{rel}/" if rel else ""
        return any(f.startswith(prefix) for f in self.all_files())

    def kustomization_in(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            rel = posixpath.join(directory, name) if directory else name
            if self.source.is_file(rel):
                return rel
        return None

    # -- entry points ----------------------------------------------------------
    def load(self, paths: list[str]) -> KubernetesSet:
        if paths:
            for given in paths:
                rel = clean_rel(given, shown=given)
                if rel and self.source.is_file(rel):
                    self.file(rel, ())
                elif self.is_dir(rel):
                    self.folder(rel, explicit=True)
                else:
                    self.diag.warn(Loc(rel, 1), "manifest path not found; nothing read from it")
        else:
            self.folder("", explicit=False)
        self._rename_kind_twins()
        for kind, count in sorted(self.ignored.items()):
            self.diag.warn(
                self.first_ignored[kind], f"{count} {kind} object(s) not judged (kind not read)"
            )
        self.out.warnings = self.diag.items
        return self.out

    def folder(self, directory: str, *, explicit: bool) -> None:
        """Every manifest under ``directory``; kustomizations built, the files under a
        kustomization folder read only through it, a Helm chart's ``templates/`` skipped."""
        prefix = f"{directory}/" if directory else ""
        files = [f for f in self.all_files() if f.startswith(prefix)]
        kustomizations = sorted(
            posixpath.dirname(f) for f in files if posixpath.basename(f) in KUSTOMIZATION_NAMES
        )
        charts = sorted(
            posixpath.dirname(f) for f in files if posixpath.basename(f) == "Chart.yaml"
        )
        for chart in charts:
            self.diag.warn(
                Loc(posixpath.join(chart, "Chart.yaml"), 1),
                "Helm chart templates/ not rendered; commit its `helm template` output to judge it",
            )
        templates = tuple(posixpath.join(chart, "templates") + "/" for chart in charts)
        chart_files = {posixpath.join(chart, "Chart.yaml") for chart in charts}
        referenced = set()
        for directory_ in kustomizations:
            referenced.update(self.kustomize_references(directory_))
        for directory_ in kustomizations:
            if directory_ not in referenced:
                self.kustomization(directory_, ())
        left_out: list[str] = []
        for rel in files:
            if (
                not rel.endswith((".yaml", ".yml"))
                or posixpath.basename(rel) in KUSTOMIZATION_NAMES
                or rel in chart_files
                or rel.startswith(templates)  # Go templates: never rendered here
            ):
                continue
            kustomized = any(rel.startswith(f"{d}/") or d == "" for d in kustomizations)
            if kustomized and rel in self.out.files:
                continue
            own = not explicit and (rel.startswith(OWN_DIRS) or rel == "stategate.yaml")
            text = self.discovered_text(rel)
            if text is None:
                continue
            if kustomized:
                left_out.append(rel)
            elif own:
                self.own_file(rel)
            else:
                # a compose file holding a manifest is not a compose file (compose has no
                # top-level apiVersion or kind): it is read as the manifest kubectl applies
                self.template_or_file(rel, text)
        if left_out:
            self.diag.warn(
                Loc(left_out[0], 1),
                f"{len(left_out)} manifest file(s) under a kustomization folder that no "
                f"kustomization includes (first {left_out[0]}); not judged, as kustomize "
                "builds them not",
            )

    def template_or_file(self, rel: str, text: str) -> None:
        """A manifest; one that does not load is an error, unless it is a template by
        its name (``*template*``, ``.tmpl``, ``.tpl``) with ``{{ }}`` placeholders outside
        comments: what runs is its rendering, which is not in the repo (a warning)."""
        try:
            self.file(rel, ())
        except InputError as exc:
            if not _placeholder_template(rel, text):
                raise
            self.diag.warn(
                Loc(rel, exc.line or 1),
                "a {{ }} template, not YAML until rendered; not judged (commit what it "
                "renders to, or list the rendered manifests in inventory.kubernetes.paths)",
            )

    def own_file(self, rel: str) -> None:
        """A file in a folder stategate owns (or stategate.yaml) is never read as a
        manifest; one holding a workload, Service or route is refused, so moving a
        workload there cannot hide it."""
        try:
            docs = loads_all(self.text(rel), rel)
        except InputError:
            return  # not YAML kubectl would apply either
        kinds = []
        for doc in docs:
            if isinstance(doc, YMap):
                kinds.append(doc.get("kind"))
                items = doc.get("items")
                if isinstance(items, YSeq):
                    kinds.extend(i.get("kind") for i in items if isinstance(i, YMap))
        found = next((k for k in kinds if k in _JUDGED_KINDS), None)
        if found is not None:
            raise InputError(
                f"holds a Kubernetes {found} in a place stategate owns and reads no "
                "manifests from; move it out",
                file=rel,
            )

    def file(self, rel: str, layers: tuple[Layer, ...]) -> None:
        self.add(rel, self.objects_of(rel, layers))

    def objects_of(self, rel: str, layers: tuple[Layer, ...]) -> list[Parsed]:
        self.count(rel)
        out: list[Parsed] = []
        for doc in loads_all(self.text(rel), rel):
            if doc is None:
                continue
            if not isinstance(doc, YMap):
                raise InputError("a manifest document must be a mapping", file=rel, line=1)
            self.document(doc, rel, layers, out, in_list=False)
        return out

    def add(self, rel: str, objects: list[Parsed]) -> None:
        if rel not in self.out.files:
            self.out.files.append(rel)
        for item in objects:
            if isinstance(item, Workload):
                self.add_workload(item)
            elif isinstance(item, KubeService):
                self.out.services.append(item)
            elif isinstance(item, Route):
                self.out.routes.append(item)
            else:
                kind, loc = item
                self.ignored[kind] += 1
                self.first_ignored.setdefault(kind, loc)

    def document(
        self, doc: YMap, rel: str, layers: tuple[Layer, ...], out: list[Parsed], *, in_list: bool
    ) -> None:
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise InputError(
                f"more than {MAX_OBJECTS} Kubernetes objects; refused", file=rel, line=doc.loc.line
            )
        _, kind = object_kind(doc)
        if kind == "List" or (kind.endswith("List") and "items" in doc):
            if in_list:
                raise InputError("a List inside a List", file=rel, line=doc.loc.line)
            for item, _ in maps_of(get_seq(doc, "items", kind), "items"):
                self.document(item, rel, layers, out, in_list=True)
        elif kind in WORKLOAD_KINDS:
            out.append(workload(doc, kind, rel, layers))
        elif kind == "Service":
            out.append(kube_service(doc, rel, layers))
        elif kind in ROUTE_KINDS:
            out.append(route(doc, kind, rel, layers))
        else:
            out.append((kind, doc.loc))

    def add_workload(self, found: Workload) -> None:
        key = (found.kind, found.namespace, found.name)
        if key in self._seen:
            index = self._seen[key]
            earlier = self.out.workloads[index]
            self.diag.warn(
                found.loc,
                f"{found.kind} {found.id} defined again (first at {earlier.loc}); "
                "the later definition is judged, as kubectl apply would leave it",
            )
            self.out.workloads[index] = found
            return
        if len(self.out.workloads) >= MAX_WORKLOADS:
            raise InputError(
                f"more than {MAX_WORKLOADS} workloads; refused",
                file=found.file,
                line=found.loc.line,
            )
        self._seen[key] = len(self.out.workloads)
        self.out.workloads.append(found)

    def _rename_kind_twins(self) -> None:
        """Two workloads of different kinds with one namespace and name both run; their
        module ids get the kind (``default/web-deployment``), with a warning."""
        ids: dict[str, list[int]] = {}
        for index, found in enumerate(self.out.workloads):
            ids.setdefault(found.id, []).append(index)
        for module_id, indexes in ids.items():
            if len(indexes) < 2:
                continue
            for index in indexes:
                found = self.out.workloads[index]
                renamed = replace(found, name=f"{found.name}-{found.kind.lower()}")
                self.diag.warn(
                    found.loc,
                    f"{len(indexes)} workloads of different kinds are named {module_id}; "
                    f"this {found.kind} is module {renamed.id}",
                )
                self.out.workloads[index] = renamed

    # -- kustomize ----------------------------------------------------------
    def kustomization_doc(self, directory: str) -> tuple[str, YMap]:
        rel = self.kustomization_in(directory)
        assert rel is not None
        doc = loads(self.text(rel), rel)
        if doc is None:
            doc = YMap(Loc(rel, 1))
        if not isinstance(doc, YMap):
            raise InputError("a kustomization must be a mapping", file=rel, line=1)
        return rel, doc

    def resource_entries(self, rel: str, doc: YMap) -> list[tuple[str, Loc]]:
        entries: list[tuple[str, Loc]] = []
        directory = posixpath.dirname(rel)
        for key in ("resources", "bases"):
            seq = get_seq(doc, key, "kustomization")
            for index, item in enumerate(seq):
                loc = seq.item_loc(index)
                if not isinstance(item, str | int | float) or isinstance(item, bool):
                    raise InputError(f"{key}[{index}] must be a path", file=rel, line=loc.line)
                text = str(item)
                if "://" in text or text.startswith(("git@", "github.com/", "gitlab.com/")):
                    raise InputError(
                        f"remote resource {text!r} is not read (only files in the repository)",
                        file=rel,
                        line=loc.line,
                    )
                entries.append((join(directory, text, shown=rel, line=loc.line), loc))
        return entries

    def kustomize_references(self, directory: str) -> set[str]:
        rel, doc = self.kustomization_doc(directory)
        return {target for target, _ in self.resource_entries(rel, doc) if self.is_dir(target)}

    def kustomization(
        self, directory: str, outer: tuple[Layer, ...], stack: tuple[str, ...] = ()
    ) -> None:
        if directory in stack:
            chain = " -> ".join(d or "." for d in (*stack, directory))
            raise InputError(f"kustomization cycle: {chain}", file=directory or ".")
        if len(stack) >= MAX_KUSTOMIZE_DEPTH:
            raise InputError(
                f"kustomizations nested deeper than {MAX_KUSTOMIZE_DEPTH}", file=directory
            )
        rel, doc = self.kustomization_doc(directory)
        for key in _NOT_APPLIED:
            if key in doc:
                self.diag.warn(doc.key_loc(key), f"kustomization field {key} is not applied")
        layers = (self._layer(rel, doc), *outer)
        for target, loc in self.resource_entries(rel, doc):
            if self.source.is_file(target):
                self.file(target, layers)
            elif self.is_dir(target):
                if self.kustomization_in(target) is None:
                    raise InputError(
                        f"resource {target} is a folder without a kustomization.yaml",
                        file=rel,
                        line=loc.line,
                    )
                self.kustomization(target, layers, (*stack, directory))
            else:
                raise InputError(f"resource {target} not found", file=rel, line=loc.line)

    def _layer(self, rel: str, doc: YMap) -> Layer:
        images: list[ImageOverride] = []
        for item, loc in maps_of(get_seq(doc, "images", "kustomization"), "images"):
            name = get_text(item, "name", "images")
            if not name:
                raise InputError("images entry needs a name", file=rel, line=loc.line)
            try:
                patterns = image_matcher(name)
            except GoRegexpError as exc:
                raise InputError(
                    f"images name {name!r} is a regular expression to kustomize and this one "
                    f"is refused ({exc})",
                    file=rel,
                    line=item.key_loc("name").line,
                ) from None
            images.append(
                ImageOverride(
                    name,
                    get_text(item, "newName", "images"),
                    get_text(item, "newTag", "images"),
                    get_text(item, "digest", "images"),
                    loc,
                    get_text(item, "tagSuffix", "images"),
                    patterns,
                )
            )
        return Layer(
            namespace=get_text(doc, "namespace", "kustomization"),
            prefix=get_text(doc, "namePrefix", "kustomization") or "",
            suffix=get_text(doc, "nameSuffix", "kustomization") or "",
            images=tuple(images),
        )


_TEMPLATE_NAME = re.compile(r"template|\.tmpl\b|\.tpl\b", re.IGNORECASE)


def _placeholder_template(rel: str, text: str) -> bool:
    if not _TEMPLATE_NAME.search(posixpath.basename(rel)):
        return False
    return any("{{" in line.split("#", 1)[0] for line in text.splitlines())
