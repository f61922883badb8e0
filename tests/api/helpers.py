"""An HTTP client of the API for the tests (the standard library: what a script would use)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    body: object
    headers: dict

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def call(base: str, method: str, path: str, token: str | None = None, body=None, timeout: float = 30,
         headers: dict | None = None) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, exc.headers
    text = raw.decode()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return Answer(status, parsed, {k.lower(): v for k, v in headers.items()})


def follow_messages(base: str, token: str, task_id: str, timeout: float = 120) -> list[dict]:
    """Every message of a batch through the API, resuming after the last seq received, until the final one."""
    frames, after = [], 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = call(base, "GET", f"/api/v1/batches/{task_id}/messages?after_seq={after}", token)
        assert answer.status == 200, answer.body
        frames += answer.body["messages"]
        if answer.body["messages"]:
            after = answer.body["messages"][-1]["seq"]
        if frames and frames[-1]["type"] != "progress" and not answer.body["more"]:
            return frames
        if not answer.body["more"]:
            time.sleep(0.2)
    raise AssertionError(f"batch {task_id} did not finish within {timeout}s: {frames[-3:]}")


def assert_problem(answer, status, detail_part=""):
    assert answer.status == status, (answer.status, answer.body)
    assert answer.content_type.startswith("application/problem+json"), answer.headers
    body = answer.body
    assert body["status"] == status and body["title"] and body["type"] == "about:blank", body
    assert detail_part in body["detail"], body
