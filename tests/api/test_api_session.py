"""The API with a browser's session (a user signed in on the pages) as well as with tokens, over real HTTP against
a daphne process: the same access rules; unsafe methods need the CSRF token (without it: a problem document, nothing
done). Changes asked with a token leave audit entries that name the token, on the audit pages and in the API."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.api.helpers import Answer, assert_problem, follow_messages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Browser:
    """A signed-in browser without JavaScript: a cookie jar, the login form, the CSRF token of the cookie."""

    def __init__(self, base: str, username: str, password: str = "secret-pw"):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        form = self.open("GET", "/login/").body
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        done = self.open("POST", "/login/", urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "username": username, "password": password}).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": base + "/login/"})
        assert done.status == 200 and "sessionid" in self.cookies(), (done.status, self.cookies().keys())

    def cookies(self) -> dict:
        return {c.name: c.value for c in self.jar}

    def open(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> Answer:
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=30) as response:
                raw, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as exc:
            raw, status, got = exc.read(), exc.code, exc.headers
        text = raw.decode()
        try:
            body = json.loads(text) if text and "json" in (got.get("content-type") or "") else text
        except ValueError:
            body = text
        return Answer(status, body, {k.lower(): v for k, v in got.items()})

    def api(self, method: str, path: str, body=None, csrf: bool = True) -> Answer:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if csrf:
            headers["X-CSRFToken"] = self.cookies()["csrftoken"]
        return self.open(method, path, None if body is None else json.dumps(body).encode(), headers)


def workers(site) -> list[str]:
    answer = site.call("GET", "/api/v1/clusters/sim/nodes?per_page=500&role=worker", "viewer-read")
    return [n["name"] for n in answer.body["items"]]


def test_a_signed_in_browser_uses_the_api_with_the_pages_rules_and_csrf(site):
    from progress.models import ProgressTask

    otto, vera = Browser(site.url, "otto"), Browser(site.url, "vera")
    # reads with the session, no token
    listed = otto.api("GET", "/api/v1/clusters", csrf=False)
    assert listed.status == 200 and [c["name"] for c in listed.body] == ["sim"]
    # the interactive page, signed in: it sends the CSRF token with what it tries
    docs = otto.open("GET", "/api/v1/docs")
    assert docs.status == 200 and 'data-api-csrf="true"' in docs.body
    assert re.search(r'data-csrf-token="[A-Za-z0-9]{32,}"', docs.body), docs.body[:2000]
    a, b = workers(site)[:2]
    body = {"action": "label", "nodes": [a, b], "set": ["via=session"]}
    # an unsafe method without the CSRF token: refused with a problem document, nothing started
    before = ProgressTask.objects.count()
    refused = otto.api("POST", "/api/v1/clusters/sim/batches", body, csrf=False)
    assert_problem(refused, 403, "CSRF token")
    wrong = otto.open("POST", "/api/v1/clusters/sim/batches", json.dumps(body).encode(),
                      {"Content-Type": "application/json", "X-CSRFToken": "x" * 32})
    assert_problem(wrong, 403, "CSRF token")
    assert ProgressTask.objects.count() == before
    # a viewer's session may not run batches, with or without CSRF (the pages' rule and message)
    assert_problem(vera.api("POST", "/api/v1/clusters/sim/batches", body), 403)
    assert ProgressTask.objects.count() == before
    # an operator's session with the CSRF token starts it, and the audit entries name no token
    created = otto.api("POST", "/api/v1/clusters/sim/batches", body)
    assert created.status == 201, created.body
    assert created.body["user"] == "otto"
    frames = follow_messages(site.url, site.tokens["operator-read"], created.body["task"])
    assert frames[-1]["type"] == "complete"
    audit = otto.api("GET", f"/api/v1/audit?task={created.body['task']}", csrf=False).body["items"]
    assert len(audit) == 2 and {e["username"] for e in audit} == {"otto"}
    assert {e["via_token"] for e in audit} == {None}
    # tokens keep working beside sessions; a bad token is not rescued by a session, nothing is without one
    assert site.call("GET", "/api/v1/clusters", "viewer-read").status == 200
    assert_problem(otto.open("GET", "/api/v1/clusters", headers={"Authorization": "Bearer kn_nope"}), 401)
    assert_problem(site.call("POST", "/api/v1/clusters/sim/batches", None, body), 401)
    # a session that logged out is refused
    otto.open("POST", "/logout/", b"", {"X-CSRFToken": otto.cookies()["csrftoken"],
                                       "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(otto.api("GET", "/api/v1/clusters", csrf=False), 401)


def test_changes_asked_with_a_token_name_the_token_in_the_audit(site):
    a, b, c = workers(site)[2:5]
    created = site.call("POST", "/api/v1/clusters/sim/batches", "operator-acts",
                        {"action": "label", "nodes": [a, b], "set": ["via=token"]})
    assert created.status == 201, created.body
    tid = created.body["task"]
    assert follow_messages(site.url, site.tokens["operator-acts"], tid)[-1]["type"] == "complete"
    entries = site.call("GET", f"/api/v1/audit?task={tid}", "viewer-read").body["items"]
    assert len(entries) == 2
    assert {(e["username"], e["via_token"]) for e in entries} == {("otto", "operator-acts")}
    # another token, another user: its own name, on the node's recent audit too
    cordon = site.call("POST", "/api/v1/clusters/sim/batches", "admin-acts", {"action": "cordon", "nodes": [c]})
    assert follow_messages(site.url, site.tokens["admin-acts"], cordon.body["task"])[-1]["type"] == "complete"
    node = site.call("GET", f"/api/v1/clusters/sim/nodes/{c}", "viewer-read").body
    assert [(e["action"], e["via_token"]) for e in node["recent_audit"]][:1] == [("cordon", "admin-acts")]
    # the audit log page and the node's page show it beside the user
    page = Browser(site.url, "vera")
    log = page.open("GET", "/audit/?action=label").body
    assert log.count("(token operator-acts)") >= 2, log[:3000]
    detail = page.open("GET", f"/clusters/sim/nodes/{c}/").body
    assert "(token admin-acts)" in detail
