"""Messages in the page's language where a page shows them, English everywhere else: validation errors in Chinese
beside the right field, a request leaves its thread English, and commands stay English even when pages default
to Chinese."""

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import translation

from nodes.forms import BatchActionForm


def _form(**data):
    form = BatchActionForm({"node": ["worker-0001"], **data})
    assert not form.is_valid()
    return form


def test_validation_errors_are_chinese_and_beside_the_field_they_concern():
    with translation.override("zh-hans"):
        taint = _form(action="taint", taints="gpu=yes:Sometimes")
        label = _form(action="label", set="bad key!=x")
        reason = _form(action="cordon", reason="x" * 1001)
        number = _form(action="drain", timeout="soon")
    assert taint.errors["taints"] == ["'gpu=yes:Sometimes': 效果 'Sometimes' 无效：必须为 NoSchedule, "
                                      "PreferNoSchedule 或 NoExecute"]
    assert list(label.errors) == ["set"] and "标签键 'bad key!' 无效" in label.errors["set"][0]
    assert list(reason.errors) == ["reason"] and "1000" in reason.errors["reason"][0]
    assert "超时（秒） 必须是整数" in number.errors["timeout"][0]
    # the same form in English says it in English, on the same fields
    assert "invalid effect 'Sometimes'" in _form(action="taint", taints="gpu=yes:Sometimes").errors["taints"][0]


@pytest.mark.django_db
def test_a_chinese_request_leaves_its_thread_english(client):
    from tests.progress.helpers import make_user

    client.force_login(make_user("reader", role="viewer"))
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response["Content-Language"] == "zh-hans" and "概览" in response.content.decode()
    assert translation.get_language() == "en"


@pytest.mark.django_db
def test_commands_stay_english_when_pages_default_to_chinese():
    from nodes.models import Cluster
    from tests.progress.helpers import make_user

    make_user("cli", role="operator")
    Cluster.objects.create(name="c1", server="https://127.0.0.1:1")
    with override_settings(PAGE_LANGUAGE_CODE="zh-hans"), pytest.raises(CommandError) as caught:
        call_command("node_batch", "--cluster", "c1", "--user", "cli", "--action", "label", "--set", "bad key!=x",
                     "--node", "worker-0001")
    assert "invalid label key 'bad key!'" in str(caught.value), str(caught.value)
