"""Which language a page speaks: configuration (server.languages, server.language_code, server.time_zone), the
browser's Accept-Language, the switcher's choice remembered per user, the configured default."""

import pytest
from django.test import Client, override_settings

from kubenode.config import ConfigError, load

pytestmark = pytest.mark.django_db
BASE = {"DEBUG": "true"}


def test_language_keys_are_parsed_and_checked():
    cfg = load({**BASE, "KUBENODE_LANGUAGES": "en, zh_CN", "KUBENODE_LANGUAGE_CODE": "zh",
                "TIME_ZONE": "Asia/Shanghai"})
    assert cfg["server.languages"] == ["en", "zh-hans"] and cfg["server.language_code"] == "zh-hans"
    assert cfg["server.time_zone"] == "Asia/Shanghai"
    assert load(BASE)["server.languages"] == ["en", "zh-hans"] and load(BASE)["server.language_code"] == "en"
    with pytest.raises(ConfigError, match="server.languages: 'en,fr' from env KUBENODE_LANGUAGES is not one of"):
        load({**BASE, "KUBENODE_LANGUAGES": "en,fr"})
    with pytest.raises(ConfigError, match="server.language_code: 'zh-hans' .* is not one of server.languages"):
        load({**BASE, "KUBENODE_LANGUAGES": "en", "LANGUAGE_CODE": "zh-hans"})
    with pytest.raises(ConfigError, match="server.time_zone: 'Mars/Olympus' from env TIME_ZONE is not a time zone"):
        load({**BASE, "TIME_ZONE": "Mars/Olympus"})


def _user(name):
    from tests.progress.helpers import make_user

    return make_user(name, role="viewer")


def _spoken(client, accept=""):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)
    assert response.status_code == 200
    return response["Content-Language"]


def test_accept_language_then_the_configured_default():
    client = Client()
    client.force_login(_user("reader"))
    assert _spoken(client, "zh-CN,zh;q=0.9") == "zh-hans"
    assert _spoken(client, "zh-Hans") == "zh-hans"
    assert _spoken(client, "fr-FR,fr;q=0.9,en;q=0.5") == "en"
    assert _spoken(client, "fr-FR") == "en"
    with override_settings(PAGE_LANGUAGE_CODE="zh-hans"):
        assert _spoken(client, "fr-FR") == "zh-hans"
        assert _spoken(client, "") == "zh-hans"
        assert _spoken(client, "en-GB") == "en"
    with override_settings(OFFERED_LANGUAGES=["en"]):
        assert _spoken(client, "zh-CN") == "en"


def test_the_switchers_choice_is_remembered_per_user_across_browsers():
    from kubenode.models import Preference

    user = _user("traveller")
    office = Client()
    office.force_login(user)
    response = office.post("/i18n/setlang/", {"language": "zh-hans", "next": "/clusters/?x=1"})
    assert response.status_code == 302 and response["Location"] == "/clusters/?x=1"
    assert Preference.objects.get(user=user).language == "zh-hans"
    home = Client()  # another browser, which asks for English
    home.force_login(user)
    assert _spoken(home, "en-US") == "zh-hans"
    home.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert _spoken(office, "zh-CN") == "en"
    # a language that is not offered is refused and nothing is remembered
    office.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert Preference.objects.get(user=user).language == "en"


def test_the_switcher_is_on_every_page_including_the_login_page_and_the_admin():
    anonymous = Client()
    login = anonymous.get("/login/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'id="kn-language-select"' in login and "简体中文" in login and "登录" in login
    admin = Client()
    from tests.progress.helpers import make_user

    admin.force_login(make_user("boss", role="admin", staff=True))
    page = admin.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'id="kn-language-select"' in page and "集群与节点" in page


def test_times_follow_the_browsers_zone_with_the_iso_time_on_hover():
    from datetime import UTC, datetime

    from django.utils import timezone, translation

    from kubenode.templatetags.kn_format import when

    moment = datetime(2025, 1, 31, 13, 4, 5, tzinfo=UTC)
    with translation.override("zh-hans"), timezone.override("Asia/Shanghai"):
        assert when(moment) == ('<time datetime="2025-01-31T13:04:05+00:00" title="2025-01-31T13:04:05+00:00">'
                                "2025年1月31日 21:04:05 CST</time>")
    with translation.override("en"), timezone.override("UTC"):
        assert ">2025-01-31 13:04:05 UTC</time>" in when(moment)
