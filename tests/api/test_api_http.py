"""The API over real HTTP: a daphne process, a worker process and the simulated cluster, tokens of each role.

Every endpoint is called as each role with a token (read, and read + actions) and without one; the answers are the
pages' rules and messages, errors as problem documents. A batch started through the API is followed to its end
through the API and through the WebSocket of a browser session of the same user. The OpenAPI document validates.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.helpers import assert_problem, call, follow_messages
from tests.fixtures.browser import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def node_names(site, who="viewer-read", **filters) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    answer = site.call("GET", f"/api/v1/clusters/sim/nodes?per_page=500&{query}", who)
    assert answer.status == 200, answer.body
    return [n["name"] for n in answer.body["items"]]


def finished_batch(site, who, body) -> dict:
    created = site.call("POST", "/api/v1/clusters/sim/batches", who, body)
    assert created.status == 201, created.body
    frames = follow_messages(site.url, site.tokens[who], created.body["task"])
    assert frames[-1]["type"] == "complete", frames[-1]
    return created.body


def test_every_endpoint_as_each_role_with_a_token_and_without(site):
    workers = node_names(site, role="worker")
    assert len(workers) >= 6
    a, b, c = workers[:3]
    cordon = {"action": "cordon", "nodes": [a], "reason": "api test"}

    # nothing without a token, a revoked or an unknown one: 401 problem documents, with the scheme to use
    paths = [("GET", "/api/v1/clusters"), ("POST", "/api/v1/clusters/sim/check"),
             ("GET", "/api/v1/clusters/sim/nodes"), ("GET", f"/api/v1/clusters/sim/nodes/{a}"),
             ("POST", "/api/v1/clusters/sim/batches/preview"), ("POST", "/api/v1/clusters/sim/batches"),
             ("GET", "/api/v1/batches"), ("GET", "/api/v1/batches/00000000-0000-0000-0000-000000000000"),
             ("GET", "/api/v1/batches/00000000-0000-0000-0000-000000000000/messages"),
             ("POST", "/api/v1/batches/00000000-0000-0000-0000-000000000000/cancel"),
             ("POST", "/api/v1/batches/00000000-0000-0000-0000-000000000000/retry"),
             ("GET", "/api/v1/audit"), ("GET", "/api/v1/templates"), ("POST", "/api/v1/templates"),
             ("GET", "/api/v1/templates/1"), ("PUT", "/api/v1/templates/1"), ("DELETE", "/api/v1/templates/1")]
    for method, path in paths:
        for token in (None, "kn_not-a-token"):
            answer = call(site.url, method, path, token, cordon if method in ("POST", "PUT") else None)
            assert_problem(answer, 401, "access token")
            assert answer.headers["www-authenticate"].startswith("Bearer")

    # clusters: everyone reads; checking is for admins, with a token that may act
    for who in site.tokens:
        listed = site.call("GET", "/api/v1/clusters", who)
        assert listed.status == 200 and [c["name"] for c in listed.body] == ["sim"]
    for who in ("viewer-read", "operator-read", "admin-read"):
        assert_problem(site.call("POST", "/api/v1/clusters/sim/check", who), 403, "this token may only read")
    for who in ("viewer-acts", "operator-acts"):
        assert_problem(site.call("POST", "/api/v1/clusters/sim/check", who), 403, "clusters are managed by admins")
    checked = site.call("POST", "/api/v1/clusters/sim/check", "admin-acts")
    assert checked.status == 200 and checked.body["ok"] is True and checked.body["reachable"] is True
    assert_problem(site.call("POST", "/api/v1/clusters/nope/check", "admin-acts"), 404, "no cluster 'nope'")

    # nodes: the node list's filters, sort and pages, for every role
    for who in site.tokens:
        page = site.call("GET", "/api/v1/clusters/sim/nodes?role=worker&sort=-name&per_page=25&page=1", who)
        assert page.status == 200
        names = [n["name"] for n in page.body["items"]]
        assert names == sorted(workers, reverse=True)[:25] and page.body["count"] == len(workers)
    pool = site.call("GET", f"/api/v1/clusters/sim/nodes/{a}", "viewer-read").body["labels"]["pool"]
    in_pool = node_names(site, selector=f"pool%3D{pool}")
    assert a in in_pool and set(in_pool) < set(node_names(site))
    assert node_names(site, q=a) == [a]
    assert_problem(site.call("GET", "/api/v1/clusters/sim/nodes?selector=a%3D%3D%3Db", "viewer-read"), 400,
                   "Invalid label selector")
    detail = site.call("GET", f"/api/v1/clusters/sim/nodes/{a}", "viewer-read")
    assert detail.status == 200 and detail.body["name"] == a and "conditions" in detail.body
    assert_problem(site.call("GET", "/api/v1/clusters/sim/nodes/no-such-node", "viewer-read"), 404, "not found")

    # preview: changes nothing; needs the right to run the action (a read token may preview)
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches/preview", "viewer-read", cordon), 403,
                   "you may not run cordon")
    preview = site.call("POST", "/api/v1/clusters/sim/batches/preview", "operator-read", cordon)
    assert preview.status == 200 and preview.body["nodes"] == [a] and preview.body["count"] == 1
    assert preview.body["diff"][0]["node"] == a
    bad = site.call("POST", "/api/v1/clusters/sim/batches/preview", "operator-read",
                    {"action": "taint", "nodes": [a], "taints": ["gpu=yes:noschedule"]})
    assert_problem(bad, 400, "Taints to add: 'gpu=yes:noschedule': invalid effect 'noschedule' (did you mean "
                             "NoSchedule?)")
    assert bad.body["errors"][0]["field"] == "taints"
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches/preview", "operator-read",
                             {"action": "cordon", "nodes": ["ghost-node"]}), 400, "ghost-node")
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches/preview", "operator-read",
                             {"action": "explode", "nodes": [a]}), 400, "action")

    # create: a token that may act, a role that may run the action; drain is for admins
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", "operator-read", cordon), 403,
                   "this token may only read")
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", "viewer-acts", cordon), 403,
                   "you may not run cordon")
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", "operator-acts",
                             {"action": "drain", "nodes": [a]}), 403, "you may not run drain")
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", "operator-acts",
                             {**cordon, "fingerprint": "0" * 32}), 409, "changed since the preview")
    task = finished_batch(site, "operator-acts", {**cordon, "fingerprint": preview.body["fingerprint"]})
    tid = task["task"]

    # the batch: its owner and staff see it; another viewer does not (404, as the pages)
    for who in ("operator-read", "admin-read"):
        got = site.call("GET", f"/api/v1/batches/{tid}", who)
        assert got.status == 200 and got.body["status"] == "succeeded"
        assert got.body["nodes"] == [{**got.body["nodes"][0], "node": a, "outcome": "succeeded"}]
        assert site.call("GET", f"/api/v1/batches/{tid}/messages?after_seq=0", who).status == 200
    for who in ("viewer-read", "viewer2-read"):
        assert_problem(site.call("GET", f"/api/v1/batches/{tid}", who), 404, "no such task")
        assert_problem(site.call("GET", f"/api/v1/batches/{tid}/messages", who), 404, "no such task")
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/cancel", "viewer-acts"), 404, "no such task")
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/retry", "viewer-acts"), 404, "no such task")
    assert tid in [t["task"] for t in site.call("GET", "/api/v1/batches", "admin-read").body["items"]]
    assert tid in [t["task"] for t in site.call("GET", "/api/v1/batches?status=succeeded",
                                                 "operator-read").body["items"]]
    assert site.call("GET", "/api/v1/batches", "viewer-read").body["count"] == 0
    assert_problem(site.call("GET", f"/api/v1/batches/{tid}/messages?after_seq=-1", "operator-read"), 400)

    # cancel and retry: a finished batch is not cancelled; nothing to retry when every node succeeded
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/cancel", "operator-read"), 403, "may only read")
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/cancel", "operator-acts"), 409, "already succeeded")
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/retry", "operator-acts", {"which": "both"}), 409,
                   "nothing to retry")
    assert_problem(site.call("POST", f"/api/v1/batches/{tid}/retry", "admin-read"), 403, "may only read")

    # audit: every role reads, with the audit log's filters
    for who in site.tokens:
        entries = site.call("GET", f"/api/v1/audit?node={a}&action=cordon", who)
        assert entries.status == 200 and entries.body["count"] == 1
        assert entries.body["items"][0]["username"] == "otto" and entries.body["items"][0]["task"] == tid
    assert site.call("GET", f"/api/v1/audit?task={tid}", "viewer-read").body["count"] == 1
    assert site.call("GET", "/api/v1/audit?user=ada", "viewer-read").body["count"] == 0
    assert_problem(site.call("GET", "/api/v1/audit?since=yesterday", "viewer-read"), 400,
                   "since: enter a valid date as YYYY-MM-DD")

    # templates: operators and admins; changes need a token that may act
    assert_problem(site.call("GET", "/api/v1/templates", "viewer-acts"), 403, "templates are for operators")
    template = {"name": "gpu-pool", "labels": ["pool=gpu"], "taints": ["gpu=yes:NoSchedule"]}
    assert_problem(site.call("POST", "/api/v1/templates", "operator-read", template), 403, "may only read")
    assert_problem(site.call("POST", "/api/v1/templates", "viewer-acts", template), 403, "for operators")
    assert_problem(site.call("POST", "/api/v1/templates", "operator-acts", {**template, "labels": ["pool"]}), 400,
                   "expected key=value")
    made = site.call("POST", "/api/v1/templates", "operator-acts", template)
    assert made.status == 201 and made.body["labels"] == {"pool": "gpu"} and made.body["created_by"] == "otto"
    pk = made.body["id"]
    for who in ("operator-read", "admin-read"):
        assert site.call("GET", "/api/v1/templates", who).body[0]["name"] == "gpu-pool"
        assert site.call("GET", f"/api/v1/templates/{pk}", who).status == 200
    changed = site.call("PUT", f"/api/v1/templates/{pk}", "admin-acts", {**template, "description": "GPU nodes"})
    assert changed.status == 200 and changed.body["description"] == "GPU nodes"
    assert_problem(site.call("DELETE", f"/api/v1/templates/{pk}", "operator-read"), 403)
    assert site.call("DELETE", f"/api/v1/templates/{pk}", "operator-acts").status == 204
    assert_problem(site.call("GET", f"/api/v1/templates/{pk}", "operator-read"), 404)

    # every token request is audited with the token's name (the batch it started too)
    from api.models import TokenRequest

    started = TokenRequest.objects.get(token_name="operator-acts", method="POST", status=201, task_id=tid)
    assert started.username == "otto" and started.path == "/api/v1/clusters/sim/batches"
    assert TokenRequest.objects.filter(token_name="viewer-read", status=403).exists()


def test_a_batch_with_every_option_and_retry_through_the_api(site):
    a, b = node_names(site, role="worker")[3:5]
    # labels, taints and a template with the pages' syntax
    from nodes.models import LabelTaintTemplate

    LabelTaintTemplate.objects.create(name="team", labels={"team": "blue"})
    labelled = finished_batch(site, "operator-acts", {"action": "label", "nodes": [a, b], "template": "team",
                                                      "set": ["tier=api"], "taints": ["api=yes:NoSchedule"],
                                                      "concurrency": 1})
    assert labelled["parameters"]["set"] == {"team": "blue", "tier": "api"}
    node = site.call("GET", f"/api/v1/clusters/sim/nodes/{a}", "viewer-read").body
    assert node["labels"]["tier"] == "api" and node["labels"]["team"] == "blue"
    assert {"key": "api", "value": "yes", "effect": "NoSchedule"} in node["taints"]
    # selecting by the list's filters: the nodes the list shows for them
    untaint = finished_batch(site, "operator-acts", {"action": "untaint", "selector": "tier=api",
                                                     "remove": ["api"]})
    assert untaint["total"] == 2
    assert all(t["key"] != "api" for t in site.call("GET", f"/api/v1/clusters/sim/nodes/{a}",
                                                      "viewer-read").body["taints"])
    # drain with every option (admins), then a retry of it (nothing failed: refused)
    drained = finished_batch(site, "admin-acts", {
        "action": "drain", "nodes": [b], "reason": "kernel update", "ignore_daemonsets": True,
        "delete_emptydir_data": True, "force": True, "disable_eviction": True, "grace_period": 5, "timeout": 60,
        "pod_selector": "", "skip_wait_for_delete_timeout": 0, "concurrency": 1})
    params = drained["parameters"]
    assert params["grace_period"] == 5 and params["timeout"] == 60 and params["force"] is True
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", "admin-acts",
                             {"action": "drain", "nodes": [b], "timeout": 0}), 400,
                   "Timeout (s) must be a whole number from 1 to 86400; 0 is not")
    # a batch cut short: cancelled while queued behind a concurrency of 1, then retried as the acting user
    every = node_names(site, role="worker")
    created = site.call("POST", "/api/v1/clusters/sim/batches", "operator-acts",
                        {"action": "label", "nodes": every, "set": ["wave=1"], "concurrency": 1})
    assert created.status == 201
    tid = created.body["task"]
    cancelled = site.call("POST", f"/api/v1/batches/{tid}/cancel", "operator-acts")
    assert cancelled.status == 200 and cancelled.body["cancel_requested"] is True
    frames = follow_messages(site.url, site.tokens["operator-acts"], tid)
    assert frames[-1]["type"] in ("cancelled", "complete")
    state = site.call("GET", f"/api/v1/batches/{tid}", "operator-read").body
    if state["succeeded"] < state["total"]:
        retried = site.call("POST", f"/api/v1/batches/{tid}/retry", "admin-acts", {"which": "remaining"})
        assert retried.status == 201 and retried.body["retry_of"] == tid and retried.body["user"] == "ada"
        frames = follow_messages(site.url, site.tokens["admin-acts"], retried.body["task"])
        assert frames[-1]["type"] == "complete" and frames[-1]["done"] == state["total"] - state["succeeded"]
    assert set(node_names(site, selector="wave%3D1")) == set(every)


@pytest.mark.browser
def test_a_batch_from_the_api_is_followed_through_the_api_and_the_websocket_of_a_browser_session(site,
                                                                                                   browser_page):
    page = browser_page
    login(page, site.url, "otto", "secret-pw")
    page.evaluate("""() => new Promise((resolve) => {
        window.knFrames = [];
        const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/progress/');
        ws.onmessage = (e) => { const d = JSON.parse(e.data); (Array.isArray(d) ? d : [d]).forEach(
            (f) => window.knFrames.push(f)); };
        ws.onopen = () => resolve();
        window.knSocket = ws;
    })""")
    names = node_names(site, role="worker")[:4]
    created = site.call("POST", "/api/v1/clusters/sim/batches", "operator-acts",
                        {"action": "label", "nodes": names, "set": ["followed=yes"], "concurrency": 2})
    assert created.status == 201
    tid = created.body["task"]
    api_frames = follow_messages(site.url, site.tokens["operator-acts"], tid)
    page.wait_for_function("(t) => window.knFrames.some((f) => f.task === t && f.type === 'complete')", arg=tid,
                           timeout=60_000)
    ws_frames = [f for f in page.evaluate("() => window.knFrames") if f.get("task") == tid and "seq" in f]
    assert [f["seq"] for f in api_frames] == list(range(1, len(names) + 2))
    assert [f["seq"] for f in ws_frames] == [f["seq"] for f in api_frames]  # nothing lost, nothing twice
    assert [(f["type"], f["node"], f["outcome"]) for f in ws_frames] == \
        [(f["type"], f["node"], f["outcome"]) for f in api_frames]
    assert api_frames[-1]["succeeded"] == len(names)


def test_openapi_document_validates_and_its_page_is_served_locally(site):
    from openapi_spec_validator import validate

    document = call(site.url, "GET", "/api/v1/openapi.json")
    assert document.status == 200
    validate(document.body)
    assert document.body["info"]["version"] == "1"
    assert "/api/v1/clusters/{cluster}/batches" in document.body["paths"]
    docs = call(site.url, "GET", "/api/v1/docs")
    assert docs.status == 200 and "swagger-ui-bundle.js" in docs.body
    assert "cdn" not in docs.body.lower() and "https://" not in docs.body
    script = docs.body.split('src="')[1].split('"')[0]
    assert script.startswith("/static/") and call(site.url, "GET", script).status == 200


def test_tokens_expire_are_revoked_and_are_rate_limited(site, daphne_replicas, collected_static_dir):
    from api.models import ApiToken
    from api.tokens import create_token, revoke_token

    user = site.users["viewer"]
    token, secret = create_token(user, "short-lived", "read", 1)
    assert site.call("GET", "/api/v1/clusters", None).status == 401
    assert call(site.url, "GET", "/api/v1/clusters", secret).status == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_problem(call(site.url, "GET", "/api/v1/clusters", secret), 401)
    token, secret = create_token(user, "revoked", "read", 1)
    revoke_token(user, token)
    assert_problem(call(site.url, "GET", "/api/v1/clusters", secret), 401)
    user.is_active = False
    user.save()
    assert_problem(site.call("GET", "/api/v1/clusters", "viewer-read"), 401)
    stored = ApiToken.objects.get(name="viewer-read")
    assert site.tokens["viewer-read"] not in json.dumps(list(ApiToken.objects.values()), default=str)
    assert stored.prefix == site.tokens["viewer-read"][:10]

    # the limit is per token and shared by every replica (counted in the database)
    limited = daphne_replicas("web-limited", KUBENODE_DATA_DIR=collected_static_dir, API_RATE_LIMIT="5")
    other = daphne_replicas("web-limited-2", KUBENODE_DATA_DIR=collected_static_dir, API_RATE_LIMIT="5")
    answers = [call(replica.http_url, "GET", "/api/v1/clusters", site.tokens["operator-read"])
               for replica in (limited, other) * 6]
    over = [a for a in answers if a.status == 429]
    assert over and answers[0].status == 200, [a.status for a in answers]
    assert_problem(over[0], 429, "more than 5 requests in a minute")
    assert 1 <= int(over[0].headers["retry-after"]) <= 60
    assert call(limited.http_url, "GET", "/api/v1/clusters", site.tokens["admin-read"]).status == 200
