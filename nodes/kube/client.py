"""Clients built from a cluster's decrypted kubeconfig or the in-cluster service account.

One `Kube` per (cluster, kubeconfig fingerprint), cached and shared by threads (urllib3's pool is
thread-safe); bodies are read as plain JSON dicts (fast for 10,000 nodes, no model objects).
"""

import json
import logging
import threading
from urllib.parse import quote

from kubenode import metrics

from .errors import KubeError, from_exception, from_response

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
POOL_SIZE = 64

log = logging.getLogger("kubenode.kube")

_cache: dict = {}
_lock = threading.Lock()

SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def q(name: str) -> str:
    return quote(name, safe="")


class Kube:
    """A thin JSON transport over the official client's ApiClient."""

    def __init__(self, api_client, server: str, expires=None):
        from nodes.cluster_secrets import redact_url

        self.api = api_client
        self.server = redact_url(server)  # shown in errors and logs: never the credentials of a URL
        self.expires = expires  # when the credential of an exec plugin runs out (None: never)
        self._discovery: dict = {}
        self._dlock = threading.Lock()

    def request(self, method: str, path: str, *, query: dict | None = None, body=None, content_type: str = "",
                timeout=None) -> dict:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        query_params = [(k, v) for k, v in (query or {}).items() if v not in (None, "")]
        try:
            m, url, hdrs, data, _ = self.api.param_serialize(
                method, path, query_params=query_params, header_params=headers, body=body,
                auth_settings=["BearerToken"],
            )
            resp = self.api.call_api(m, url, header_params=hdrs, body=data,
                                     _request_timeout=timeout or (CONNECT_TIMEOUT, READ_TIMEOUT))
            raw = resp.read()
        except KubeError:
            raise
        except Exception as exc:  # transport errors: urllib3, socket, TLS
            status = getattr(exc, "status", None)
            if status:
                metrics.kube_api_error(status)
                raise KubeError(f"HTTP {status}: {getattr(exc, 'reason', '')}", status=status) from None
            raise from_exception(exc, self.server) from None
        if not 200 <= resp.status <= 299:
            raise from_response(resp.status, raw, resp.getheaders())
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise KubeError(f"the API server {self.server} answered with something that is not JSON",
                            status=resp.status) from None

    def get(self, path, **query):
        return self.request("GET", path, query=query)

    def discover(self, path: str) -> dict:
        with self._dlock:
            if path in self._discovery:
                return self._discovery[path]
        doc = self.get(path)
        with self._dlock:
            self._discovery[path] = doc
        return doc

    def eviction_version(self) -> str:
        """apiVersion for Eviction bodies, by discovery of pods/eviction in /api/v1 (like kubectl)."""
        for res in self.discover("/api/v1").get("resources", []):
            if res.get("name") == "pods/eviction":
                group, version = res.get("group"), res.get("version")
                if group and version:
                    return f"{group}/{version}"
                return "policy/v1"
        raise KubeError("the API server does not offer the Eviction API (pods/eviction)", status=404)

    def policy_version(self) -> str:
        """Group/version serving PodDisruptionBudgets (policy/v1, else policy/v1beta1)."""
        try:
            groups = self.discover("/apis").get("groups", [])
        except KubeError:
            groups = []
        for group in groups:
            if group.get("name") == "policy":
                versions = [v.get("version") for v in group.get("versions", [])]
                for v in ("v1", "v1beta1"):
                    if v in versions:
                        return f"policy/{v}"
        return self.eviction_version()


def _build(kubeconfig_text: str | None, context: str | None, in_cluster: bool) -> Kube:
    import yaml
    from kubernetes import client, config

    cfg = client.Configuration()
    expires = None
    if in_cluster:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except Exception as exc:
            raise KubeError(f"the in-cluster service account cannot be used: {exc}") from None
    else:
        from django.core.exceptions import ValidationError

        from nodes import cluster_secrets

        try:
            doc = yaml.safe_load(kubeconfig_text or "")
        except yaml.YAMLError:
            raise KubeError("the stored kubeconfig is not valid YAML") from None
        try:  # an exec plugin runs only when allowed, here, with a timeout; its token replaces it
            doc, expires = cluster_secrets.with_exec_credential(doc if isinstance(doc, dict) else {}, context)
        except ValidationError as exc:
            raise KubeError("; ".join(exc.messages), reason="ExecRefused") from None
        try:
            config.load_kube_config_from_dict(doc, context=context or None, client_configuration=cfg,
                                              persist_config=False)
        except Exception as exc:
            raise KubeError(f"the kubeconfig cannot be used: {type(exc).__name__}") from None
    cfg.connection_pool_maxsize = POOL_SIZE
    cfg.retries = 0
    cfg.client_go_retries = False
    if not cfg.verify_ssl and cfg.host.startswith("https"):
        _warn_insecure_once(cfg.host)
    return Kube(client.ApiClient(cfg), cfg.host, expires)


_insecure_hosts: set[str] = set()


def _warn_insecure_once(host: str) -> None:
    """The kubeconfig turns TLS verification off: say so once per server, not on every request (urllib3)."""
    import warnings

    import urllib3

    warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    from nodes.cluster_secrets import redact_url

    if host not in _insecure_hosts:
        _insecure_hosts.add(host)
        log.warning("TLS certificate verification is disabled by the kubeconfig for %s "
                    "(insecure-skip-tls-verify)", redact_url(host))


def for_cluster(cluster) -> Kube:
    """The cached client of `cluster`, rebuilt when its stored kubeconfig changes."""
    from nodes import crypto

    in_cluster = cluster.source == "in_cluster"
    fp = "in-cluster" if in_cluster else crypto.fingerprint(cluster.kubeconfig_encrypted or "")
    key = (cluster.pk, cluster.name, fp, cluster.context)
    from nodes.cluster_secrets import expired

    with _lock:
        kube = _cache.get(key)
    if kube is not None and not expired(kube.expires):
        return kube
    try:
        text = None if in_cluster else crypto.decrypt(cluster.kubeconfig_encrypted)
    except crypto.DecryptionError as exc:
        raise KubeError(str(exc)) from None
    kube = _build(text, cluster.context, in_cluster)
    with _lock:
        for old in [k for k in _cache if k[0] == cluster.pk and k != key]:
            _cache.pop(old, None)
        if key in _cache and expired(_cache[key].expires):
            _cache.pop(key)
        kube = _cache.setdefault(key, kube)
    return kube


def from_kubeconfig(kubeconfig_text: str, context: str | None) -> Kube:
    """An uncached client (used to validate an import before anything is stored)."""
    return _build(kubeconfig_text, context, False)


def clear_cache():
    with _lock:
        _cache.clear()
