"""deploy/: every manifest, base and overlays rendered by kustomize (kubectl's built-in), validated against the
Kubernetes schemas of a current version (kubernetes-validate), and checked for what the deployment promises."""

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
TARGETS = ["base", "overlays/example", "overlays/redis", "overlays/example-redis"]
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
    assert {p.name for p in files} >= {"statefulset.yaml", "secret.example.yaml", "postgres.yaml", "redis.yaml"}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_invalid_manifest_is_rejected_by_the_validator():
    bad = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"},
           "spec": {"replicas": "three", "selector": {}, "serviceName": "x", "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    typo = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"portz": []}}
    with pytest.raises(kubernetes_validate.ValidationError, match="portz"):  # strict: unknown fields too
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_base_has_every_part_in_one_namespace():
    docs = render("base")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert kinds == {
        ("Namespace", "kubenode"), ("ServiceAccount", "kubenode"), ("ClusterRole", "kubenode"),
        ("ClusterRoleBinding", "kubenode"), ("ConfigMap", "kubenode-config"), ("ConfigMap", "kubenode-env"),
        ("Service", "kubenode"), ("Service", "kubenode-headless"), ("StatefulSet", "kubenode"),
        ("Job", "kubenode-migrate"), ("PodDisruptionBudget", "kubenode")}
    for doc in docs:
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "kubenode", doc["metadata"]["name"]


def test_statefulset_replicas_probes_resources_and_security():
    docs = render("base")
    sts = find(docs, "StatefulSet", "kubenode")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["serviceName"] == "kubenode-headless"
    assert find(docs, "Service", "kubenode-headless")["spec"]["clusterIP"] == "None"
    web = container(sts, "kubenode")
    assert web["args"] == ["serve"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    pod = sts["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "kubenode"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for c in pod["containers"] + pod["initContainers"]:
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        assert c["resources"]["limits"]["memory"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # selectors of the Services and the budget pick the web pods, not the migrations Job
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for svc in ("kubenode", "kubenode-headless"):
        assert find(docs, "Service", svc)["spec"]["selector"].items() <= labels.items()
    pdb = find(docs, "PodDisruptionBudget", "kubenode")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    job_labels = find(docs, "Job", "kubenode-migrate")["spec"]["template"]["metadata"]["labels"]
    assert not pdb["spec"]["selector"]["matchLabels"].items() <= job_labels.items()


def test_migrations_run_once_in_a_job_and_replicas_wait_for_them():
    docs = render("base")
    job = find(docs, "Job", "kubenode-migrate")
    assert container(job, "migrate")["args"] == ["migrate"]
    sts = find(docs, "StatefulSet", "kubenode")
    assert container(sts, "wait-migrations", init=True)["args"] == ["wait-migrations"]
    assert all("migrate" not in c.get("args", []) for c in sts["spec"]["template"]["spec"]["containers"])
    # the entrypoint knows these commands
    script = (ROOT / "scripts" / "entrypoint.sh").read_text()
    for cmd in ("serve)", "migrate)", "wait-migrations)"):
        assert cmd in script


def test_cluster_role_grants_what_node_operations_need_and_nothing_more():
    role = find(render("base"), "ClusterRole", "kubenode")
    grants = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"]
              for r in rule["resources"]}
    assert grants == {
        ("", "nodes"): {"get", "list", "watch", "patch"},
        ("", "pods"): {"get", "list", "delete"},
        ("", "pods/eviction"): {"create"},
        ("policy", "poddisruptionbudgets"): {"get", "list"},
        ("apps", "daemonsets"): {"get"},
    }
    binding = find(render("base"), "ClusterRoleBinding", "kubenode")
    assert binding["roleRef"]["name"] == "kubenode"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kubenode", "namespace": "kubenode"}]


def _load_config(docs: list[dict], tmp_path: Path) -> kconfig.Config:
    """Resolve kubenode's configuration exactly as a replica of these manifests would."""
    sts = find(docs, "StatefulSet", "kubenode")
    env = env_of(docs, sts, "kubenode")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(find(docs, "ConfigMap", "kubenode-config")["data"]["config.yaml"])
    mount = next(m for m in container(sts, "kubenode")["volumeMounts"] if m["name"] == "config")
    assert env["KUBENODE_CONFIG"] == f"{mount['mountPath']}/config.yaml"
    env.update(KUBENODE_CONFIG=str(config_file), DB_PASSWORD="pw", SECRET_KEY="k" * 50, POD_NAME="kubenode-0",
               ALLOWED_HOSTS=env["ALLOWED_HOSTS"].replace("$(POD_IP)", "10.0.0.7"))
    return kconfig.load({k: v for k, v in env.items() if not v.startswith("<from")})


@pytest.mark.parametrize("target, notify, db_host", [
    ("base", "postgres", "postgres.example.internal"),
    ("overlays/example", "postgres", "kubenode-postgres"),
    ("overlays/redis", "redis", "postgres.example.internal"),
    ("overlays/example-redis", "redis", "kubenode-postgres"),
])
def test_configuration_of_each_variant_loads(target, notify, db_host, tmp_path):
    docs = render(target)
    cfg = _load_config(docs, tmp_path)
    assert cfg.database_type == "postgres"
    assert cfg["database.host"] == db_host and cfg.source("database.host") == "env DB_HOST"
    assert cfg.notify_type == notify
    assert cfg.replica_id == "kubenode-0"
    assert "10.0.0.7" in cfg["server.allowed_hosts"]
    assert cfg["log.format"] == "json"
    sts = find(docs, "StatefulSet", "kubenode")
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert cfg["server.shutdown_grace"] + 5 <= grace  # the pod is not killed before the tasks are interrupted
    env = env_of(docs, sts, "kubenode")
    for name in ("DB_TYPE", "DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD", "DB_SSL_MODE"):
        assert name in env, name
    if notify == "redis":
        assert cfg["progress.redis.addr"] == "kubenode-redis:6379"
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
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pip install -r requirements.txt" in text
    assert "collectstatic" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["/app/scripts/entrypoint.sh"]' in text
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for src in re.findall(r"^COPY (\S+) ", text, re.M):
        assert (ROOT / src).exists(), f"COPY {src}: missing"
        assert src.split("/")[0] not in ignored, f"COPY {src}: excluded by .dockerignore"
    uid = user[-1].split(":")[0]
    sts = find(render("base"), "StatefulSet", "kubenode")
    assert str(sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == uid
