"""Live progress through a real daphne process: HTTP login, the batch started from the page, /ws/progress/ over TCP.

One web process and one worker process on PostgreSQL (LISTEN/NOTIFY): the worker runs the batch, writes the rows
and rings the doorbell; the web process's listener hears it, its consumer reads the rows and pushes them to a
`websockets` client.
"""

import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from urllib.error import HTTPError

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from nodes.models import AuditEntry
from progress.models import ProgressTask, TaskStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FINAL = {"complete", "error", "cancelled", "interrupted"}


class Browserless:
    """An HTTP client with a cookie jar: logs in through the login form like a person would."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def get(self, path: str):
        return self.opener.open(self.base_url + path, timeout=30)

    def post(self, path: str, data):
        if not any(c.name == "csrftoken" for c in self.jar):
            self.get("/login/")
        body = urllib.parse.urlencode([*data, ("csrfmiddlewaretoken", self.cookie("csrftoken"))]).encode()
        return self.opener.open(urllib.request.Request(self.base_url + path, data=body), timeout=60)

    def login(self, username: str, password: str) -> str:
        resp = self.post("/login/", [("username", username), ("password", password)])
        assert "/login/" not in resp.geturl(), f"login as {username} failed"
        return self.cookie("sessionid")


def _user(name: str, group: str) -> User:
    hasher = PBKDF2PasswordHasher()  # the replica runs the real settings' hashers
    user = User.objects.create(username=name, password=hasher.encode("secret-pw", hasher.salt()))
    user.groups.add(Group.objects.get(name=group))
    return user


def open_ws(replica, session: str, origin: str | None = None):
    return connect(f"{replica.ws_url}/ws/progress/", origin=origin or replica.http_url,
                   additional_headers={"Cookie": f"sessionid={session}"}, open_timeout=20)


def recv(ws, timeout=30) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def drain_pending(ws, quiet=1.0) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(recv(ws, timeout=quiet))
        except TimeoutError:
            return frames


def assert_increasing(frames: list[dict]) -> None:
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs)), f"a seq was sent twice or out of order on one connection: {seqs}"


@pytest.fixture
def live(kube_sim, daphne_replicas, worker_processes):
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()  # a transactional test's flush removed the migration's groups
    sim = kube_sim(nodes=40, latency_ms=60, fail_rate=0.15, seed=4)
    cluster = import_cluster("sim", sim.kubeconfig_text, simulated=True)
    _user("ann", "operator")
    _user("bob", "operator")
    replica = daphne_replicas("web", PROGRESS_NOTIFY_TYPE="postgres")
    worker_processes("worker")
    return cluster, replica


def test_batch_progress_over_a_real_daphne_process(live):
    cluster, replica = live
    ann, bob = Browserless(replica.http_url), Browserless(replica.http_url)
    ann_session, bob_session = ann.login("ann", "secret-pw"), bob.login("bob", "secret-pw")

    with pytest.raises(InvalidStatus):  # an origin that is not allowed is refused at the handshake
        open_ws(replica, ann_session, origin="http://evil.example").close()
    with pytest.raises(InvalidStatus):  # so is a socket without a session
        connect(f"{replica.ws_url}/ws/progress/", origin=replica.http_url, open_timeout=20).close()

    bob_ws = open_ws(replica, bob_session)
    assert recv(bob_ws) == {"type": "snapshot", "tasks": []}
    ws1 = open_ws(replica, ann_session)
    assert recv(ws1) == {"type": "snapshot", "tasks": []}

    from nodes.selectors import list_nodes

    names = sorted(n.name for n in list_nodes(cluster))
    resp = ann.post(f"/clusters/{cluster.name}/nodes/action/",
                    [("action", "label"), ("set", "team=blue"), *[("node", n) for n in names],
                     ("concurrency", "1"), ("confirm", "yes")])
    task_id = re.search(r"[?&]task=([0-9a-f-]{36})", resp.geturl()).group(1)

    # live, without asking: every message of ann's own task, in order, from seq 1
    first = []
    while len(first) < 6:
        first.append(recv(ws1))
    assert [f["seq"] for f in first] == [1, 2, 3, 4, 5, 6] and {f["task"] for f in first} == {task_id}
    # a malformed frame gets an error frame; the socket stays open and delivery goes on
    ws1.send("this is not json")
    errors = []
    while not errors or len(first) < 10:
        frame = recv(ws1)
        (errors if frame.get("type") == "protocol_error" else first).append(frame)
    assert errors[0]["error"] == "frames must be JSON text" and len(errors) == 1
    assert_increasing(first)
    seen = first[-1]["seq"]
    assert [f["seq"] for f in first] == list(range(1, seen + 1))
    ws1.close()  # the client drops off mid-batch

    task = ProgressTask.objects.get(pk=task_id)
    assert task.status == TaskStatus.RUNNING and task.user.username == "ann"

    # a new connection resumes after the last seq it saw; the client de-duplicates by (task, seq)
    ws2 = open_ws(replica, ann_session)
    snapshot = recv(ws2)
    assert snapshot["type"] == "snapshot" and [t["task"] for t in snapshot["tasks"]] == [task_id]
    ws2.send(json.dumps({"type": "resume", "task": task_id, "after_seq": seen}))
    second = []
    while not second or second[-1]["type"] not in FINAL:
        frame = recv(ws2, timeout=120)
        assert frame["task"] == task_id and "seq" in frame, frame
        second.append(frame)
    assert_increasing(second)
    assert second[-1]["seq"] > seen
    received = {f["seq"]: f for f in first + second}
    task = ProgressTask.objects.get(pk=task_id)
    assert sorted(received) == list(range(1, task.last_seq + 1))  # no gap
    assert task.last_seq == task.total + 1 == len(names) + 1
    # the complete message: exact counts and every failed node with its reason
    final = received[task.last_seq]
    failed = {f["node"]: f["error"] for f in received.values() if f["type"] == "progress" and f["outcome"] == "failed"}
    audit_failed = dict(AuditEntry.objects.filter(task_id=task_id, outcome="failed").values_list("node", "error"))
    assert final["type"] == "complete" and task.status == TaskStatus.FAILED
    assert (final["total"], final["done"], final["succeeded"], final["failed"]) == \
        (task.total, task.total, task.succeeded, task.failed)
    assert 0 < len(failed) == task.failed == final["detail"]["failed"] < task.total
    assert final["detail"]["succeeded"] == task.succeeded == task.total - task.failed
    assert {f["node"]: f["error"] for f in final["detail"]["failed_nodes"]} == failed == audit_failed
    progress_nodes = [f["node"] for f in received.values() if f["type"] == "progress"]
    assert sorted(progress_nodes) == names
    assert drain_pending(ws2) == []  # nothing after the final message
    ws2.close()

    # after the batch: resuming sends exactly what came after the seq the client had
    with open_ws(replica, ann_session) as ws3:
        assert recv(ws3)["type"] == "snapshot"
        ws3.send(json.dumps({"type": "resume", "task": task_id, "after_seq": seen}))
        third = [recv(ws3) for _ in range(task.last_seq - seen)]
        assert [f["seq"] for f in third] == list(range(seen + 1, task.last_seq + 1))
        assert third == [received[f["seq"]] for f in third]
        assert drain_pending(ws3) == []

    # bob never received a message of ann's task, and may not ask for it
    assert drain_pending(bob_ws) == []
    bob_ws.send(json.dumps({"type": "resume", "task": task_id, "after_seq": 0}))
    denied = recv(bob_ws)
    assert denied["type"] == "protocol_error" and "seq" not in denied
    assert drain_pending(bob_ws) == []
    bob_ws.close()
    # and the polling JSON follows the same rule
    with pytest.raises(HTTPError) as refused:
        bob.get(f"/progress/tasks/{task_id}.json")
    assert refused.value.code == 404
    state = json.load(ann.get(f"/progress/tasks/{task_id}.json?after_seq={task.last_seq - 1}"))
    assert (state["status"], state["last_seq"], [m["seq"] for m in state["messages"]]) == \
        ("failed", task.last_seq, [task.last_seq])
