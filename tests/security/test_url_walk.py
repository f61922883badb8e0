"""Every URL of the project, taken from the URL resolver (no hand list), requested with GET and POST by an anonymous
visitor, a viewer, an operator, an admin-group member and a superuser: never a 500 or a traceback, the login page
for anonymous visitors of private pages, and no change to the data by a role that may not change it."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from nodes.models import AuditEntry, Cluster, LabelTaintTemplate
from tests.security.conftest import ROLE_NAMES, finished_task

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "healthz", "readyz", "metrics", "favicon", "set_language", "javascript_catalog", "admin:login",
          "logout", "admin:logout"}
# tables a visit may change whoever makes it: sessions, sign-in records, language preference, token use counters
NOT_DATA = {"sessions", "axes", "contenttypes", "admin"}


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace if p.namespace else None
            full = ":".join(x for x in (namespace, ns) if x) or None
            yield from _walk(p.url_patterns, prefix + str(p.pattern), full)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield prefix + str(p.pattern), name or f"(unnamed) {prefix + str(p.pattern)}"


ROUTES = sorted(set(_walk(get_resolver().url_patterns)))


def test_the_walk_covers_the_project():
    names = {name for _, name in ROUTES}
    for expected in ("progress:task_retry", "nodes:node_action", "nodes:cluster_remove", "admin:auth_user_change",
                     "nodes:audit_log", "home"):
        assert expected in names
    assert len(ROUTES) > 60


def _model_pk(app: str, model: str, objects: dict) -> str:
    try:
        cls = apps.get_model(app, model)
    except LookupError:
        return "1"
    key = f"{app}.{model}"
    if key in objects:
        return str(objects[key])
    first = cls.objects.order_by("pk").values_list("pk", flat=True).first()
    return str(first) if first is not None else "1"


def _url(route: str, objects: dict) -> str:
    url = route.replace("^", "").replace("$", "")
    url = re.sub(r"\(\?P<app_label>[^)]*\)", "nodes", url)
    url = re.sub(r"\(\?P<url>[^)]*\)", "no-such-page/", url)
    admin = re.match(r"admin/(\w+)/(\w+)/", url)
    values = {"cluster": "shared", "name": "worker-0001", "pk": str(objects["template"]),
              "task_id": str(objects["task"]), "id": str(objects["user"]),
              "content_type_id": str(ContentType.objects.get_for_model(Cluster).pk),
              "object_id": _model_pk(admin.group(1), admin.group(2), objects) if admin else str(objects["cluster"])}
    if url.startswith("admin/r/"):
        values["object_id"] = str(objects["cluster"])
    # any other parameter (a route added later): a value that names nothing, still a well-formed request
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), url)


def _fingerprint() -> dict[str, str]:
    out = {}
    for model in apps.get_models():
        if model._meta.app_label in NOT_DATA or model._meta.model_name in ("preference",):
            continue
        rows = list(model.objects.order_by("pk").values_list())
        out[model._meta.label] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def _may_change(role: str, name: str) -> set[str] | None:
    """The models this role may change through this URL (None: any)."""
    if role in ("anonymous", "viewer"):
        return {"auth.User"} if name in ("login", "admin:login") else set()  # last_login
    if role == "operator":
        if name.startswith("admin:") or name.startswith("nodes:cluster"):
            return set()
        return None
    return None


@pytest.fixture
def objects(cluster, users):
    template = LabelTaintTemplate.objects.create(name="walk", labels={"walk": "yes"})
    task = finished_task(users["operator"], cluster.name)
    AuditEntry.objects.create(cluster=cluster, cluster_name=cluster.name, node="worker-0001", action="cordon",
                              outcome="succeeded", username="operator1")
    return {"template": template.pk, "task": task.pk, "user": users["viewer"].pk, "cluster": cluster.pk,
            "nodes.labeltainttemplate": template.pk, "nodes.cluster": cluster.pk,
            "progress.progresstask": task.pk, "auth.user": users["viewer"].pk}


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("route, name", ROUTES, ids=[n for _, n in ROUTES])
def test_every_url_for_every_role(route, name, role, users, objects):
    url = _url(route, objects)
    client = Client(raise_request_exception=False)
    if role != "anonymous":
        client.force_login(users[role])
    for method in ("get", "post"):
        before = _fingerprint()
        response = getattr(client, method)(url)
        body = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
        assert response.status_code < 500 or (name == "readyz" and response.status_code == 503), \
            f"{method.upper()} {url} as {role}: {response.status_code}"
        assert "Traceback" not in body
        if role == "anonymous" and name not in PUBLIC and not name.startswith("api-v1:"):
            assert response.status_code in (302, 401, 403, 405), f"{method.upper()} {url}: {response.status_code}"
            if response.status_code == 302:
                assert response["Location"].startswith(("/login/", "/admin/login/"))
        allowed = _may_change(role, name)
        if allowed is not None:
            after = _fingerprint()
            changed = {label for label in after if after[label] != before.get(label)}
            assert changed <= allowed, f"{method.upper()} {url} as {role} changed {sorted(changed)}"
        if name in ("logout", "admin:logout") and role != "anonymous":
            client.force_login(users[role])
