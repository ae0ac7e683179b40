"""Short and long syntax to one canonical shape, keeping every item's location.

The canonical shape is the one ``docker compose config`` prints: environment
and labels as maps, ports and volumes in long syntax, depends_on as a map with
conditions, secrets as ``{source, target}`` entries.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from stategate.errors import InputError
from stategate.yamlfile import Loc, YMap, YSeq

_MAP_LIKE = ("environment", "labels", "annotations", "extra_hosts", "sysctls")


def scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, YMap | YSeq | dict | list):
        return None
    return str(value)


def as_map(value: Any, loc: Loc, what: str, *, separator: str = "=") -> YMap:
    """environment/labels: a list of ``K=V`` (or bare ``K``) or a map -> map of str|None."""
    out = YMap(value.loc if isinstance(value, YMap | YSeq) else loc)
    if value is None:
        return out
    if isinstance(value, YMap):
        for key, item in value.items():
            out.put(key, scalar_text(item), value.key_loc(key))
        return out
    if isinstance(value, YSeq):
        for index, item in enumerate(value):
            text = scalar_text(item)
            if text is None:
                raise InputError(f"{what} entries must be strings", file=loc.file, line=loc.line)
            key, sep, rest = text.partition(separator)
            out.put(key.strip(), rest if sep else None, value.item_loc(index))
        return out
    raise InputError(f"{what} must be a list or a mapping", file=loc.file, line=loc.line)


def as_list(value: Any, loc: Loc) -> YSeq:
    if isinstance(value, YSeq):
        return value
    out = YSeq(loc)
    if value is not None:
        out.push(value, loc)
    return out


_PORT = re.compile(
    r"^(?:(?:\[(?P<ip6>[^\]]+)\]|(?P<ip>[^:\[\]]*)):)??"
    r"(?:(?P<published>[0-9${}A-Za-z_:\-]*?):)?"
    r"(?P<target>[0-9${}A-Za-z_\-]+)(?:/(?P<proto>[a-z]+))?$"
)


def port_entry(item: Any, loc: Loc) -> YMap:
    """One port, short or long syntax, as ``{target, published, host_ip, protocol, mode}``."""
    out = YMap(loc)
    if isinstance(item, YMap):
        target = item.get("target")
        if item.get("name") is not None:
            out.put("name", scalar_text(item.get("name")), loc)
        out.put("mode", scalar_text(item.get("mode")) or "ingress", loc)
        if item.get("host_ip") is not None:
            out.put("host_ip", scalar_text(item.get("host_ip")), loc)
        out.put("target", _port_number(target, loc), loc)
        if item.get("published") is not None:
            out.put("published", scalar_text(item.get("published")), loc)
        out.put("protocol", scalar_text(item.get("protocol")) or "tcp", loc)
        if item.get("app_protocol") is not None:
            out.put("app_protocol", scalar_text(item.get("app_protocol")), loc)
        return out
    text = scalar_text(item)
    if text is None:
        raise InputError(
            "a port must be a string, a number or a mapping", file=loc.file, line=loc.line
        )
    host_ip, published, target, proto = _split_port(text, loc)
    _check_port_spec(text, host_ip, published, target, proto, loc)
    out.put("mode", "ingress", loc)
    if host_ip:
        out.put("host_ip", host_ip, loc)
    out.put("target", _port_number(target, loc), loc)
    if published:
        out.put("published", published, loc)
    out.put("protocol", proto or "tcp", loc)
    return out


def port_entries(item: Any, loc: Loc) -> list[YMap]:
    """One ``ports`` item as compose reads it: a short-syntax container range
    (``9000-9001:9000-9001``) is one entry per port, paired with the host range."""
    entry = port_entry(item, loc)
    if isinstance(item, YMap):
        return [entry]
    container = _port_range(str(entry.get("target")))
    if container is None or container[0] == container[1]:
        return [entry]
    published = scalar_text(entry.get("published"))
    host = _port_range(published) if published else None
    out: list[YMap] = []
    for offset in range(container[1] - container[0] + 1):
        one = YMap(loc)
        for key, value in entry.items():
            if key == "target":
                value = container[0] + offset
            elif key == "published" and host is not None:
                value = str(host[0] + offset) if host[0] != host[1] else published
            one.put(key, value, loc)
        out.append(one)
    return out


def _ports(seq: YSeq) -> YSeq:
    """Every port in long syntax, ranges expanded and exact repeats dropped (compose
    keeps one of each)."""
    out = YSeq(seq.loc)
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for index, item in enumerate(seq):
        for entry in port_entries(item, seq.item_loc(index)):
            key = tuple(sorted(entry.items()))
            if key not in seen:
                seen.add(key)
                out.push(entry, seq.item_loc(index))
    return out


def _volumes(seq: YSeq) -> YSeq:
    """Every volume in long syntax; a later one on the same target replaces the earlier
    in its place, as compose keeps one mount per target."""
    entries: dict[Any, tuple[YMap, Loc]] = {}
    for index, item in enumerate(seq):
        iloc = seq.item_loc(index)
        entry = volume_entry(item, iloc)
        target = entry.get("target")
        key = target if isinstance(target, str) else (index, "")
        entries[key] = (entry, iloc)
    out = YSeq(seq.loc)
    for entry, iloc in entries.values():
        out.push(entry, iloc)
    return out


def _split_port(text: str, loc: Loc) -> tuple[str | None, str | None, str, str | None]:
    rest, _, proto = text.partition("/")
    host_ip: str | None = None
    if rest.startswith("["):
        end = rest.find("]")
        host_ip = rest[1:end]
        rest = rest[end + 2 :]
    pieces = rest.split(":")
    if len(pieces) == 1:
        return host_ip, None, pieces[0], proto or None
    if len(pieces) == 2:
        return host_ip, pieces[0] or None, pieces[1], proto or None
    if len(pieces) == 3 and host_ip is None:
        return pieces[0] or None, pieces[1] or None, pieces[2], proto or None
    # IPv6 without brackets: everything but the last two pieces is the address.
    if host_ip is None and len(pieces) > 3:
        return ":".join(pieces[:-2]), pieces[-2] or None, pieces[-1], proto or None
    raise InputError(f"cannot parse port {text!r}", file=loc.file, line=loc.line)


_PROTOCOLS = ("tcp", "udp", "sctp")
_DIGITS = re.compile("[0-9]+")


def _check_port_spec(
    text: str, host_ip: str | None, published: str | None, target: str, proto: str | None, loc: Loc
) -> None:
    """What go-connections ``nat.ParsePortSpec`` refuses in a short-syntax port."""

    def refuse(why: str) -> InputError:
        return InputError(f"invalid port {text!r}: {why}", file=loc.file, line=loc.line)

    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise refuse(f"invalid IP address {host_ip}") from None
    if not target:
        raise refuse("no port specified")
    container = _port_range(target)
    if container is None:
        raise refuse(f"invalid containerPort {target}")
    if published:
        host = _port_range(published)
        if host is None:
            raise refuse(f"invalid hostPort {published}")
        if container[1] != container[0] and host[1] - host[0] != container[1] - container[0]:
            raise refuse(
                f"invalid ranges specified for container and host Ports: {target} and {published}"
            )
    if proto is not None and proto.lower() not in _PROTOCOLS:
        raise refuse(f"invalid proto: {proto}")


def _port_range(text: str) -> tuple[int, int] | None:
    """``80`` or ``8000-8010`` (go-connections ``nat.ParsePortRange``), else None."""
    start, dash, end = text.partition("-")
    if not _DIGITS.fullmatch(start) or (dash and not _DIGITS.fullmatch(end)):
        return None
    first, last = int(start), int(end) if dash else int(start)
    if first > 65535 or last > 65535 or last < first:
        return None
    return first, last


def _port_number(value: Any, loc: Loc) -> Any:
    text = scalar_text(value)
    if text is None:
        raise InputError("a port needs a target", file=loc.file, line=loc.line)
    return int(text) if text.isdigit() else text


def is_path_source(source: str) -> bool:
    """A bind source, as compose-go's ``isFilePath`` reads it (a Windows drive or named
    pipe too)."""
    return (
        source.startswith(("/", ".", "~", "\\\\"))
        or (source.startswith("${") and "/" in source)
        or (len(source) > 1 and source[0].isalpha() and source[1] == ":")
    )


def volume_entry(item: Any, loc: Loc) -> YMap:
    """One service volume as ``{type, source, target, read_only}`` (long syntax)."""
    out = YMap(loc)
    if isinstance(item, YMap):
        for key, value in item.items():
            out.put(key, value, item.key_loc(key))
        if "type" not in out:
            source = scalar_text(out.get("source")) or ""
            out.put("type", "bind" if is_path_source(source) else "volume", loc)
        if "target" not in out:
            raise InputError("a volume needs a target", file=loc.file, line=loc.line)
        return out
    text = scalar_text(item)
    if text is None:
        raise InputError("a volume must be a string or a mapping", file=loc.file, line=loc.line)
    pieces = _split_volume(text, loc)
    if len(pieces) == 1:
        out.put("type", "volume", loc)
        out.put("target", pieces[0], loc)
        if len(text) > 2:  # compose-go's ParseVolume returns a spec this short early
            out.put("volume", YMap(loc), loc)
        return out
    source, target = pieces[0], pieces[1]
    options = pieces[2].split(",") if len(pieces) > 2 else []
    kind = "bind" if is_path_source(source) else "volume"
    out.put("type", kind, loc)
    out.put("source", source, loc)
    out.put("target", target, loc)
    if "ro" in options:
        out.put("read_only", True, loc)
    bind = YMap(loc)  # compose keeps an SELinux label on a named volume too
    if kind == "bind":
        bind.put("create_host_path", True, loc)
    for opt in options:
        if opt in ("z", "Z"):
            bind.put("selinux", opt, loc)
        elif kind == "bind" and opt in _PROPAGATION:
            bind.put("propagation", opt, loc)
    if bind:
        out.put("bind", bind, loc)
    if kind == "volume":
        vol = YMap(loc)
        if "nocopy" in options:
            vol.put("nocopy", True, loc)
        out.put("volume", vol, loc)
    return out


_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


def _split_volume(text: str, loc: Loc) -> list[str]:
    """compose-go ``format.ParseVolume``: ``[source:]target[:options]``, a drive letter
    (``C:``) is no separator, nor a ``:`` inside ``${...}``; an empty section or a
    fourth one is refused as compose refuses it."""
    if not text:
        raise InputError("invalid empty volume spec", file=loc.file, line=loc.line)
    if len(text) <= 2:
        return [text]
    pieces: list[str] = []
    buffer: list[str] = []
    nesting = 0
    for index, char in enumerate(text):
        if char == "$" and text[index + 1 : index + 2] == "{":
            nesting += 1
        elif char == "}" and nesting:
            nesting -= 1
        elif char == ":" and not nesting and not (len(buffer) == 1 and buffer[0].isalpha()):
            pieces.append(_volume_section(buffer, pieces, text, loc))
            buffer = []
            continue
        buffer.append(char)
    pieces.append(_volume_section(buffer, pieces, text, loc))
    return pieces


def _volume_section(buffer: list[str], pieces: list[str], text: str, loc: Loc) -> str:
    if not buffer:
        raise InputError(
            f"invalid volume {text!r}: empty section between colons", file=loc.file, line=loc.line
        )
    if len(pieces) == 3:
        raise InputError(f"invalid volume {text!r}: too many colons", file=loc.file, line=loc.line)
    return "".join(buffer)


def depends_on_map(value: Any, loc: Loc) -> YMap:
    out = YMap(value.loc if isinstance(value, YMap | YSeq) else loc)
    if value is None:
        return out
    if isinstance(value, YSeq):
        for index, item in enumerate(value):
            entry = YMap(value.item_loc(index))
            entry.put("condition", "service_started", value.item_loc(index))
            entry.put("required", True, value.item_loc(index))
            out.put(str(item), entry, value.item_loc(index))
        return out
    if isinstance(value, YMap):
        for name, spec in value.items():
            kloc = value.key_loc(name)
            entry = YMap(kloc)
            spec_map = spec if isinstance(spec, YMap) else YMap(kloc)
            entry.put("condition", spec_map.get("condition", "service_started"), kloc)
            if "restart" in spec_map:
                entry.put("restart", spec_map["restart"], kloc)
            entry.put("required", spec_map.get("required", True), kloc)
            out.put(name, entry, kloc)
        return out
    raise InputError("depends_on must be a list or a mapping", file=loc.file, line=loc.line)


def secret_entries(value: Any, loc: Loc) -> YSeq:
    """Service ``secrets``/``configs``: each as ``{source, target?, ...}``."""
    out = YSeq(loc)
    for index, item in enumerate(as_list(value, loc)):
        iloc = as_list(value, loc).item_loc(index)
        if isinstance(item, YMap):
            out.push(item, iloc)
        else:
            entry = YMap(iloc)
            entry.put("source", scalar_text(item), iloc)
            out.push(entry, iloc)
    return out


def networks_map(value: Any, loc: Loc) -> YMap:
    if isinstance(value, YSeq):
        out = YMap(value.loc)
        for index, item in enumerate(value):
            out.put(str(item), None, value.item_loc(index))
        return out
    if isinstance(value, YMap):
        return value
    return YMap(loc)


def env_files(value: Any, loc: Loc) -> YSeq:
    out = YSeq(loc)
    seq = as_list(value, loc)
    for index, item in enumerate(seq):
        iloc = seq.item_loc(index)
        entry = YMap(iloc)
        if isinstance(item, YMap):
            entry.put("path", scalar_text(item.get("path")), iloc)
            entry.put("required", item.get("required", True), iloc)
        else:
            entry.put("path", scalar_text(item), iloc)
            entry.put("required", True, iloc)
        out.push(entry, iloc)
    return out


def build_map(value: Any, loc: Loc) -> YMap:
    """``build: ./dir`` or the long form, with ``args`` as a map."""
    if isinstance(value, YMap):
        out = YMap(value.loc)
        for key, item in value.items():
            if key == "args":
                item = as_map(item, value.key_loc(key), "build.args")
            out.put(key, item, value.key_loc(key))
        return out
    out = YMap(loc)
    out.put("context", scalar_text(value) or ".", loc)
    return out


def _each(seq: YSeq, entry: Callable[[Any, Loc], YMap]) -> YSeq:
    """Each item of a list in long syntax, keeping its location."""
    out = YSeq(seq.loc)
    for index, item in enumerate(seq):
        out.push(entry(item, seq.item_loc(index)), seq.item_loc(index))
    return out


def _named_scalar(key: str, value: Any, loc: Loc) -> None:
    """``container_name`` and ``network_mode`` are strings, and ``service:``/``container:``
    name something, as compose requires (a sidecar is bound through them)."""
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string", file=loc.file, line=loc.line)
    kind, _, name = value.partition(":")
    if key == "network_mode" and kind in ("service", "container") and not name.strip():
        raise InputError(f"network_mode {value!r} names no {kind}", file=loc.file, line=loc.line)


def normalize_service(raw: YMap) -> YMap:
    """Canonical copy of one service definition (locations preserved)."""
    out = YMap(raw.loc)
    for key, value in raw.items():
        kloc = raw.key_loc(key)
        directive = raw.directives.get(key)
        if key in _MAP_LIKE:
            sep = ":" if key == "extra_hosts" else "="
            value = as_map(value, kloc, key, separator=sep)
        elif key == "ports":
            value = _ports(as_list(value, kloc))
        elif key == "volumes":
            value = _volumes(as_list(value, kloc))
        elif key == "depends_on":
            value = depends_on_map(value, kloc)
        elif key in ("secrets", "configs"):
            value = secret_entries(value, kloc)
        elif key == "networks":
            value = networks_map(value, kloc)
        elif key == "env_file":
            value = env_files(value, kloc)
        elif key == "build":
            value = build_map(value, kloc)
        elif key in ("container_name", "network_mode"):
            _named_scalar(key, value, kloc)
        elif key in (
            "expose",
            "cap_add",
            "cap_drop",
            "profiles",
            "dns",
            "volumes_from",
            "devices",
            "security_opt",
            "links",
            "external_links",
            "tmpfs",
        ):
            value = as_list(value, kloc)
        out.put(key, value, kloc, directive)
    return out
