"""Company logins in Debian's chromium against a daphne replica: a real OpenLDAP (slapd) and a real OIDC provider
(oidc-provider under node) log users in with the role their groups give; taking a group away takes the role away
at the next login; unmapped users get viewer or are refused, as configured; local passwords can be kept for
superusers only."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User

from tests.fixtures.browser import browser_user
from tests.fixtures.daphne import start_replica
from tests.fixtures.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]
GROUPS = {"AUTH_GROUPS_VIEWER": "kn-viewers", "AUTH_GROUPS_OPERATOR": "kn-operators", "AUTH_GROUPS_ADMIN": "kn-admins"}


@pytest.fixture
def replica_factory(tmp_path, test_database_env, collected_static_dir):
    started = []

    def start(port=None, **env):
        from nodes.roles import ensure_groups

        ensure_groups()
        replica = start_replica(f"web-{len(started)}", {**test_database_env, "ALLOWED_HOSTS": "127.0.0.1",
                                                        "KUBENODE_DATA_DIR": collected_static_dir, **GROUPS, **env},
                                tmp_path, port=port)
        started.append(replica)
        return replica

    yield start
    for replica in started:
        replica.stop()


def fresh_page(browser_page):
    """A page in a new browser context (no cookie of an earlier login, at kubenode or at the provider)."""
    context = browser_page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.route(re.compile(r"^https://"), lambda route: route.abort())  # the provider's page imports a web font
    return page


def password_login(page, url, username, password) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("log in", re.I)).click()


def role_of(username: str) -> tuple[set, bool]:
    user = User.objects.get(username=username)
    return {g.name for g in user.groups.all()}, user.is_staff


def nav(page) -> list[str]:
    return [a.strip() for a in page.locator("nav.kn-nav a").all_inner_texts()]


def test_ldap_logins_get_the_role_of_their_groups_at_every_login(slapd, replica_factory, browser_page):
    ldap = slapd()
    for uid in ("lena", "max", "nora"):
        ldap.add_user(uid, f"pw-{uid}-ldap")
    ldap.set_members("kn-operators", ["lena"])
    ldap.set_members("kn-admins", ["max"])
    replica = replica_factory(**ldap.env, AUTH_UNMAPPED="viewer")

    page = fresh_page(browser_page)
    password_login(page, replica.http_url, "lena", "pw-lena-ldap")
    assert "/login/" not in page.url and "Templates" in nav(page)  # operators manage templates
    assert role_of("lena") == ({"operator"}, False)
    assert User.objects.get(username="lena").email == "lena@example.test"

    page = fresh_page(browser_page)
    password_login(page, replica.http_url, "max", "pw-max-ldap")
    assert "Admin" in nav(page) and role_of("max") == ({"admin"}, True)

    page = fresh_page(browser_page)
    password_login(page, replica.http_url, "nora", "pw-nora-ldap")  # in no group: viewer, as configured
    assert "/login/" not in page.url and "Templates" not in nav(page) and role_of("nora") == ({"viewer"}, False)

    page = fresh_page(browser_page)
    password_login(page, replica.http_url, "lena", "wrong-password")
    assert "/login/" in page.url and page.locator(".errornote").count() == 1

    # lena leaves the operators: at her next login she is a viewer
    ldap.set_members("kn-operators", [])
    page = fresh_page(browser_page)
    password_login(page, replica.http_url, "lena", "pw-lena-ldap")
    assert "/login/" not in page.url and "Templates" not in nav(page)
    assert role_of("lena") == ({"viewer"}, False)


def oidc_login(page, url, login) -> None:
    page.goto(f"{url}/login/")
    page.get_by_role("link", name="Log in with Test SSO").click()
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any-password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent
    page.wait_for_url(re.compile(re.escape(url) + "/"))


def test_oidc_logins_get_the_role_of_their_groups_claim_and_unmapped_users_are_refused(
        oidc_provider, replica_factory, browser_page):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = oidc_provider(f"{url}/oidc/callback/")
    provider.set_account("olga", "olga@example.test", ["staff", "kn-operators"])
    provider.set_account("pete", "pete@example.test", ["kn-admins"])
    provider.set_account("quinn", "quinn@example.test", ["staff"])
    from nodes.roles import ensure_groups

    ensure_groups()
    browser_user("local-ops", "operator")
    hasher = PBKDF2PasswordHasher()
    User.objects.create(username="root", is_superuser=True, is_staff=True,
                        password=hasher.encode("root-pw-123", hasher.salt()))
    replica_factory(port=port, **provider.env, AUTH_UNMAPPED="refuse", AUTH_LOCAL_LOGIN="0")

    page = fresh_page(browser_page)
    oidc_login(page, url, "olga")
    assert "/login/" not in page.url and "Templates" in nav(page)
    assert role_of("olga") == ({"operator"}, False)
    assert User.objects.get(username="olga").email == "olga@example.test"

    page = fresh_page(browser_page)
    oidc_login(page, url, "pete")
    assert "Admin" in nav(page) and role_of("pete") == ({"admin"}, True)

    page = fresh_page(browser_page)
    oidc_login(page, url, "quinn")  # no group maps to a role: refused, as configured
    assert "/login/" in page.url and "none of your groups gives a role" in page.content()
    assert not User.objects.filter(username="quinn").exists()

    # olga leaves the operators: at her next login she is refused and keeps no role
    provider.set_account("olga", "olga@example.test", ["staff"])
    page = fresh_page(browser_page)
    oidc_login(page, url, "olga")
    assert "/login/" in page.url and role_of("olga") == (set(), False)

    # local passwords: superusers only (break-glass)
    page = fresh_page(browser_page)
    password_login(page, url, "local-ops", "secret-pw")
    assert "/login/" in page.url and page.locator(".errornote").count() == 1
    page = fresh_page(browser_page)
    password_login(page, url, "root", "root-pw-123")
    assert "/login/" not in page.url


def test_logging_out_of_an_oidc_login_ends_the_providers_session_too(oidc_provider, replica_factory, browser_page):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = oidc_provider(f"{url}/oidc/callback/")
    provider.set_account("olga", "olga@example.test", ["kn-operators"])
    replica_factory(port=port, **provider.env)
    page = fresh_page(browser_page)
    oidc_login(page, url, "olga")
    assert "/login/" not in page.url and role_of("olga") == ({"operator"}, False)
    # kubenode's logout sends the browser on to the provider's end_session_endpoint with the ID token as hint
    ended = []
    page.on("request", lambda r: ended.append(r.url) if "/session/end" in r.url else None)
    page.locator("#logout-form button").click()
    page.get_by_role("button", name=re.compile("yes, sign me out", re.I)).click()
    page.wait_for_url(f"{url}/login/")
    hinted = [u for u in ended if "id_token_hint=" in u and "post_logout_redirect_uri=" in u]
    assert hinted and hinted[0].startswith(provider.discovery()["end_session_endpoint"]), ended
    # signed out at kubenode and at the provider: the next login asks for the provider's password again
    page.goto(f"{url}/")
    assert "/login/" in page.url
    page.get_by_role("link", name="Log in with Test SSO").click()
    page.locator("input[name=login]").wait_for()
    assert page.url.startswith(provider.issuer)
