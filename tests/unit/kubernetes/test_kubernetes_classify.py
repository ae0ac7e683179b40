"""Kubernetes manifests to modules: parsing, kustomize, and each class's rule."""

from __future__ import annotations

import pytest

from stategate.errors import InputError
from stategate.kubernetes.classify import classify_kubernetes
from stategate.kubernetes.load import load_kubernetes
from stategate.policy.classify import Module
from stategate.policy.default import default_policy
from stategate.policy.schema import ModulePolicy, UpgradeClass
from stategate.source import WorkTree
from tests.conftest import Tree

C = UpgradeClass


def modules(tree: Tree, files: dict[str, str], paths: tuple[str, ...] = ()) -> dict[str, Module]:
    kset = load_kubernetes(WorkTree(tree(files)), paths)
    return classify_kubernetes(kset, default_policy())


def pod(name: str, body: str, kind: str = "Deployment", ns: str = "") -> str:
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return (
        f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n{meta}spec:\n  template:\n"
        f"    metadata:\n      labels: {{app: {name}}}\n    spec:\n{body}"
    )


def reasons(module: Module, cls: UpgradeClass) -> list[str]:
    return [f"{r.reason} @ {r.loc}" for r in module.reasons if r.cls is cls]


WEB = "      containers:\n        - name: web\n          image: nginx:1.27\n"


def test_stateful_claim_template_and_database_image(tree: Tree) -> None:
    body = (
        "      containers:\n        - name: db\n          image: postgres:16\n"
        "  volumeClaimTemplates:\n    - metadata: {name: data}\n"
    )
    (db,) = modules(tree, {"k8s/db.yaml": pod("db", body, "StatefulSet")}).values()
    assert db.id == "default/db" and db.classes == [C.STATEFUL]
    assert reasons(db, C.STATEFUL) == [
        "volumeClaimTemplate data (a claim per pod) @ k8s/db.yaml:14",
        "data-store image postgres @ k8s/db.yaml:12",
    ]


def test_pvc_mounted_writable_is_stateful_read_only_is_not(tree: Tree) -> None:
    body = (
        "      containers:\n        - name: app\n          image: example/app:1\n"
        "          volumeMounts:\n            - {name: d, mountPath: /data, readOnly: RO}\n"
        "      volumes:\n        - name: d\n          persistentVolumeClaim: {claimName: app-data}\n"
    )
    rw = modules(tree, {"a.yaml": pod("app", body.replace(", readOnly: RO", ""))})["default/app"]
    assert reasons(rw, C.STATEFUL) == ["app-data mounted writable at /data @ a.yaml:14"]
    ro = modules(tree, {"a.yaml": pod("app", body.replace("RO", "true"))})["default/app"]
    assert ro.classes == [C.STATELESS]


def test_redis_needs_persistence_like_compose(tree: Tree) -> None:
    plain = "      containers:\n        - name: r\n          image: redis:7.2\n"
    assert modules(tree, {"r.yaml": pod("r", plain)})["default/r"].classes == [C.STATELESS]
    persist = plain + "          args: [--appendonly, 'yes']\n"
    assert modules(tree, {"r.yaml": pod("r", persist)})["default/r"].classes == [C.STATEFUL]


def test_public_edge_by_service_type_external_ips_and_routes(tree: Tree) -> None:
    services = (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  type: LoadBalancer\n  selector: {app: web}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: other}\n"
        "spec:\n  type: NodePort\n  selector: {app: nothing-here}\n"
    )
    (web,) = modules(tree, {"w.yaml": pod("web", WEB) + services}).values()
    assert reasons(web, C.PUBLIC_EDGE) == [
        "Service web of type LoadBalancer selects it @ w.yaml:18"
    ]
    internal = (
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec:\n  selector: {app: web}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: in}\n"
        "spec:\n  rules:\n    - http:\n        paths:\n          - path: /\n"
        "            backend:\n              service: {name: web, port: {number: 80}}\n"
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
        "spec:\n  rules:\n    - backendRefs:\n        - {name: web, port: 80}\n"
    )
    (web,) = modules(tree, {"w.yaml": pod("web", WEB) + internal}).values()
    assert reasons(web, C.PUBLIC_EDGE) == [
        "Ingress in routes to Service web @ w.yaml:29",
        "HTTPRoute r routes to Service web @ w.yaml:37",
    ]
    ips = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  externalIPs: [1.2.3.4]\n  selector: {app: web}\n"
    (web,) = modules(tree, {"w.yaml": pod("web", WEB) + ips}).values()
    assert reasons(web, C.PUBLIC_EDGE) == ["Service web has externalIPs @ w.yaml:18"]


def test_secret_bearing(tree: Tree) -> None:
    body = (
        "      containers:\n        - name: app\n          image: example/app:1\n"
        "          env:\n"
        "            - name: DB\n              valueFrom: {secretKeyRef: {name: db, key: url}}\n"
        "            - {name: API_TOKEN, value: abc}\n"
        "            - {name: SECRETS_ENABLED, value: 'true'}\n"
        "            - {name: URL, value: 'postgres://u:p@db/x'}\n"
        "          envFrom:\n            - secretRef: {name: bulk}\n"
        "      volumes:\n        - name: s\n          secret: {secretName: tls}\n"
        "        - name: p\n          projected:\n            sources:\n"
        "              - secret: {name: other}\n"
    )
    (app,) = modules(tree, {"a.yaml": pod("app", body)}).values()
    assert reasons(app, C.SECRET_BEARING) == [
        "DB from secretKeyRef db @ a.yaml:14",
        "credential variable API_TOKEN @ a.yaml:16",
        "URL embeds credentials @ a.yaml:18",
        "envFrom secretRef bulk @ a.yaml:20",
        "secret volume s holds secret tls @ a.yaml:22",
        "projected volume p holds secret other @ a.yaml:24",
    ]


def test_privileged(tree: Tree) -> None:
    body = (
        "      hostNetwork: true\n      hostPID: false\n"
        "      containers:\n        - name: agent\n          image: example/agent:1\n"
        "          securityContext:\n            privileged: true\n"
        "            capabilities: {add: [SYS_ADMIN, CHOWN]}\n"
        "      volumes:\n        - name: sock\n          hostPath: {path: /var/run/docker.sock}\n"
    )
    (agent,) = modules(tree, {"d.yaml": pod("agent", body, "DaemonSet")}).values()
    assert reasons(agent, C.PRIVILEGED) == [
        "hostNetwork: true @ d.yaml:10",
        "container engine socket /var/run/docker.sock @ d.yaml:19",
        "securityContext.privileged: true (agent) @ d.yaml:16",
        "capability SYS_ADMIN @ d.yaml:17",
    ]


def test_auth_image(tree: Tree) -> None:
    body = "      containers:\n        - name: kc\n          image: quay.io/keycloak/keycloak:25\n"
    assert C.AUTH in modules(tree, {"k.yaml": pod("idp", body)})["default/idp"].classes


def test_job_mounting_a_statefulset_claim_is_its_sidecar(tree: Tree) -> None:
    db = (
        "      containers:\n        - name: db\n          image: postgres:16\n"
        "  volumeClaimTemplates:\n    - metadata: {name: data}\n"
    )
    job = (
        "      restartPolicy: Never\n"
        "      containers:\n        - name: dump\n          image: postgres:16\n"
        "      volumes:\n        - name: d\n          persistentVolumeClaim: {claimName: data-db-0}\n"
    )
    found = modules(
        tree,
        {"db.yaml": pod("db", db, "StatefulSet", "ns"), "job.yaml": pod("dump", job, "Job", "ns")},
    )
    dump = found["ns/dump"]
    assert dump.parent == "ns/db"
    assert reasons(dump, C.SIDECAR_BOUND) == ["Job mounts claim data-db-0 of ns/db @ job.yaml:16"]
    assert found["ns/db"].dependents == ["ns/dump"]


def test_job_waiting_for_a_service_is_its_sidecar_and_references_make_core(tree: Tree) -> None:
    db = "      containers:\n        - name: db\n          image: postgres:16\n"
    svc = "---\napiVersion: v1\nkind: Service\nmetadata: {name: pg}\nspec:\n  selector: {app: db}\n"
    job = (
        "      initContainers:\n        - name: wait\n          image: busybox\n"
        "          command: [sh, -c, 'until nslookup pg; do sleep 1; done']\n"
        "      containers:\n        - name: migrate\n          image: example/app:1\n"
    )
    app = (
        "      containers:\n        - name: app\n          image: example/app:1\n"
        "          env:\n            - {name: DB_HOST, value: pg.default.svc.cluster.local}\n"
    )
    found = modules(
        tree,
        {
            "db.yaml": pod("db", db, "StatefulSet") + svc,
            "job.yaml": pod("migrate", job, "Job"),
            "app.yaml": pod("app", app),
            "pgx.yaml": pod("pgx", app.replace("pg.default", "pgx.default")),
        },
    )
    migrate = found["default/migrate"]
    assert migrate.parent == "default/db"
    assert reasons(migrate, C.SIDECAR_BOUND) == [
        "Job init container wait waits for Service pg @ job.yaml:13"
    ]
    assert found["default/db"].dependents == ["default/app", "default/migrate"]
    assert found["default/db"].tier == "core"
    assert found["default/app"].tier == "leaf"


def test_init_container_sharing_the_data_volume(tree: Tree) -> None:
    body = (
        "      initContainers:\n        - name: war\n          image: example/war:2\n"
        "          volumeMounts: [{name: app, mountPath: /app}]\n"
        "      containers:\n        - name: tomcat\n          image: tomcat:9\n"
        "          volumeMounts: [{name: app, mountPath: /usr/local/tomcat/webapps}]\n"
        "      volumes:\n        - name: app\n          emptyDir: {}\n"
    )
    (web,) = modules(tree, {"j.yaml": pod("javaweb", body)}).values()
    assert web.classes == [C.SIDECAR_BOUND] and web.parent == "default/javaweb"
    assert reasons(web, C.SIDECAR_BOUND) == [
        "init container war works on the data tomcat serves @ j.yaml:13"
    ]


def test_kustomization_namespace_prefix_images_and_nesting(tree: Tree) -> None:
    files = {
        "base/kustomization.yaml": "resources: [db.yaml]\nnamePrefix: app-\n",
        "base/db.yaml": pod(
            "db", "      containers:\n        - name: db\n          image: postgres:16.1\n"
        ),
        "prod/kustomization.yaml": (
            "resources: [../base]\nnamespace: prod\n"
            "images:\n  - {name: postgres, newName: docker.io/library/postgres, newTag: '16.4'}\n"
        ),
    }
    found = modules(tree, files)
    (db,) = found.values()
    assert db.id == "prod/app-db"
    assert db.image == "docker.io/library/postgres:16.4"


def test_list_kind_and_multi_documents(tree: Tree) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: a}\n"
        "    spec: {template: {spec: {containers: [{name: a, image: x:1}]}}}\n"
        "---\n---\n" + pod("b", WEB) + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    kset = load_kubernetes(WorkTree(tree({"m.yaml": text})))
    assert [w.id for w in kset.workloads] == ["default/a", "default/b"]
    assert any("ConfigMap" in w.message for w in kset.warnings)


def test_image_changes_of_every_container_are_kept(tree: Tree) -> None:
    body = (
        "      initContainers:\n        - {name: init, image: busybox:1.36}\n"
        "      containers:\n        - {name: a, image: x:1}\n        - {name: b, image: y:2}\n"
    )
    (module,) = modules(tree, {"m.yaml": pod("m", body)}).values()
    assert module.image == "x:1"
    assert module.service.more_images == (("b", "y:2"), ("init:init", "busybox:1.36"))


def test_policy_overrides_apply_to_workloads(tree: Tree) -> None:
    policy = default_policy()
    policy.modules["default/web"] = ModulePolicy.model_validate(
        {"classes": {"add": ["stateful"]}, "tier": "core"}
    )
    kset = load_kubernetes(WorkTree(tree({"w.yaml": pod("web", WEB)})))
    web = classify_kubernetes(kset, policy)["default/web"]
    assert web.classes == [C.STATEFUL] and web.tier == "core"


@pytest.mark.parametrize(
    ("files", "needle", "where"),
    [
        (
            {"m.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\n"},
            "must be a scalar",
            "m.yaml:3",
        ),
        ({"m.yaml": "apiVersion: v1\nkind: Pod\n- x\n"}, "invalid YAML", "m.yaml"),
        (
            {"m.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n"},
            "must be a list",
            "m.yaml:4",
        ),
        (
            {"m.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad/Name}\nspec: {}\n"},
            "invalid Pod name",
            "m.yaml:3",
        ),
        ({"m.yaml": "- a list\n"}, "must be a mapping", "m.yaml"),
        ({"kustomization.yaml": "resources: [../../etc]\n"}, "escapes", "kustomization.yaml:1"),
        (
            {"kustomization.yaml": "resources: [https://example.com/x.yaml]\n"},
            "remote",
            "kustomization.yaml:1",
        ),
        (
            {
                "a/kustomization.yaml": "resources: [../b]\n",
                "b/kustomization.yaml": "resources: [../a]\n",
                "c/kustomization.yaml": "resources: [../a]\n",
            },
            "cycle",
            "a",
        ),
        ({"kustomization.yaml": "resources: [nope.yaml]\n"}, "not found", "kustomization.yaml:1"),
    ],
)
def test_hostile_manifests_name_the_file(
    tree: Tree, files: dict[str, str], needle: str, where: str
) -> None:
    with pytest.raises(InputError) as caught:
        load_kubernetes(WorkTree(tree(files)), ("m.yaml",) if "m.yaml" in files else ())
    assert needle in caught.value.message
    assert str(caught.value).startswith(where)


def test_connection_strings_and_cache_redis_are_near_misses(tree: Tree) -> None:
    body = (
        "      containers:\n        - name: api\n          image: example/api:1\n"
        "          env:\n"
        "            - {name: DATABASE_URL, value: 'postgres://pg:5432/app'}\n"
        "            - {name: REDIS_URL, value: 'redis://:s3cret@cache:6379'}\n"
        "            - name: API_TOKEN\n"
        "              valueFrom: {configMapKeyRef: {name: api, key: token}}\n"
    )
    cache = "      containers:\n        - name: redis\n          image: redis:7.4\n"
    found = modules(tree, {"a.yaml": pod("api", body), "b.yaml": pod("cache", cache)})
    api = found["default/api"]
    assert reasons(api, C.SECRET_BEARING) == [
        "REDIS_URL embeds credentials @ a.yaml:15",  # redis' empty user: still a password
        "credential variable API_TOKEN @ a.yaml:16",
    ]
    assert [(n.rule, n.loc.line) for n in api.near_misses] == [("credential variable", 14)]
    redis = found["default/cache"]
    assert redis.classes == [C.STATELESS]
    assert any("lives and dies with the pod" in n.why for n in redis.near_misses)


NATIVE_SIDECAR = (
    "      containers:\n        - name: app\n          image: example/app:1\n"
    "      initContainers:\n        - name: db\n          image: postgres:15.6\n"
    "          restartPolicy: Always\n"
    "          ports: [{containerPort: 5432, hostPort: 5432}]\n"
    "          volumeMounts:\n            - {name: pgdata, mountPath: /var/lib/postgresql/data}\n"
    "        - name: proxy\n          image: quay.io/oauth2-proxy/oauth2-proxy:v7.6.0\n"
    "          restartPolicy: Always\n"
    "      volumes:\n        - name: pgdata\n          persistentVolumeClaim: {claimName: pg}\n"
)


def test_native_sidecars_count_like_main_containers(tree: Tree) -> None:
    app = modules(tree, {"a.yaml": pod("app", NATIVE_SIDECAR)})["default/app"]
    assert reasons(app, C.STATEFUL) == [
        "pg mounted writable at /var/lib/postgresql/data @ a.yaml:19",
        "data-store image postgres @ a.yaml:15",
    ]
    assert reasons(app, C.PUBLIC_EDGE) == ["hostPort 5432:5432/TCP on the node @ a.yaml:17"]
    assert reasons(app, C.AUTH) == ["identity provider / auth gate image oauth2-proxy @ a.yaml:21"]


def test_ordinary_init_containers_writing_a_claim_are_state_their_images_are_not(
    tree: Tree,
) -> None:
    body = NATIVE_SIDECAR.replace("          restartPolicy: Always\n", "")
    app = modules(tree, {"a.yaml": pod("app", body)})["default/app"]
    # the claim it writes is state; a postgres image that runs to completion is not
    assert reasons(app, C.STATEFUL) == [
        "pg mounted writable at /var/lib/postgresql/data @ a.yaml:18"
    ]
    assert reasons(app, C.AUTH) == []
    assert reasons(app, C.PUBLIC_EDGE) == ["hostPort 5432:5432/TCP on the node @ a.yaml:16"]
    wait = (
        "      containers:\n        - name: app\n          image: example/app:1\n"
        "      initContainers:\n        - name: wait\n          image: postgres:16\n"
        "          command: [sh, -c, 'until pg_isready -h db; do sleep 1; done']\n"
    )
    assert modules(tree, {"a.yaml": pod("app", wait)})["default/app"].classes == [C.STATELESS]


CLAIM_MOUNT = (
    "      containers:\n        - name: app\n          image: example/app:1\n"
    "          volumeMounts:\n            - {name: data, mountPath: /data}\n"
    "      volumes:\n        - name: data\n"
)


@pytest.mark.parametrize(
    "source",
    [
        "          emptyDir: null\n          persistentVolumeClaim: {claimName: x}\n",
        "          emptyDir: ~\n          persistentVolumeClaim: {claimName: x}\n",
        "          labels: {a: b}\n          persistentVolumeClaim: {claimName: x}\n",
        "          persistentVolumeClaim: {claimName: x}\n          hostPath: null\n",
    ],
)
def test_the_volume_type_is_the_non_null_known_source(tree: Tree, source: str) -> None:
    app = modules(tree, {"a.yaml": pod("app", CLAIM_MOUNT + source)})["default/app"]
    assert reasons(app, C.STATEFUL) == ["x mounted writable at /data @ a.yaml:14"]


@pytest.mark.parametrize(
    ("source", "needle", "line"),
    [
        (
            "          emptyDir: {}\n          persistentVolumeClaim: {claimName: x}\n",
            "may not specify more than 1 volume type",
            18,
        ),
        ("          fancyDisk: {id: 1}\n", "unknown volume type 'fancyDisk'", 17),
    ],
)
def test_two_volume_sources_or_an_unknown_one_are_errors(
    tree: Tree, source: str, needle: str, line: int
) -> None:
    with pytest.raises(InputError) as caught:
        modules(tree, {"a.yaml": pod("app", CLAIM_MOUNT + source)})
    assert needle in caught.value.message
    assert str(caught.value).startswith(f"a.yaml:{line}")


def test_a_volume_without_a_source_is_an_empty_dir(tree: Tree) -> None:
    app = modules(tree, {"a.yaml": pod("app", CLAIM_MOUNT + "          emptyDir: null\n")})
    assert app["default/app"].classes == [C.STATELESS]
