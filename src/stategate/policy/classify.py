"""Classification: which upgrade classes apply to each service, and why (file:line).

Pure: takes typed services and a policy, returns modules. The rules follow
PRODUCT.md "Upgrade classes and how they are detected".
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stategate.compose.model import Mount, Service
from stategate.image import parse_image
from stategate.policy.schema import Policy, UpgradeClass
from stategate.yamlfile import Loc

C = UpgradeClass

DATA_IMAGES = re.compile(
    r"^(postgres(ql)?(-ha)?|postgis|pgvector|timescaledb(-ha)?|mysql|mariadb|percona(-server)?"
    r"|mongo(db)?(-community-server)?|minio|elasticsearch|opensearch|clickhouse(-server)?"
    r"|kafka|cp-kafka|cp-server|rabbitmq|etcd|influxdb|cassandra|scylla|couchdb|neo4j|zookeeper"
    r"|cockroach|questdb|qdrant|meilisearch|typesense|graylog-datanode|datanode|seaweedfs"
    r"|garage|victoria-metrics|nats|solr|arangodb|surrealdb|dragonfly)$"
)
KV_IMAGES = re.compile(r"^(redis(-stack(-server)?)?|valkey|keydb)$")
AUTH_IMAGES = re.compile(
    r"^(authelia|authentik|server|keycloak|oauth2-proxy|dex|lldap|zitadel|kratos|hydra|casdoor"
    r"|vouch-proxy|traefik-forward-auth|openldap|glauth|freeipa-server|pocket-id|tinyauth"
    r"|authentik-server|logto|ory-kratos)$"
)
AUTH_REPOS = ("goauthentik/server",)
PROXY_IMAGES = re.compile(
    r"^(traefik|caddy|caddy-docker-proxy|nginx-proxy|haproxy|cloudflared|tailscale|ngrok|frpc|frps"
    r"|envoy|nginx-proxy-manager|wg-easy|wireguard|swag|zoraxy|pangolin|newt|gerbil)$"
)
CREDENTIAL_KEY = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|PASS$|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL"
    r"|AUTH_?KEY|ENCRYPTION_KEY|SIGNING_KEY|MASTER_KEY|SALT|LICENSE_KEY|_DSN$|CLIENT_KEY"
    r"|(?<!PUBLIC)_KEY$|DATASOURCE|DATABASE_URL|CONNECTION_STRING|CLAIM$)",
    re.IGNORECASE,
)
FLAG_VALUES = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off"})
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
KEY_FILE = re.compile(
    r"\.(key|pem|crt|cert|p12|pfx|jks|keystore)$|(^|/)(id_rsa|id_ed25519|\.ssh"
    r"|secrets?|private)(/|$)|acme\.json$",
    re.IGNORECASE,
)
BROAD_CAPS = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "NET_ADMIN",
        "SYS_MODULE",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_BOOT",
        "DAC_READ_SEARCH",
        "SYS_TIME",
        "BPF",
        "PERFMON",
        "CAP_SYS_ADMIN",
        "CAP_NET_ADMIN",
    }
)
JOB_NAME = re.compile(
    r"(^|[-_])(init|setup|migrat\w*|bootstrap|configurator|provision\w*|seed"
    r"|create[-_]?\w*|createbuckets|bucket\w*|install|upgrade|prepare|certs?"
    r"|mc|wait)($|[-_0-9])|^init(?=[A-Z])",
    re.IGNORECASE,
)
JOB_COMMAND = re.compile(
    r"\bmc\s+(mb|admin|policy|anonymous)\b|\bmigrat|\bdb:(migrate|create|setup)"
    r"|\bcreate[-_]?(site|bucket|db|user)|\bbootstrap\b|\binit\b",
    re.IGNORECASE,
)
REDIS_PERSIST = re.compile(r"--appendonly\s+yes|--save\s+(?!\"\"|''|$)\S", re.IGNORECASE)
SYSTEM_FILES = (
    "/etc/localtime",
    "/etc/timezone",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/machine-id",
    "/dev/",
    "/proc",
    "/sys",
    "/run/udev",
)
FILE_LIKE = re.compile(
    r"\.(ya?ml|json|toml|conf|cfg|ini|env|xml|properties|sh|py|js|lua|sql"
    r"|txt|html|php|rb|tmpl|template|ts|Caddyfile)$|/Caddyfile$"
    r"|/nginx\.conf$",
    re.IGNORECASE,
)
SOCKET = re.compile(r"\.sock$|/run/.*\.sock|docker\.sock|podman\.sock")
CERT_DIR = re.compile(r"(^|/)(certs?|ssl|tls)(/|$)", re.IGNORECASE)
KEY_DIR = re.compile(
    r"(^|/)(certs?|ssl|tls|letsencrypt|acme(\.sh)?|htpasswd|private|keys)(/|$)", re.IGNORECASE
)
INLINE_CREDENTIAL = re.compile(
    r"--[\w-]{0,64}(requirepass|password|passwd|secret|token)\b|\bmc\s+(alias\s+set|config\s+host"
    r"\s+add|admin\s+user\s+add)\s+\S+\s+\S+\s+\S+",
    re.IGNORECASE,
)
HELPER_NAME = re.compile(
    r"(^|[-_])(cron|worker|queue[-_]?\w*|scheduler|beat|celery\w*|runner|jobrunner|backup"
    r"|websocket|updater|gen|companion|sidekiq|clock)($|[-_0-9])",
    re.IGNORECASE,
)
AUTH_SERVICE_NAME = re.compile(
    r"(^|[-_])(ldap|oidc\w*|sso|idp|keycloak|authelia|authentik|dex)($|[-_0-9])", re.IGNORECASE
)


@dataclass(frozen=True)
class Reason:
    cls: UpgradeClass
    reason: str
    loc: Loc


@dataclass
class Module:
    service: Service
    classes: list[UpgradeClass]
    reasons: list[Reason]
    parent: str | None  # module id
    dependents: list[str] = field(default_factory=list)  # module ids
    tier: str = "leaf"
    backup_reference: bool = False

    @property
    def id(self) -> str:
        return self.service.id

    @property
    def image(self) -> str | None:
        return self.service.image

    def has(self, cls: UpgradeClass) -> bool:
        return cls in self.classes


@dataclass
class Inventory:
    modules: dict[str, Module]

    @property
    def backup_reference(self) -> Module | None:
        return next((m for m in self.modules.values() if m.backup_reference), None)


def image_name(service: Service) -> str:
    image = service.effective_image
    return parse_image(image).name.lower() if image else ""


def _mount_holds_data(mount: Mount) -> bool:
    if mount.type == "tmpfs" or mount.read_only:
        return False
    if mount.target.startswith(("/run/", "/var/run/")) or mount.target in ("/run", "/var/run"):
        return False  # runtime sockets and pid files, recreated on start
    for path in (mount.source or "", mount.target):
        if SOCKET.search(path) or any(path.startswith(p) for p in SYSTEM_FILES):
            return False
        if KEY_FILE.search(path):
            return False
    if FILE_LIKE.search(mount.target) or (mount.source and FILE_LIKE.search(mount.source)):
        return False
    if CERT_DIR.search(mount.target):
        return False
    return mount.type in ("volume", "bind")


def _stateful(svc: Service) -> list[Reason]:
    reasons: list[Reason] = []
    name = image_name(svc)
    for mount in svc.mounts:
        if not _mount_holds_data(mount):
            continue
        if mount.type == "volume" and mount.source:
            what = f"named volume {mount.source} mounted writable at {mount.target}"
        elif mount.type == "volume":
            what = f"anonymous volume at {mount.target}"
        else:
            what = f"writable bind mount {mount.source} -> {mount.target}"
        reasons.append(Reason(C.STATEFUL, what, mount.loc))
    if DATA_IMAGES.match(name):
        reasons.append(Reason(C.STATEFUL, f"data-store image {name}", svc.image_loc))
    elif KV_IMAGES.match(name):
        text = f"{svc.entrypoint} {svc.command}"
        if REDIS_PERSIST.search(text):
            reasons.append(
                Reason(C.STATEFUL, f"{name} with persistence on (command)", svc.command_loc)
            )
        elif reasons:
            reasons.append(
                Reason(C.STATEFUL, f"{name} with a data mount (RDB/AOF persist)", svc.image_loc)
            )
    return reasons


def _secret_bearing(svc: Service) -> list[Reason]:
    reasons: list[Reason] = []
    for ref in svc.secrets:
        reasons.append(Reason(C.SECRET_BEARING, f"compose secret {ref.name}", ref.loc))
    for ref in svc.env_files:
        reasons.append(Reason(C.SECRET_BEARING, f"env_file {ref.name}", ref.loc))
    for key, setting in svc.environment.items():
        value = setting.value or ""
        if key.upper().endswith("_FILE") and value.startswith("/run/secrets"):
            reasons.append(Reason(C.SECRET_BEARING, f"{key} reads {value}", setting.loc))
        elif (
            CREDENTIAL_KEY.search(key)
            and not key.upper().endswith("_FILE")
            and value.lower() not in FLAG_VALUES  # SECRETS=0: a permission flag, no credential
        ):
            reasons.append(Reason(C.SECRET_BEARING, f"credential variable {key}", setting.loc))
        elif URL_WITH_PASSWORD.match(value):
            reasons.append(Reason(C.SECRET_BEARING, f"{key} embeds credentials", setting.loc))
    text = f"{svc.entrypoint} {svc.command}"
    if INLINE_CREDENTIAL.search(text):
        reasons.append(Reason(C.SECRET_BEARING, "credential on the command line", svc.command_loc))
    for mount in svc.mounts:
        for path in (mount.source or "", mount.target):
            if (KEY_FILE.search(path) or KEY_DIR.search(path)) and not SOCKET.search(path):
                reasons.append(Reason(C.SECRET_BEARING, f"key/cert mount {path}", mount.loc))
                break
    for key, setting in svc.labels.items():
        if re.search(r"basicauth\.users$", key, re.IGNORECASE):
            reasons.append(Reason(C.SECRET_BEARING, f"credential label {key}", setting.loc))
    return reasons


def _public_edge(svc: Service) -> list[Reason]:
    reasons: list[Reason] = []
    for port in svc.ports:
        if port.is_published and not port.is_loopback:
            bind = port.host_ip or "all interfaces"
            reasons.append(
                Reason(
                    C.PUBLIC_EDGE,
                    f"port {port.published}:{port.target}/{port.protocol} published on {bind}",
                    port.loc,
                )
            )
    enabled = svc.labels.get("traefik.enable")
    traefik_off = enabled is not None and (enabled.value or "").lower() == "false"
    for key, setting in svc.labels.items():
        low = key.lower()
        if not traefik_off and re.match(r"traefik\.(http|tcp|udp)\.routers\.[^.]+\.rule$", low):
            reasons.append(Reason(C.PUBLIC_EDGE, f"traefik router {key}", setting.loc))
        elif low == "caddy" or re.match(r"caddy(_\d+)?$", low):
            reasons.append(Reason(C.PUBLIC_EDGE, f"caddy site label {key}", setting.loc))
        elif low in ("virtual_host", "com.github.nginx-proxy.virtual_host"):
            reasons.append(Reason(C.PUBLIC_EDGE, f"proxy label {key}", setting.loc))
    vhost = svc.environment.get("VIRTUAL_HOST")
    if vhost is not None and vhost.value:  # a bare pass-through name routes nothing by itself
        reasons.append(Reason(C.PUBLIC_EDGE, "nginx-proxy routing VIRTUAL_HOST", vhost.loc))
    name = image_name(svc)
    if PROXY_IMAGES.match(name):
        reasons.append(Reason(C.PUBLIC_EDGE, f"proxy/tunnel image {name}", svc.image_loc))
    return reasons


def _auth(svc: Service) -> list[Reason]:
    if not svc.image:
        if AUTH_SERVICE_NAME.search(svc.name):
            return [Reason(C.AUTH, f"identity provider by its name {svc.name}", svc.loc)]
        return []
    ref = parse_image(svc.image)
    name = ref.name.lower()
    if name == "server" and not ref.repository.endswith(AUTH_REPOS):
        return []
    if AUTH_IMAGES.match(name) or ref.repository.endswith(AUTH_REPOS):
        return [Reason(C.AUTH, f"identity provider / auth gate image {name}", svc.image_loc)]
    if AUTH_SERVICE_NAME.search(svc.name):
        return [Reason(C.AUTH, f"identity provider by its name {svc.name}", svc.loc)]
    return []


def _privileged(svc: Service) -> list[Reason]:
    reasons: list[Reason] = []
    if svc.privileged and (svc.privileged.value or "").lower() == "true":
        reasons.append(Reason(C.PRIVILEGED, "privileged: true", svc.privileged.loc))
    for mount in svc.mounts:
        if mount.source and re.search(r"(docker|podman|containerd)\.sock$", mount.source):
            reasons.append(
                Reason(C.PRIVILEGED, f"container engine socket {mount.source}", mount.loc)
            )
        elif (
            mount.source in ("/", "/proc", "/sys") and mount.type == "bind" and not mount.read_only
        ):
            reasons.append(Reason(C.PRIVILEGED, f"host path {mount.source} mounted", mount.loc))
    for cap in svc.cap_add:
        if cap.name.upper() in BROAD_CAPS:
            reasons.append(Reason(C.PRIVILEGED, f"cap_add {cap.name}", cap.loc))
    for field_name, setting in (
        ("network_mode", svc.network_mode),
        ("pid", svc.pid),
        ("ipc", svc.ipc),
    ):
        if setting is not None and setting.value == "host":
            reasons.append(Reason(C.PRIVILEGED, f"{field_name}: host", setting.loc))
    for device in svc.devices:
        reasons.append(Reason(C.PRIVILEGED, f"device {device.name}", device.loc))
    for opt in svc.security_opt:
        if "unconfined" in opt.name:
            reasons.append(Reason(C.PRIVILEGED, f"security_opt {opt.name}", opt.loc))
    return reasons


def _is_job(svc: Service) -> tuple[bool, str, Loc]:
    restart = (svc.restart or "").strip('"').lower().split(":")[0]
    if svc.deploy_restart and (svc.deploy_restart.value or "").lower() == "none":
        return True, "deploy.restart_policy condition none", svc.deploy_restart.loc
    if restart in ("", "no") and JOB_COMMAND.search(f"{svc.entrypoint} {svc.command}"):
        return True, "one-shot command", svc.command_loc
    if restart in ("", "no", "on-failure") and JOB_NAME.search(svc.name):
        return True, f"one-shot job (restart: {restart or 'no'})", svc.restart_loc
    return False, "", svc.loc


def _sidecar(
    svc: Service,
    services: dict[str, Service],
    awaited: set[str],
    stateful: set[str],
    volume_users: dict[str, list[str]],
    jobs: set[str],
) -> tuple[str | None, list[Reason]]:
    if svc.network_mode and (svc.network_mode.value or "").startswith("service:"):
        parent = (svc.network_mode.value or "").split(":", 1)[1]
        return parent, [
            Reason(C.SIDECAR_BOUND, f"shares the network of {parent}", svc.network_mode.loc)
        ]
    for ref in svc.volumes_from:
        target = ref.name
        if target.startswith("container:"):
            continue
        target = target.removeprefix("service:").split(":")[0]
        return target, [Reason(C.SIDECAR_BOUND, f"volumes_from {target}", ref.loc)]
    deps = [d.name for d in svc.depends_on if d.name in services]
    is_job, why, loc = _is_job(svc)
    if svc.name in awaited and not is_job:
        is_job, why, loc = True, "others wait for it to complete", svc.loc
    if is_job and deps:
        parent = next((d for d in deps if d in stateful), deps[0])
        return parent, [Reason(C.SIDECAR_BOUND, f"{why}; depends on {parent}", loc)]
    helper = is_job or bool(HELPER_NAME.search(svc.name))
    if helper and not is_job and svc.image:
        same = parse_image(svc.image).full_repository
        for dep in deps:
            if dep in jobs or HELPER_NAME.search(dep):
                continue
            dep_image = services[dep].image
            if dep_image and parse_image(dep_image).full_repository == same:
                reason = f"helper of {dep} (same image, depends on it)"
                return dep, [Reason(C.SIDECAR_BOUND, reason, svc.image_loc)]
    for mount in svc.mounts:
        if not mount.source or not _mount_holds_data(mount):
            continue
        candidates = volume_users.get(posixpath.normpath(mount.source), [])
        if "backup" in svc.name.lower():  # a backup job serves the data store it dumps
            candidates = [d for d in deps if d in stateful] + candidates
        for other in candidates:
            if other == svc.name or other in jobs:
                continue
            # A job or helper (cron, worker, backup, ...) sharing another service's data
            # volume moves with that service; so does a service that depends on its partner.
            if (other in deps and not is_job) or (helper and not HELPER_NAME.search(other)):
                what = "job writing" if is_job else "shares"
                if "backup" in svc.name.lower() and other in stateful and other in deps:
                    return other, [Reason(C.SIDECAR_BOUND, f"backup helper of {other}", mount.loc)]
                return other, [
                    Reason(
                        C.SIDECAR_BOUND,
                        f"{what} data volume {mount.source} with {other}",
                        mount.loc,
                    )
                ]
    return None, []


def classify(
    services: Sequence[Service], policy: Policy, decisions: Iterable[str] = ()
) -> Inventory:
    """Classify ``services``; ``decisions`` are the decision records present in the repo
    (a policy may only remove an always-manual class from a module by citing one)."""
    cited = {posixpath.normpath(d) for d in decisions}
    by_project: dict[str, dict[str, Service]] = {}
    for svc in services:
        by_project.setdefault(svc.project, {})[svc.name] = svc
    modules: dict[str, Module] = {}
    for project_services in by_project.values():
        awaited = {
            d.name
            for s in project_services.values()
            for d in s.depends_on
            if d.detail == "service_completed_successfully"
        }
        volume_users: dict[str, list[str]] = {}
        for svc in project_services.values():
            for mount in svc.mounts:
                if mount.type in ("volume", "bind") and mount.source:
                    key = posixpath.normpath(mount.source)
                    volume_users.setdefault(key, []).append(svc.name)
        found: dict[str, list[Reason]] = {}
        for svc in project_services.values():
            found[svc.name] = (
                _stateful(svc)
                + _secret_bearing(svc)
                + _public_edge(svc)
                + _auth(svc)
                + _privileged(svc)
            )
        stateful = {n for n, rs in found.items() if any(r.cls is C.STATEFUL for r in rs)}
        jobs = {n for n, s in project_services.items() if _is_job(s)[0] or n in awaited}
        for svc in project_services.values():
            parent, side = _sidecar(svc, project_services, awaited, stateful, volume_users, jobs)
            reasons = side + found[svc.name]
            modules[svc.id] = Module(
                service=svc,
                classes=_ordered({r.cls for r in reasons}),
                reasons=reasons,
                parent=f"{svc.project}/{parent}" if parent else None,
            )
        for svc in project_services.values():
            targets = {d.name for d in svc.depends_on}
            targets.update(
                r.name.removeprefix("service:").split(":")[0]
                for r in svc.volumes_from
                if not r.name.startswith("container:")
            )
            if svc.network_mode and (svc.network_mode.value or "").startswith("service:"):
                targets.add((svc.network_mode.value or "").split(":", 1)[1])
            for target in sorted(targets):
                target_id = f"{svc.project}/{target}"
                if target_id in modules and target_id != svc.id:
                    modules[target_id].dependents.append(svc.id)
    for module in modules.values():
        module.dependents.sort()
        module.tier = "core" if len(module.dependents) >= 2 else "leaf"
        _apply_policy(module, policy, cited)
        if not module.classes:
            module.classes = [C.STATELESS]
            module.reasons.append(
                Reason(
                    C.STATELESS,
                    "no data, sidecar, credential, exposure, auth or host-control property found",
                    module.service.loc,
                )
            )
    return Inventory(dict(sorted(modules.items())))


_ORDER = list(UpgradeClass)


def _ordered(classes: Iterable[UpgradeClass]) -> list[UpgradeClass]:
    return sorted(set(classes) - {C.STATELESS}, key=_ORDER.index)


def _apply_policy(module: Module, policy: Policy, decisions: set[str]) -> None:
    """Policy overrides. Removing an always-manual class without a cited decision record is
    ignored here (the class stays) and reported by the policy loader as a relaxation."""
    entry = policy.modules.get(module.id)
    if entry is None:
        return
    where = Loc("stategate.yaml", 1)
    classes = set(module.classes)
    for cls in entry.classes.add:
        if cls not in classes:
            classes.add(cls)
            module.reasons.append(Reason(cls, "added by policy", where))
    for cls in entry.classes.remove:
        if cls not in classes:
            continue
        if policy.rule(cls).always_manual and not _cites(entry.decision, decisions):
            continue
        classes.discard(cls)
        module.reasons = [r for r in module.reasons if r.cls is not cls]
    if entry.tier:
        module.tier = entry.tier
    module.backup_reference = entry.backup_reference
    module.classes = _ordered(classes)


def _cites(decision: str | None, decisions: set[str]) -> bool:
    return bool(decision) and posixpath.normpath(decision or "") in decisions
