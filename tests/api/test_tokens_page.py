"""The access tokens page and the admin's tokens: created (the secret shown once, only its hash kept), listed,
revoked by their user or an admin; bad input changes nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User

from api.models import ApiToken
from api.tokens import authenticate, digest

pytestmark = pytest.mark.django_db
SECRET = re.compile(r'value="(kn_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def alice(client):
    from nodes.roles import ensure_groups

    ensure_groups()
    user = User.objects.create_user("alice", password="pw-alice-123")
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    return user


def test_a_user_creates_a_token_that_is_shown_once_and_revokes_it(client, alice):
    page = client.get("/tokens/")
    assert page.status_code == 200 and b"No token yet." in page.content
    created = client.post("/tokens/", {"name": "ci pipeline", "scope": "actions", "days": "30"})
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    secret = SECRET.search(created.content.decode()).group(1)
    token = ApiToken.objects.get(user=alice)
    assert token.name == "ci pipeline" and token.scope == "actions" and token.digest == digest(secret)
    assert (token.expires_at - token.created_at).days == 30
    assert secret not in str(list(ApiToken.objects.values()))
    assert authenticate(secret) == token
    again = client.get("/tokens/").content.decode()
    assert secret not in again and token.prefix in again and "active" in again

    revoked = client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    assert revoked.status_code == 200 and "Token ci pipeline revoked" in revoked.content.decode()
    token.refresh_from_db()
    assert token.state == "revoked" and authenticate(secret) is None


@pytest.mark.parametrize("data, message", [
    ({"name": "", "scope": "read", "days": "30"}, "This field is required."),
    ({"name": "x", "scope": "read", "days": "366"}, "less than or equal to 365"),
    ({"name": "x", "scope": "read", "days": "0"}, "greater than or equal to 1"),
    ({"name": "x", "scope": "admin", "days": "3"}, "Select a valid choice."),
])
def test_bad_input_creates_no_token(client, alice, data, message):
    answer = client.post("/tokens/", data)
    assert answer.status_code == 400 and message in answer.content.decode()
    assert not ApiToken.objects.exists()


def test_a_second_token_of_the_same_name_is_refused(client, alice):
    client.post("/tokens/", {"name": "ci", "scope": "read", "days": "3"})
    answer = client.post("/tokens/", {"name": "ci", "scope": "read", "days": "3"})
    assert answer.status_code == 400 and "you have a token named ci already" in answer.content.decode()
    assert ApiToken.objects.count() == 1


def test_nobody_revokes_another_users_token_on_the_page(client, alice):
    from api.tokens import create_token

    bob = User.objects.create_user("bob", password="pw-bob-12345")
    token, secret = create_token(bob, "bob's", "read", 5)
    assert client.post(f"/tokens/{token.pk}/revoke/").status_code == 404
    assert b"bob" not in client.get("/tokens/").content
    token.refresh_from_db()
    assert token.state == "active" and authenticate(secret) == token


def test_the_tokens_page_needs_a_login(client):
    answer = client.get("/tokens/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_an_admin_creates_a_token_for_a_user_in_the_admin_and_revokes_it(client, alice):
    admin = User.objects.create_superuser("root", password="pw-root-12345")
    client.force_login(admin)
    answer = client.post("/admin/api/apitoken/add/", {"user": alice.pk, "name": "deploy", "scope": "read",
                                                      "days": "7"})
    assert answer.status_code == 200, answer.content[:2000]
    secret = SECRET.search(answer.content.decode()).group(1)
    token = ApiToken.objects.get(name="deploy")
    assert token.user == alice and authenticate(secret) == token and "no-store" in answer["Cache-Control"]
    assert secret not in client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.state == "revoked" and authenticate(secret) is None
