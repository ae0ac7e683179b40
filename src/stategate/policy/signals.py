"""What the classification rules look for: image families, path and name patterns, and
the two records a rule leaves behind (a reason that counted, a near miss that did not).

Pure data and small predicates shared by the compose rules (``classify``, ``sidecar``)
and the Kubernetes rules.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from stategate.compose.model import Mount, Service
from stategate.image import parse_image
from stategate.policy.schema import UpgradeClass
from stategate.yamlfile import Loc

C = UpgradeClass

DATA_IMAGES = re.compile(
    r"^(postgres(ql)?(-ha)?|postgis|pgvector|timescaledb(-ha)?|mysql|mariadb|percona(-server)?"
    r"|mongo(db)?(-community-server)?|minio|elasticsearch|opensearch|clickhouse(-server)?"
    r"|kafka|cp-kafka|cp-server|rabbitmq|etcd|influxdb|cassandra|scylla|couchdb|neo4j|zookeeper"
    r"|cockroach|questdb|qdrant|meilisearch|typesense|graylog-datanode|datanode|seaweedfs"
    r"|garage|victoria-metrics|nats|solr|arangodb|surrealdb|dragonfly|mssql|azure-sql-edge"
    r"|oracle-free|oracle-xe|yugabyte|tidb|rethinkdb|couchbase(-server)?|ravendb|eventstore"
    r"|redpanda|pulsar|activemq(-classic|-artemis)?|artemis|emqx|(eclipse-)?mosquitto|vernemq|weaviate"
    r"|milvus|chroma|memgraph|manticore(search)?|firebird|orientdb|hazelcast)$"
)
DATA_REPOS = ("mssql/server", "mssql/rhel/server")
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
    r"|(?<!PUBLIC)_KEY$|DATASOURCE|DATABASE_URL|CONNECTION_?STRING|CLAIM$)",
    re.IGNORECASE,
)
FLAG_VALUES = frozenset({"0", "1", "true", "false", "yes", "no", "on", "off"})
# any user:password part, even one whose variables the repo leaves unset (amqp://:@rabbit)
URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]*@", re.IGNORECASE)
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
# quotes as the shell leaves them in the text: --appendonly "yes" is still on
REDIS_PERSIST = re.compile(r"--appendonly\s+[\"']?yes\b|--save\s+(?!\"\"|''|$)\S", re.IGNORECASE)
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
    r"|websocket|updater|gen|companion|sidekiq|clock|cleanup|prune|housekeeping|maintenance"
    r"|sync)($|[-_0-9])",
    re.IGNORECASE,
)
AUTH_SERVICE_NAME = re.compile(
    r"(^|[-_])(ldap|oidc\w*|sso|idp|keycloak|authelia|authentik|dex)($|[-_0-9])", re.IGNORECASE
)


BACKUP_IMAGES = re.compile(
    r"(^|[-_/])(backup|backups|restic|resticker|borg(matic)?|duplicati|duplicacy|kopia|rclone"
    r"|rsnapshot|autorestic|docker-volume-backup|volume-backup|db-backup|pg[-_]?backup|pgbackrest"
    r"|wal-g|barman|mysql-backup|mongodump|dump)($|[-_])",
    re.IGNORECASE,
)
HELPER_IMAGES = re.compile(r"(^|[-_/])(git-sync|gitsync|rsync|ofelia|cron|crond)($|[-_])")
BACKUP_NAME = re.compile(r"(^|[-_])(backup|backups|dump|snapshot)($|[-_0-9])", re.IGNORECASE)
PROVISIONING_DIR = re.compile(
    r"(^|/)(provisioning|dashboards|datasources|conf\.d|config\.d|sites-(enabled|available)"
    r"|templates|rules\.d)(/|$)",
    re.IGNORECASE,
)
# settings that name where a client connects: DB_HOST=db, --host db, postgres://db:5432/x
HOST_KEY = re.compile(r"(HOST|SERVER|ADDR|ADDRESS|URL|URI|DSN|ENDPOINT)(_?\d+)?$", re.IGNORECASE)
HOST_FLAG = re.compile(r"(?:^|\s)(?:-h|--host|--hostname|--server)(?:=|\s+)([A-Za-z0-9_.-]+)")
URL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?(\[[^]]*\]|[^/:?#\s]+)", re.IGNORECASE)
# a parameter or keyword that may carry an identity or a secret (password=, sslpassword=,
# user=, sentry_key=, Pwd=, auth_token=, ...)
SECRET_PARAM = re.compile(r"pass|pwd|user|uid|key|token|secret|auth|cred|sig", re.IGNORECASE)
# a password given as a keyword anywhere in a value: "Host=db;Password=pw", "password=x"
KEYWORD_PASSWORD = re.compile(r"(^|[;&?\s])(password|pwd|passwd)\s*=\s*[^;&\s]", re.IGNORECASE)
URL_FORM = re.compile(r"^[a-z][a-z0-9+.-]*://([^?#\s]*)(\?[^#\s]*)?(#\S*)?$", re.IGNORECASE)
# the key itself names a secret: a connection string under it is one, whatever it holds
STRONG_CREDENTIAL_KEY = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|AUTH",
    re.IGNORECASE,
)
CONNECTION_KEY = re.compile(
    r"(DATASOURCE|DATABASE_URL|CONNECTION_?STRING|_DSN$|_URL$|_URI$)", re.IGNORECASE
)
REDIS_NO_SAVE = re.compile(r"--save\s+(\"\"|''|$)", re.IGNORECASE)

Confidence = Literal["certain", "likely"]


@dataclass(frozen=True)
class Reason:
    """A rule that counted: the class it gives, why, and where. ``likely`` marks a
    judgement call the policy may confirm (``parent:``) or reject (``classes.remove``)."""

    cls: UpgradeClass
    reason: str
    loc: Loc
    confidence: Confidence = "certain"


@dataclass(frozen=True)
class NearMiss:
    """A rule that looked at something and did not count it, and why (``--explain``)."""

    cls: UpgradeClass
    rule: str
    why: str
    loc: Loc


def image_name(service: Service) -> str:
    image = service.effective_image
    return parse_image(image).name.lower() if image else ""


def image_repository(service: Service) -> str:
    image = service.effective_image
    return parse_image(image).repository.lower() if image else ""


def is_data_image(service: Service) -> bool:
    return bool(DATA_IMAGES.match(image_name(service))) or image_repository(service).endswith(
        DATA_REPOS
    )


def is_database(service: Service) -> bool:
    return is_data_image(service) or bool(KV_IMAGES.match(image_name(service)))


def why_not_data(mount: Mount) -> str | None:
    """Why ``mount`` holds no state of the service (None: it does), read-only aside."""
    if mount.type == "tmpfs":
        return "tmpfs: memory only, gone on restart"
    if mount.type not in ("volume", "bind"):
        return f"{mount.type} mount"
    if mount.target.startswith(("/run/", "/var/run/")) or mount.target in ("/run", "/var/run"):
        return "runtime directory (sockets and pid files, recreated on start)"
    for path in (mount.source or "", mount.target):
        if SOCKET.search(path):
            return f"socket {path}"
        if any(path.startswith(p) for p in SYSTEM_FILES):
            return f"host system file {path}"
        if KEY_FILE.search(path):
            return f"key or certificate {path}"
    if mount.type == "bind" and (
        FILE_LIKE.search(mount.target) or (mount.source and FILE_LIKE.search(mount.source))
    ):  # a named volume is a folder, whatever its name (/etc/acme.sh)
        return "a single configuration or script file"
    if CERT_DIR.search(mount.target):
        return "certificate directory"
    if mount.type == "bind" and PROVISIONING_DIR.search(posixpath.normpath(mount.target)):
        # judged by where it lands: a folder the app reads its configuration from
        return "config-provisioning folder (dashboards, datasources, conf.d) kept in the repo"
    return None


def mount_holds_data(mount: Mount) -> bool:
    return not mount.read_only and why_not_data(mount) is None


def connection_without_credentials(value: str) -> bool:
    """A URL or keyword DSN that names where to connect and nothing that could be a user,
    password, key or token (``postgres://db:5432/app``, ``Server=db;Database=app``). Any
    ``@`` (userinfo, Go's ``user:pass@tcp(db)``), or a parameter or keyword named like a
    credential, keeps it a credential; so does anything this does not recognise."""
    text = value.strip()
    if not text or "@" in text:
        return False
    if text.lower().startswith("jdbc:"):
        text = text[5:]
    url = URL_FORM.match(text)
    if url:
        # ;key=value parameters in the path (JDBC), the query and the fragment
        path, query, fragment = url.group(1), url.group(2) or "", url.group(3) or ""
        params = path.split(";", 1)[1] if ";" in path else ""
        return not any(SECRET_PARAM.search(part) for part in (params, query, fragment))
    if "://" in text or "=" not in text:
        return False
    keys = re.findall(r"(?:^|[;&\s])\s*([^=;&\s][^=;&]*?)\s*=", text)
    return bool(keys) and not any(SECRET_PARAM.search(k) for k in keys)


def hosts_named(svc: Service) -> list[tuple[str, Loc]]:
    """Host names ``svc`` connects to, from its settings and command line."""
    out: list[tuple[str, Loc]] = []
    for key, setting in svc.environment.items():
        value = (setting.value or "").strip()
        if not value:
            continue
        url = URL_HOST.match(value)
        if url:
            out.append((url.group(1), setting.loc))
        elif HOST_KEY.search(key) and re.fullmatch(r"[A-Za-z0-9_.-]+(:\d+)?", value):
            out.append((value.split(":")[0], setting.loc))
    for match in HOST_FLAG.finditer(f"{svc.entrypoint} {svc.command}"):
        out.append((match.group(1), svc.command_loc))
    return out
