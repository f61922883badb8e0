"""Every page of the URL resolver, as each role, in Simplified Chinese (Accept-Language: zh-CN): no visible text
may still be English, but proper names and Kubernetes' own words (tests/i18n/visible.py)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.i18n.visible import english_texts

pytestmark = pytest.mark.django_db

# Not pages of the console: probes, metrics, the favicon, the JSON of a task, the language switch and logout
# (POST only), the JavaScript catalogue; the admin is Django's own (translated by Django) and is not walked here.
NOT_PAGES = {"healthz", "readyz", "metrics", "favicon", "progress:task_json", "set_language", "javascript_catalog",
             "logout", "nodes:cluster_check", "progress:task_cancel", "progress:task_retry", "api:token_revoke"}
ROLES = ("viewer", "operator", "admin")


def _named_patterns(resolver=None, namespace=""):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            if p.namespace in ("admin", "api-v1") or (p.app_name or "") == "admin":
                continue  # Django's admin (Django's own words); the JSON API and its OpenAPI page
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _named_patterns(p, ns)
        elif isinstance(p, URLPattern) and p.name:
            yield f"{namespace}{p.name}", p


def _path(name: str, pattern, data) -> list[str]:
    """The addresses to visit for one named pattern (with its arguments from the test data)."""
    from django.urls import reverse

    node = data["names"][1]  # the cordoned one
    args = {"cluster": "demo", "name": node, "pk": data["template"].pk, "task_id": data["task"].pk}
    wanted = {k: v for k, v in args.items() if k in pattern.pattern.converters}
    url = reverse(name, kwargs=wanted)
    if name == "nodes:node_action":
        return [f"{url}?action=drain&node={node}", f"{url}?action=label&node={node}",
                f"{url}?retry={data['task'].pk}&which=both"]
    if name == "nodes:cluster_add":
        return [url]
    return [url]


# The test data's own words (object names, user names, what users typed), which stay as they were written
DATA_WORDS = {"demo", "viewer", "operator", "admin", "gpu", "pool", "GPU", "nodes", "old", "zone", "disk", "check",
              "replica"}


def test_every_page_speaks_chinese(client, i18n_data):
    pages = list(_named_patterns())
    assert {"home", "nodes:node_list", "nodes:node_detail", "progress:task_detail"} <= {n for n, _ in pages}
    problems = []
    seen = 0
    for role in ROLES:
        client.force_login(i18n_data["users"][role])
        for name, pattern in pages:
            if name in NOT_PAGES:
                continue
            for path in _path(name, pattern, i18n_data):
                response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
                if response.status_code in (302, 403, 404) and role != "admin":
                    continue  # not this role's page (checked as the roles that may see it)
                assert response.status_code == 200, f"{role} {path}: {response.status_code}"
                assert response["Content-Language"] == "zh-hans"
                seen += 1
                for text in english_texts(response.content.decode(), DATA_WORDS):
                    problems.append(f"{role} {path}: {text}")
        client.logout()
    login = client.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    problems += [f"anonymous /login/: {t}" for t in english_texts(login.content.decode())]
    assert seen >= 3 * 10
    assert not problems, "English left on Chinese pages:\n" + "\n".join(dict.fromkeys(problems))
