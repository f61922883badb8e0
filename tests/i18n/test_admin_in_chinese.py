"""The admin of kubenode's own models in Simplified Chinese, as a superuser: every changelist (and its filters),
add and change page of the models of our apps shows no English but proper names, data and Django's own words
(which Django translates itself)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.i18n.visible import english_texts, english_words, visible_texts

pytestmark = pytest.mark.django_db

OUR_APPS = {"kubenode", "accounts", "api", "nodes", "progress"}
# The test data's own words (object names, user names, what users typed, the token's name), HTTP methods and the
# kubeconfig's context name
DATA_WORDS = {"demo", "viewer", "operator", "admin", "gpu", "pool", "GPU", "nodes", "old", "zone", "disk", "check",
              "replica", "root", "deploy", "GET", "POST", "sim", "true", "web", "default", "effect", "NoSchedule",
              "pipeline", "null"}


# Django's own admin words that Django's Chinese catalogue leaves in English (its 5.2 screen-reader captions and
# the alt text of its icons): Django's to translate, not ours
DJANGO_OWN = {"Model name", "Add link", "Change or view list link", "Search", "None", "True", "False"}


def _third_party_names() -> set[str]:
    """The names of the models and apps of other projects (django-axes) in the admin's menu: theirs to translate."""
    from django.apps import apps
    from django.utils.text import capfirst

    names = set()
    for config in apps.get_app_configs():
        if config.label in OUR_APPS or config.name.startswith("django.contrib."):
            continue
        names.add(str(config.verbose_name))
        names |= {str(capfirst(m._meta.verbose_name_plural)) for m in config.get_models()}
    return names


def _english(html: str) -> list[str]:
    skip = DJANGO_OWN | _third_party_names()
    out = []
    for where, text in visible_texts(html):
        if text in skip or any(text == f"在应用程序 {name} 中的模型" for name in skip):
            continue
        words = english_words(text, DATA_WORDS)
        if words:
            out.append(f"{where} {text!r} (English: {', '.join(words)})")
    return out


def _pages(data):
    """(model, address) of every admin page of our models: the changelist, add when allowed, one change page."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = data["root"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if opts.app_label not in OUR_APPS:
            continue
        base = f"admin:{opts.app_label}_{opts.model_name}"
        yield opts.label, reverse(f"{base}_changelist")
        if model_admin.has_add_permission(request):
            yield opts.label, reverse(f"{base}_add")
        obj = model.objects.order_by("pk").first()
        assert obj is not None, f"no {opts.label} in the test data: its change page would not be seen"
        yield opts.label, reverse(f"{base}_change", args=[obj.pk])


def test_admin_of_our_models_speaks_chinese(client, i18n_data):
    from django.contrib.auth import get_user_model

    from api import tokens

    root = get_user_model().objects.create_superuser("root", password="pw-root-123")
    token, _secret = tokens.create_token(i18n_data["users"]["operator"], "ci-pipeline", "actions", 30)
    tokens.record_request(token, type("R", (), {"method": "POST", "get_full_path": lambda self: "/api/v1/batches",
                                                "META": {"REMOTE_ADDR": "10.0.0.9"}})(), 202,
                          task_id=i18n_data["task"].pk)
    from progress.models import ProgressMessage

    task = i18n_data["task"]
    ProgressMessage.objects.create(task=task, seq=task.last_seq + 1, type="progress", node=i18n_data["names"][0],
                                   outcome="failed", error="node-x: 超时", total=3, done=1, failed=1)
    client.force_login(root)
    client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN")  # the root's pages speak Chinese: a Preference row to show
    pages = list(_pages({**i18n_data, "root": root}))
    labels = {label for label, _ in pages}
    assert {"nodes.Cluster", "nodes.AuditEntry", "nodes.LabelTaintTemplate", "progress.ProgressTask",
            "progress.ProgressMessage", "api.ApiToken", "api.TokenRequest", "kubenode.Preference"} <= labels
    problems = []
    index = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    problems += [f"admin index: {t}" for t in _english(index.content.decode())]
    for label, path in pages:
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
        assert response.status_code == 200, f"{path}: {response.status_code}"
        assert response["Content-Language"] == "zh-hans"
        problems += [f"{label} {path}: {t}" for t in _english(response.content.decode())]
    assert not problems, "English left in the admin of our models:\n" + "\n".join(dict.fromkeys(problems))


def test_the_admin_check_sees_an_english_field_name(client, i18n_data):
    """The walk above can fail: the same pages in English are full of English words."""
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client.force_login(root)
    response = client.get(reverse("admin:nodes_auditentry_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "en"
    assert any("outcome" in t.lower() for t in english_texts(response.content.decode(), DATA_WORDS))
