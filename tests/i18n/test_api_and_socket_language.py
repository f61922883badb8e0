"""The JSON API's problem documents and the progress WebSocket's error messages speak the request's language, over
real HTTP and a real WebSocket to a daphne process.

API: Accept-Language, else the user's saved language (a token's user, a session's user), else English (the
configured default). Socket: the user's saved language, else the handshake's Accept-Language. Only the human-readable
texts (`title`, `detail`, field messages, `error`) change: `type`, `status`, `instance`, field names and codes stay,
and Kubernetes' own words stay as they are inside the translated sentence.
"""

import json

import pytest
from websockets.sync.client import connect

from tests.api.helpers import assert_problem, call
from tests.fixtures.browser import browser_user
from tests.fixtures.kube import start_kube_sim
from tests.progress.test_live_daphne import Browserless, recv

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ZH = "zh-CN,zh;q=0.9,en;q=0.5"


def _call(base, method, path, token=None, body=None, language=None):
    return call(base, method, path, token, body, headers={"Accept-Language": language} if language else None)


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture
def site(tmp_path_factory, daphne_replicas):
    from api.tokens import create_token
    from kubenode.models import Preference
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    sim = start_kube_sim(tmp_path_factory.mktemp("lang_sim"), nodes=3, seed=5)
    import_cluster("sim", sim.kubeconfig_text, simulated=True)
    li, bob = browser_user("li", "operator"), browser_user("bob", "operator")
    Preference.objects.create(user=li, language="zh-hans")  # li chose 简体中文 with the switcher
    tokens = {"li": create_token(li, "li-read", "read")[1], "bob": create_token(bob, "bob-read", "read")[1],
              "li-acts": create_token(li, "li-acts", "actions")[1]}
    replica = daphne_replicas("web", PROGRESS_NOTIFY_TYPE="postgres")
    yield replica, tokens, sim
    sim.stop()


def test_problem_documents_speak_the_request_language(site):
    replica, tokens, sim = site
    base = replica.http_url
    missing = "/api/v1/clusters/nope/nodes"

    english = _call(base, "GET", missing, tokens["bob"])  # no header, nothing saved: the configured default
    assert_problem(english, 404, "no cluster 'nope'")
    assert english.body["title"] == "Not Found" and english.headers["content-language"] == "en"

    chinese = _call(base, "GET", missing, tokens["bob"], language=ZH)  # the header
    assert_problem(chinese, 404, "没有集群 'nope'")
    assert chinese.body["title"] == "未找到" and chinese.headers["content-language"] == "zh-hans"
    assert {k: chinese.body[k] for k in ("type", "status", "instance")} == \
        {"type": "about:blank", "status": 404, "instance": missing}

    saved = _call(base, "GET", missing, tokens["li"])  # no header: the token's user's saved language
    assert_problem(saved, 404, "没有集群 'nope'")
    assert saved.headers["content-language"] == "zh-hans"
    asked = _call(base, "GET", missing, tokens["li"], language="en-US,en;q=0.8")  # the header wins
    assert_problem(asked, 404, "no cluster 'nope'")
    assert asked.body["title"] == "Not Found"

    no_token = _call(base, "GET", "/api/v1/clusters", language=ZH)
    assert_problem(no_token, 401, "请登录，或发送访问令牌")
    assert no_token.body["title"] == "未认证" and "Authorization: Bearer" in no_token.body["detail"]

    read_only = _call(base, "POST", "/api/v1/clusters/sim/batches", tokens["bob"],
                      {"action": "cordon", "nodes": ["x"]}, language=ZH)
    assert_problem(read_only, 403, "此令牌只能读取")
    assert read_only.body["title"] == "禁止访问"

    # bad input: the sentence and each field's message in Chinese, the field names as the schema spells them
    bad = _call(base, "POST", "/api/v1/clusters/sim/batches", tokens["li-acts"],
                {"action": "label", "nodes": ["sim-node-0"], "set": ["not a label"]})
    assert bad.status == 400 and bad.body["title"] == "请求无效", bad.body
    assert bad.body["errors"] and all(e["field"] in (None, "set", "action", "node") for e in bad.body["errors"])
    assert _has_chinese(bad.body["detail"]) and "：" in bad.body["detail"], bad.body
    schema = _call(base, "POST", "/api/v1/clusters/sim/batches", tokens["li-acts"], {"nodes": ["x"]})
    assert schema.status == 400 and schema.body["detail"].startswith("请求无效："), schema.body
    assert schema.body["errors"] == [{"field": "action", "message": "必填"}], schema.body
    wrong = _call(base, "POST", "/api/v1/clusters/sim/batches", tokens["li-acts"], {"action": "paint", "nodes": ["x"]})
    assert wrong.status == 400 and wrong.body["errors"][0]["field"] == "action", wrong.body
    assert wrong.body["errors"][0]["message"].startswith("必须是以下之一："), wrong.body
    english = _call(base, "POST", "/api/v1/clusters/sim/batches", tokens["li-acts"], {"nodes": ["x"]}, language="en")
    assert english.body["errors"] == [{"field": "action", "message": "required"}], english.body

    # Kubernetes' (here: the connection's) own words inside the Chinese sentence
    sim.stop()
    unreachable = _call(base, "GET", "/api/v1/clusters/sim/nodes", tokens["li"])
    assert unreachable.status == 502, unreachable.body
    assert unreachable.body["detail"].startswith("无法读取集群 sim："), unreachable.body
    assert "cannot reach the API server" in unreachable.body["detail"]
    assert unreachable.body["title"] == "网关错误"


def _socket(replica, session, language=None):
    headers = {"Cookie": f"sessionid={session}"}
    if language:
        headers["Accept-Language"] = language
    ws = connect(f"{replica.ws_url}/ws/progress/", origin=replica.http_url, additional_headers=headers,
                 open_timeout=20)
    assert recv(ws)["type"] == "snapshot"
    return ws


def _protocol_error(ws, text) -> str:
    ws.send(text)
    frame = recv(ws)
    assert frame["type"] == "protocol_error", frame
    return frame["error"]


def test_socket_errors_speak_the_user_language(site):
    replica, _tokens, _sim = site
    li, bob = Browserless(replica.http_url), Browserless(replica.http_url)
    li_session, bob_session = li.login("li", "secret-pw"), bob.login("bob", "secret-pw")

    with _socket(replica, bob_session) as ws:  # no saved language, no header: English
        assert _protocol_error(ws, "this is not json") == "frames must be JSON text"
    with _socket(replica, bob_session, ZH) as ws:  # the handshake's Accept-Language
        assert _protocol_error(ws, "this is not json") == "帧必须是 JSON 文本"
        assert _protocol_error(ws, json.dumps({"type": "resume", "task": "x", "after_seq": -1})) == \
            "after_seq 必须是非负整数"

    ws = _socket(replica, li_session, "en")  # li's saved choice wins over the browser's
    assert _protocol_error(ws, "this is not json") == "帧必须是 JSON 文本"
    ws.send(json.dumps({"type": "resume", "task": "00000000-0000-0000-0000-000000000000", "after_seq": 0}))
    frame = recv(ws)
    assert frame == {"type": "protocol_error", "error": "没有此任务", "task": "00000000-0000-0000-0000-000000000000"}
    li.post("/logout/", [])  # the socket is told why it closes, in li's language
    frame = recv(ws)
    assert frame == {"type": "revoked", "error": "已退出登录或账号已更改"}, frame
    ws.close()
