"""The node table's cells are made once per node and shared by every request (nodes.selectors' cache): each
language gets its own, so a page never shows another reader's language."""

import pytest

pytestmark = pytest.mark.django_db


def test_node_table_cells_are_kept_per_language(client, i18n_data):
    client.force_login(i18n_data["users"]["operator"])
    zh = client.get("/clusters/demo/nodes/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    en = client.get("/clusters/demo/nodes/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    zh_again = client.get("/clusters/demo/nodes/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert " 核</span>" in zh and " 核</span>" in zh_again
    assert " 核" not in en and " cores</span>" in en, [line for line in en.splitlines() if "核" in line][:1]
