"""Admins who are not superusers manage clusters, templates and the roles of non-superusers; only superusers touch
superusers and permissions. Templates saved in the admin pass the templates page's validation."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from nodes.models import LabelTaintTemplate
from tests.security.conftest import make_user

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _user_form(user, **changes) -> dict:
    data = {"username": user.username, "first_name": "", "last_name": "", "email": user.email,
            "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_an_admin_group_member_cannot_touch_a_superuser(users):
    staff, root = users["admin"], users["superuser"]
    client = _client(staff)
    old_hash = root.password
    assert client.get("/admin/auth/user/").status_code == 200
    assert root.username not in client.get("/admin/auth/user/").content.decode()
    assert client.get(f"/admin/auth/user/{root.pk}/change/").status_code in (302, 403, 404)
    response = client.post(f"/admin/auth/user/{root.pk}/password/",
                           {"password1": "Taken-over-123", "password2": "Taken-over-123", "usable_password": "true"})
    assert response.status_code in (302, 403, 404)
    client.post(f"/admin/auth/user/{root.pk}/change/", _user_form(root, is_superuser=None, is_staff=None))
    client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"})
    root = get_user_model().objects.get(pk=root.pk)
    assert root.password == old_hash and root.is_superuser and root.is_staff and root.is_active


def test_an_admin_group_member_manages_roles_but_not_the_superuser_flag_or_permissions(users):
    staff, viewer = users["admin"], users["viewer"]
    client = _client(staff)
    page = client.get(f"/admin/auth/user/{viewer.pk}/change/").content.decode()
    assert 'name="groups"' in page
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page
    perm = Permission.objects.get(codename="drain_nodes")
    operator = Group.objects.get(name="operator")
    response = client.post(f"/admin/auth/user/{viewer.pk}/change/",
                           _user_form(viewer, is_superuser="on", user_permissions=[perm.pk], groups=[operator.pk]))
    assert response.status_code == 302, response.content.decode()[:2000]
    viewer = get_user_model().objects.get(pk=viewer.pk)
    assert list(viewer.groups.values_list("name", flat=True)) == ["operator"]
    assert not viewer.is_superuser and not viewer.user_permissions.exists()
    # and not on himself either
    client.post(f"/admin/auth/user/{staff.pk}/change/",
                _user_form(staff, is_staff="on", is_superuser="on", user_permissions=[perm.pk]))
    staff = get_user_model().objects.get(pk=staff.pk)
    assert not staff.is_superuser and not staff.user_permissions.exists()


def test_a_superuser_still_manages_superusers_and_permissions(users):
    root, viewer = users["superuser"], users["viewer"]
    page = _client(root).get(f"/admin/auth/user/{viewer.pk}/change/").content.decode()
    assert 'name="is_superuser"' in page and 'name="user_permissions"' in page
    response = _client(root).post(f"/admin/auth/user/{viewer.pk}/change/", _user_form(viewer, is_superuser="on"))
    assert response.status_code == 302
    assert get_user_model().objects.get(pk=viewer.pk).is_superuser


def test_templates_saved_in_the_admin_are_validated_like_the_templates_page(users):
    client = _client(users["superuser"])
    response = client.post("/admin/nodes/labeltainttemplate/add/",
                           {"name": "bad", "description": "", "labels_text": "bad key=x",
                            "remove_text": "", "taints_text": "k=v:Sometimes"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "invalid label key" in page.lower() or "bad key" in page
    assert "invalid effect" in page.lower()
    assert not LabelTaintTemplate.objects.exists()
    response = client.post("/admin/nodes/labeltainttemplate/add/",
                           {"name": "gpu", "description": "", "labels_text": "team=gpu",
                            "remove_text": "", "taints_text": "gpu=yes:NoSchedule"})
    assert response.status_code == 302
    template = LabelTaintTemplate.objects.get(name="gpu")
    assert template.labels == {"team": "gpu"} and template.taints == [{"key": "gpu", "value": "yes",
                                                                        "effect": "NoSchedule"}]
    assert template.created_by == users["superuser"].username


def test_an_admin_group_member_reaches_no_permission_or_group_editing(users):
    client = _client(users["admin"])
    assert client.get("/admin/auth/group/").status_code == 403
    assert client.get("/admin/auth/permission/").status_code in (403, 404)
    assert make_user("later", None).pk
