"""Sign-in: repeated failures lock the user name and the address (django-axes), an admin unlocks; sessions expire
as configured; cookies are Secure behind HTTPS."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from kubenode import config as kconfig
from tests.security.test_secrets import _manage

pytestmark = pytest.mark.django_db


def _attempt(client: Client, username: str, password: str, ip: str = "10.1.1.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.implementation = None  # pick up the settings of this test
    yield settings


def test_repeated_failures_lock_the_user_and_an_admin_unlocks(users, lockout):
    get_user_model().objects.create_user("ann", password="right-Pw-1234")
    client = Client()
    for _ in range(2):
        assert _attempt(client, "ann", "wrong").status_code == 200
    assert _attempt(client, "ann", "wrong").status_code == 429  # the third failure locks
    locked = _attempt(client, "ann", "right-Pw-1234")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed sign-ins" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session
    # another address: the user name is still locked
    assert _attempt(Client(), "ann", "right-Pw-1234", ip="10.9.9.9").status_code == 429
    # an admin unlocks it in the admin
    from axes.models import AccessAttempt

    admin = Client()
    admin.force_login(users["superuser"])
    ids = list(AccessAttempt.objects.values_list("pk", flat=True))
    assert ids
    response = admin.post("/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": ids,
                                                         "post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _attempt(Client(), "ann", "right-Pw-1234").status_code == 302


def test_failures_from_one_address_lock_that_address(users, lockout):
    get_user_model().objects.create_user("bob", password="right-Pw-1234")
    for name in ("x1", "x2", "x3"):
        _attempt(Client(), name, "wrong", ip="10.2.2.2")
    assert _attempt(Client(), "bob", "right-Pw-1234", ip="10.2.2.2").status_code == 429
    assert _attempt(Client(), "bob", "right-Pw-1234", ip="10.3.3.3").status_code == 302


def test_thresholds_and_session_expiry_are_configuration_keys(tmp_path):
    cfg = kconfig.load({"SECRET_KEY": "s" * 50, "AUTH_LOCKOUT_FAILURES": "7", "AUTH_LOCKOUT_DURATION": "1h",
                        "SESSION_MAX_AGE": "30m"})
    assert (cfg["auth.lockout_failures"], cfg["auth.lockout_duration"], cfg["session.max_age"]) == (7, 3600.0, 1800.0)
    code = ("from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, "
            "s.SESSION_COOKIE_AGE, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_PROXY_SSL_HEADER)")
    done = _manage(["shell", "-c", code], SECRET_KEY="s" * 50, KUBENODE_DATA_DIR=str(tmp_path),
                   AUTH_LOCKOUT_FAILURES="7", AUTH_LOCKOUT_DURATION="1h", SESSION_MAX_AGE="30m",
                   KUBENODE_HTTPS="true", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    expected = "7 1.0 1800 True True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    assert done.stdout.strip().splitlines()[-1] == expected, done.stderr


def test_behind_https_the_session_cookie_is_secure(users, settings):
    settings.SESSION_COOKIE_SECURE = True
    get_user_model().objects.create_user("cat", password="right-Pw-1234")
    response = Client().post("/login/", {"username": "cat", "password": "right-Pw-1234"}, secure=True)
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] is True
