"""Bad input gets a clear error and changes nothing; never a 500 (on PostgreSQL, where NUL bytes are refused)."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from nodes import batches
from nodes.models import AuditEntry, Cluster
from progress.models import ProgressTask

pytestmark = pytest.mark.django_db
ACTION = "/clusters/shared/nodes/action/"


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("query, message", [
    ("since=garbage", "since: enter a valid date"),
    ("until=2024-02-30", "until: enter a valid date"),
    ("since=2024-13-01&until=x", "since: enter a valid date"),
])
def test_audit_date_filters_say_what_is_wrong(users, query, message):
    response = _client(users["viewer"]).get(f"/audit/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode().lower()


@pytest.mark.parametrize("url", [
    "/audit/?user=%00", "/audit/?node=a%00b", "/audit/?cluster=%00", "/audit/?action=%00",
    "/progress/tasks/?status=%00", "/nodes/?q=%00", "/clusters/?x=%01", "/clusters/shared/nodes/?q=%00",
    "/progress/tasks/?page=%00",
])
def test_control_characters_in_query_parameters_are_refused(cluster, users, url):
    response = _client(users["admin"]).get(url)
    assert response.status_code == 400
    assert "control character" in response.content.decode()


def test_a_cordon_reason_with_a_nul_byte_is_refused_at_preview_and_confirm(cluster, users):
    client = _client(users["operator"])
    data = {"action": "cordon", "targets": "worker-0001", "reason": "a\x00b", "submitted": "1"}
    for extra in ({}, {"confirm": "yes"}):
        response = client.post(ACTION, {**data, **extra})
        assert response.status_code == 400
        assert "control character" in response.content.decode()
    assert not ProgressTask.objects.exists() and not AuditEntry.objects.exists()
    with pytest.raises(ValidationError, match="control character"):
        batches.start_batch(users["operator"], cluster, "cordon", {"reason": "a\x00b"}, names=["worker-0001"])


@pytest.mark.parametrize("name", [".", "..", "a/b", "UPPER", "x" * 254, "-lead", "a..b"])
def test_node_names_are_checked_as_kubernetes_object_names_before_any_call(cluster, users, shared_sim, name):
    from urllib.parse import quote

    client = _client(users["admin"])
    response = client.get(f"/clusters/shared/nodes/{quote(name, safe='')}/")
    assert response.status_code in (400, 404)
    if "/" not in name:  # a slash never matches the node page's address
        assert "not a valid node name" in response.content.decode()
    response = client.post(ACTION, {"action": "cordon", "targets": name, "submitted": "1", "confirm": "yes"})
    assert response.status_code == 400
    assert "not a valid node name" in response.content.decode()
    with pytest.raises(ValidationError, match="not a valid node name"):
        batches.start_batch(users["admin"], cluster, "cordon", {}, names=[name])
    assert not ProgressTask.objects.exists()


def test_concurrency_that_is_not_a_number_says_what_is_expected(cluster, users):
    response = _client(users["operator"]).post(ACTION, {"action": "cordon", "targets": "worker-0001",
                                                        "concurrency": "abc", "submitted": "1", "confirm": "yes"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "invalid literal" not in page
    assert "whole number" in page
    assert not ProgressTask.objects.exists()


def test_the_preview_validates_its_targets_before_rendering(cluster, users):
    names = ",".join(f"m{i}" for i in range(230_000))
    response = _client(users["operator"]).post(ACTION, {"action": "cordon", "targets": names, "submitted": "1"})
    assert response.status_code == 400
    assert len(response.content) < 200_000
    page = response.content.decode()
    assert "at most 20000 nodes" in page
    assert not ProgressTask.objects.exists()


def test_bodies_over_the_limits_get_a_page_that_says_the_limit(users, settings):
    client = _client(users["operator"])
    response = client.post(ACTION, {"action": "cordon", "reason": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    assert response.status_code == 400
    assert "larger than" in response.content.decode() and "MB" in response.content.decode()
    fields = "&".join(f"node={i}" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 10))
    response = client.post(ACTION, fields, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert f"{settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,}" in response.content.decode() \
        or str(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS) in response.content.decode()


def test_template_texts_refuse_control_characters_whichever_way_they_come(db):
    from nodes.forms import TemplateForm

    for field in ("name", "description"):
        form = TemplateForm({"name": "ok", "description": "", "labels_text": "x=y", field: "a\x01b"})
        assert not form.is_valid() and "control character" in str(form.errors[field])


def test_stored_server_urls_lose_their_credentials_on_migration(db):
    import importlib

    from django.apps import apps as global_apps

    cluster = Cluster.objects.create(name="old", server="https://admin:hunter2@10.0.0.1:6443")
    importlib.import_module("nodes.migrations.0005_server_urls_without_credentials").strip_userinfo(global_apps, None)
    cluster.refresh_from_db()
    assert cluster.server == "https://10.0.0.1:6443"
