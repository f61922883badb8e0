"""deploy/: every manifest, base and overlays rendered by kustomize (kubectl's built-in), validated against the
Kubernetes schemas of a current version (kubernetes-validate), and checked for what the deployment promises: three
roles (web, worker, standalone listener), RBAC per role, probes everywhere, graces that outlast a drain. The image
itself is built and run by tests/ops/test_image.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from kubenode import config as kconfig
from kubenode import metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = kubernetes_validate.latest_version()
TARGETS = ["base", "overlays/example", "overlays/redis", "overlays/example-redis", "overlays/standalone-listener"]
DRAIN_TIMEOUT_S = 300  # a drain's own default timeout (nodes/kube/drain.py)
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


@cache
def render(target: str) -> list[dict]:
    done = subprocess.run([KUBECTL, "kustomize", str(DEPLOY / target)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, f"kubectl kustomize {target}: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def container(workload: dict, name: str, init: bool = False) -> dict:
    spec = workload["spec"]["template"]["spec"]
    return next(c for c in spec["initContainers" if init else "containers"] if c["name"] == name)


def env_of(docs: list[dict], workload: dict, name: str) -> dict:
    """The environment of a container: its envFrom ConfigMaps, then env (literal values only)."""
    c = container(workload, name)
    env = {}
    for ref in c.get("envFrom", []):
        env.update(find(docs, "ConfigMap", ref["configMapRef"]["name"])["data"])
    for item in c.get("env", []):
        env[item["name"]] = item.get("value", "<from " + next(iter(item.get("valueFrom", {"?": 0}))) + ">")
    return env


def test_kubernetes_version_is_current():
    major, minor = map(int, KUBERNETES_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33)


@pytest.mark.parametrize("target", TARGETS)
def test_rendered_manifests_validate_against_the_kubernetes_schemas(target):
    docs = render(target)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on the first error


def test_every_manifest_file_validates_on_its_own():
    files = [p for p in DEPLOY.rglob("*.yaml") if p.name not in ("kustomization.yaml", "alerts.yaml")]
    assert {p.name for p in files} >= {"web.yaml", "worker.yaml", "listener.yaml", "secret.example.yaml",
                                       "postgres.yaml", "redis.yaml"}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_every_overlay_is_tested():
    found = {p.parent.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("kustomization.yaml")
             if p.parent.parent.name != "components"}
    assert found == set(TARGETS)


def test_invalid_manifest_is_rejected_by_the_validator():
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "three", "selector": {}, "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    typo = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError, match="portz"):  # strict: unknown fields too
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_base_has_every_part_in_one_namespace():
    docs = render("base")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds == {
        ("Namespace", "kubenode"), ("ServiceAccount", "kubenode-web"), ("ServiceAccount", "kubenode-worker"),
        ("ClusterRole", "kubenode-web"), ("ClusterRole", "kubenode-worker"),
        ("ClusterRoleBinding", "kubenode-web"), ("ClusterRoleBinding", "kubenode-worker"),
        ("ConfigMap", "kubenode-config"), ("ConfigMap", "kubenode-env"), ("Service", "kubenode"),
        ("Deployment", "kubenode-web"), ("Deployment", "kubenode-worker"), ("Job", "kubenode-migrate"),
        ("PodDisruptionBudget", "kubenode-web"), ("PodDisruptionBudget", "kubenode-worker")}
    for doc in docs:
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "kubenode", doc["metadata"]["name"]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]


@pytest.mark.parametrize("target", TARGETS)
def test_every_container_of_every_workload_has_probes_resources_and_a_safe_context(target):
    """Readiness and liveness on every long-running container, the example PostgreSQL and Redis included; the
    probes of kubenode's own containers point at ports the container declares. (A Job's container runs to
    completion: it has neither.)"""
    found = workloads(render(target))
    assert len(found) >= 2
    for workload in found:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        for c in pod["containers"]:
            where = f"{target}: {workload['metadata']['name']}/{c['name']}"
            assert c.get("readinessProbe") and c.get("livenessProbe"), where
            assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], where
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = c[probe].get("httpGet", {}).get("port")
                assert port is None or port in ports, f"{where}: {probe} on undeclared port {port}"
        for c in pod.get("initContainers", []):
            assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_web_and_worker_roles():
    docs = render("base")
    web, worker = find(docs, "Deployment", "kubenode-web"), find(docs, "Deployment", "kubenode-worker")
    c = container(web, "web")
    assert c["args"] == ["serve"]
    assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
    w = container(worker, "worker")
    assert w["args"] == ["worker"]
    assert [p["containerPort"] for p in w["ports"]] == [8001]  # worker.health_port
    assert (w["livenessProbe"]["httpGet"]["path"], w["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
    assert worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "8001"
    # a rollout starts the new pod before the old one drains
    for workload in (web, worker):
        assert workload["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # the Service and each budget pick their own role's pods, and never the migrations Job
    web_labels = web["spec"]["template"]["metadata"]["labels"]
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    job_labels = find(docs, "Job", "kubenode-migrate")["spec"]["template"]["metadata"]["labels"]
    selector = find(docs, "Service", "kubenode")["spec"]["selector"]
    assert selector.items() <= web_labels.items() and not selector.items() <= worker_labels.items()
    for name, labels in (("kubenode-web", web_labels), ("kubenode-worker", worker_labels)):
        budget = find(docs, "PodDisruptionBudget", name)["spec"]
        assert budget["maxUnavailable"] == 1 and budget["selector"]["matchLabels"].items() <= labels.items()
        others = [worker_labels if labels is web_labels else web_labels, job_labels]
        assert not any(budget["selector"]["matchLabels"].items() <= o.items() for o in others)


def test_worker_grace_outlasts_its_shutdown_grace_and_the_drain_timeout(tmp_path):
    docs = render("base")
    worker = find(docs, "Deployment", "kubenode-worker")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    config = yaml.safe_load(find(docs, "ConfigMap", "kubenode-config")["data"]["config.yaml"])
    shutdown = config["worker"]["shutdown_grace"]
    seconds = kconfig._duration_seconds(shutdown)
    assert grace == 360 and DRAIN_TIMEOUT_S < seconds < grace, (DRAIN_TIMEOUT_S, seconds, grace)
    assert config["worker"]["health_port"] == 8001


def test_migrations_run_once_in_a_job_and_pods_wait_for_them():
    docs = render("base")
    job = find(docs, "Job", "kubenode-migrate")
    assert container(job, "migrate")["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    for name in ("kubenode-web", "kubenode-worker"):
        workload = find(docs, "Deployment", name)
        assert container(workload, "wait-migrations", init=True)["args"] == ["wait-migrations"]
        assert all("migrate" not in c.get("args", []) for c in workload["spec"]["template"]["spec"]["containers"])
    # the entrypoint knows every command the manifests run
    script = (ROOT / "scripts" / "entrypoint.sh").read_text()
    for cmd in ("serve)", "worker)", "listen)", "migrate)", "wait-migrations)"):
        assert cmd in script


def grants(role: dict) -> dict:
    return {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}


def test_each_role_gets_only_what_it_needs_on_the_cluster():
    docs = render("overlays/standalone-listener")
    web, worker = find(docs, "ClusterRole", "kubenode-web"), find(docs, "ClusterRole", "kubenode-worker")
    assert grants(web) == {  # reads only: the pages and previews
        ("", "nodes"): {"get", "list", "watch"},
        ("", "pods"): {"get", "list"},
        ("policy", "poddisruptionbudgets"): {"get", "list"},
        ("apps", "daemonsets"): {"get"},
    }
    assert grants(worker) == {  # the node operations
        ("", "nodes"): {"get", "list", "watch", "patch"},
        ("", "pods"): {"get", "list", "delete"},
        ("", "pods/eviction"): {"create"},
        ("policy", "poddisruptionbudgets"): {"get", "list"},
        ("apps", "daemonsets"): {"get"},
    }
    for role in ("web", "worker"):
        binding = find(docs, "ClusterRoleBinding", f"kubenode-{role}")
        assert binding["roleRef"]["name"] == f"kubenode-{role}"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"kubenode-{role}", "namespace": "kubenode"}]
        workload = find(docs, "Deployment", f"kubenode-{role}")
        assert workload["spec"]["template"]["spec"]["serviceAccountName"] == f"kubenode-{role}"
    # the listener talks to PostgreSQL and Redis only: no token, no role
    listener = find(docs, "Deployment", "kubenode-listener")["spec"]["template"]["spec"]
    assert listener["automountServiceAccountToken"] is False
    assert not [b for b in docs if b["kind"] == "ClusterRoleBinding"
                and any(s["name"] == "kubenode-listener" for s in b["subjects"])]


def test_standalone_listener_overlay():
    docs = render("overlays/standalone-listener")
    listener = find(docs, "Deployment", "kubenode-listener")
    c = container(listener, "listener")
    assert c["args"] == ["listen"] and listener["spec"]["replicas"] >= 2
    assert [p["containerPort"] for p in c["ports"]] == [8002]
    budget = find(docs, "PodDisruptionBudget", "kubenode-listener")["spec"]["selector"]["matchLabels"]
    assert budget.items() <= listener["spec"]["template"]["metadata"]["labels"].items()
    assert not [d for d in render("base") if d["metadata"]["name"] == "kubenode-listener"]


def _load_config(docs: list[dict], tmp_path: Path, role: str = "web") -> kconfig.Config:
    """Resolve kubenode's configuration exactly as a pod of `role` in these manifests would."""
    workload = find(docs, "Deployment", f"kubenode-{role}")
    env = env_of(docs, workload, role)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(find(docs, "ConfigMap", "kubenode-config")["data"]["config.yaml"])
    mount = next(m for m in container(workload, role)["volumeMounts"] if m["name"] == "config")
    assert env["KUBENODE_CONFIG"] == f"{mount['mountPath']}/config.yaml"
    env.update(KUBENODE_CONFIG=str(config_file), DB_PASSWORD="pw", SECRET_KEY="k" * 50, POD_NAME=f"kubenode-{role}-0",
               ALLOWED_HOSTS=env.get("ALLOWED_HOSTS", "localhost").replace("$(POD_IP)", "10.0.0.7"))
    return kconfig.load({k: v for k, v in env.items() if not v.startswith("<from")})


@pytest.mark.parametrize("target, notify, db_host, listener", [
    ("base", "postgres", "postgres.example.internal", "embedded"),
    ("overlays/example", "postgres", "kubenode-postgres", "embedded"),
    ("overlays/redis", "redis", "postgres.example.internal", "embedded"),
    ("overlays/example-redis", "redis", "kubenode-postgres", "embedded"),
    ("overlays/standalone-listener", "redis", "postgres.example.internal", "standalone"),
])
def test_configuration_of_each_variant_loads(target, notify, db_host, listener, tmp_path):
    docs = render(target)
    roles = ["web", "worker"] + (["listener"] if listener == "standalone" else [])
    for role in roles:
        cfg = _load_config(docs, tmp_path, role)
        assert cfg.database_type == "postgres"
        assert cfg["database.host"] == db_host and cfg.source("database.host") == "env DB_HOST"
        assert cfg.notify_type == notify
        assert cfg["progress.listener"] == listener
        assert cfg.replica_id == f"kubenode-{role}-0"
        assert cfg["log.format"] == "json"
        env = env_of(docs, find(docs, "Deployment", f"kubenode-{role}"), role)
        for name in ("DB_TYPE", "DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD", "DB_SSL_MODE"):
            assert name in env, (role, name)
    web = _load_config(docs, tmp_path, "web")
    assert "10.0.0.7" in web["server.allowed_hosts"]
    grace = find(docs, "Deployment", "kubenode-web")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert web["server.shutdown_grace"] + 5 <= grace
    if notify == "redis":
        assert web["progress.redis.addr"] == "kubenode-redis:6379"
        find(docs, "Deployment", "kubenode-redis")
        assert find(docs, "Service", "kubenode-redis")["spec"]["ports"][0]["port"] == 6379


def test_example_postgres_shares_the_password_secret():
    docs = render("overlays/example")
    secret = find(docs, "Secret", "kubenode-secrets")
    assert set(secret["data"]) == {"DB_PASSWORD", "SECRET_KEY"}
    pg = find(docs, "StatefulSet", "kubenode-postgres")
    pw = next(e for e in container(pg, "postgres")["env"] if e["name"] == "POSTGRES_PASSWORD")
    assert pw["valueFrom"]["secretKeyRef"] == {"name": "kubenode-secrets", "key": "DB_PASSWORD"}
    assert find(docs, "Service", "kubenode-postgres")["metadata"]["name"] == \
        find(docs, "ConfigMap", "kubenode-env")["data"]["DB_HOST"]


def test_alert_rules_use_metrics_kubenode_exports():
    rules = yaml.safe_load((DEPLOY / "alerts.yaml").read_text())
    exported = {m._name for m in vars(metrics).values() if hasattr(m, "_type") and hasattr(m, "_name")}
    exported |= {n + "_total" for n in exported}
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {"KubenodeListenerReconnecting", "KubenodeDeliveryBacklog", "KubenodeTaskSuccessLow"} <= set(by_name)
    assert "kubenode_listener_reconnects_total" in by_name["KubenodeListenerReconnecting"]["expr"]
    assert "> 3" in by_name["KubenodeListenerReconnecting"]["expr"]
    assert "> 100" in by_name["KubenodeDeliveryBacklog"]["expr"]
    assert "< 0.95" in by_name["KubenodeTaskSuccessLow"]["expr"]
    for rule in by_name.values():
        assert rule["labels"]["severity"] and rule["annotations"]["summary"]
        used = set(re.findall(r"\bkubenode_[a-z_]+", rule["expr"]))
        assert used and used <= exported, used - exported


def test_dockerfile_builds_what_the_manifests_run():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M) and "FROM ${BASE_IMAGE}" in text
    assert "python3 -m venv /opt/venv" in text and "pip install -r requirements.txt -r requirements-logins.txt" in text
    # two stages: the compiler and LDAP headers only where the venv is built, the run-time libraries in the image
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2 and stages[0].startswith("${BASE_IMAGE} AS venv")
    assert stages[1].startswith("${BASE_IMAGE}\n")
    assert all(p in stages[0] for p in ("gcc", "libldap2-dev", "libsasl2-dev"))
    assert "COPY --from=venv /opt/venv /opt/venv" in stages[1]
    assert all(p in stages[1] for p in ("libldap-2.5-0", "libsasl2-2"))
    assert not any(p in stages[1] for p in ("gcc", "-dev"))
    assert "collectstatic" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["/app/scripts/entrypoint.sh"]' in text
    # .dockerignore is an allow-list: the application, nothing of the simulator, tests, benchmarks or docs
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    assert allowed == {"manage.py", "requirements.txt", "requirements-logins.txt",
                       "kubenode", "nodes", "progress", "api", "accounts", "templates",
                       "static", "locale", "scripts/entrypoint.sh", "scripts/compile-messages.sh"}
    for path in allowed:
        assert (ROOT / path).exists(), path
    uid = user[-1].split(":")[0]
    for workload in workloads(render("overlays/standalone-listener")):
        if workload["metadata"]["name"].startswith("kubenode-") and "postgres" not in workload["metadata"]["name"] \
                and "redis" not in workload["metadata"]["name"]:
            assert str(workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == uid
