"""Random text, unicode, control characters and huge values in every form field, query parameter and WebSocket
frame type, on PostgreSQL (a bounded number of examples each): never a 500 or a traceback, and nothing changed when
the answer is an error."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodes.models import AuditEntry, Cluster, LabelTaintTemplate
from nodes.validation import ACTIONS
from progress.models import ProgressTask

pytestmark = pytest.mark.django_db(transaction=True)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow],
                derandomize=True)

HUGE = "x" * 100_000
value = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", min_codepoint=0, max_codepoint=0x1F), max_size=5),
    st.sampled_from(["", "\x00", "..", ".", "-1", "0", "abc", "9" * 40, "worker-0001", "a=b:NoExecute",
                     "node-role.kubernetes.io/control-plane:NoSchedule", "2024-02-30", "on", "yes", HUGE,
                     "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "\u202e"]),
    st.integers().map(str),
)
BATCH_FIELDS = ("action", "template", "set", "remove", "taints", "confirm_reserved", "reason", "ignore_daemonsets",
                "delete_emptydir_data", "force", "disable_eviction", "grace_period", "timeout", "pod_selector",
                "skip_wait_for_delete_timeout", "concurrency", "targets", "node", "selector", "select_all", "q",
                "status", "role", "taint", "confirm", "previewed", "blocked_nodes", "accept_blocked", "retry",
                "which", "back", "enable", "submitted")


def _counts() -> tuple:
    return (ProgressTask.objects.count(), AuditEntry.objects.count(), LabelTaintTemplate.objects.count(),
            Cluster.objects.count(), tuple(Cluster.objects.order_by("pk").values_list("name", flat=True)))


def _check(response, before):
    body = response.content.decode(errors="replace")
    assert response.status_code < 500, response.status_code
    assert "Traceback" not in body and "invalid literal" not in body
    if response.status_code >= 400:
        assert _counts() == before, "an error changed data"


@pytest.fixture
def operator_client(users):
    client = Client(raise_request_exception=False)
    client.force_login(users["admin"])  # every action is open to it: the form is fuzzed, not the rights
    return client


def test_batch_form_fields(cluster, operator_client):
    @FUZZ
    @given(action=st.one_of(st.sampled_from(ACTIONS), value),
           fields=st.dictionaries(st.sampled_from(BATCH_FIELDS), value, max_size=8))
    def run(action, fields):
        before = _counts()
        data = {"submitted": "1", **fields, "action": action}
        _check(operator_client.post("/clusters/shared/nodes/action/", data), before)
        _check(operator_client.get("/clusters/shared/nodes/action/", {k: v[:2000] for k, v in data.items()}), before)

    run()


def test_template_and_cluster_forms(cluster, operator_client):
    @FUZZ
    @given(name=value, description=value, labels=value, remove=value, taints=value, kubeconfig=value)
    def run(name, description, labels, remove, taints, kubeconfig):
        before = _counts()
        _check(operator_client.post("/templates/add/", {"name": name, "description": description,
                                                        "labels_text": labels, "remove_text": remove,
                                                        "taints_text": taints}), before)
        before = _counts()
        _check(operator_client.post("/clusters/add/", {"name": name, "kubeconfig_text": kubeconfig}), before)
        before = _counts()
        _check(operator_client.post("/clusters/shared/rename/", {"name": name}), before)

    run()


PAGES = ("/", "/clusters/", "/nodes/", "/audit/", "/progress/tasks/", "/clusters/shared/nodes/", "/templates/",
         "/clusters/shared/nodes/worker-0001/")


def test_query_parameters(cluster, operator_client):
    @FUZZ
    @given(page=st.sampled_from(PAGES),
           params=st.dictionaries(st.one_of(st.sampled_from(["q", "status", "role", "taint", "selector", "page",
                                                             "user", "node", "cluster", "action", "since", "until",
                                                             "sort", "batch", "task", "partial", "after_seq"]),
                                            st.text(max_size=10)),
                                  st.one_of(value.map(lambda v: v[:3000])), max_size=5))
    def run(page, params):
        before = _counts()
        _check(operator_client.get(page, params), before)

    run()


FRAME_TYPES = ("resume", "nodes.watch", "nodes.unwatch", "nodes.nope", "other")
json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                    value.map(lambda v: v[:500])),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                          max_leaves=10)


def test_websocket_frames(cluster, users, caplog):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from kubenode.asgi import application
    from tests.progress.helpers import session_cookie

    @FUZZ
    @given(frames=st.lists(st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(FRAME_TYPES)},
                              optional={"task": json_value, "after_seq": json_value, "cluster": json_value,
                                        "node": json_value, "names": json_value, "filter": json_value,
                                        "version": json_value}).map(json.dumps),
        value.map(lambda v: v[:70_000]).filter(bool)), min_size=1, max_size=5))
    def run(frames):
        async def session():
            cookie = await database_sync_to_async(session_cookie)(users["admin"])
            comm = WebsocketCommunicator(application, "/ws/progress/",
                                         headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
                                                  (b"cookie", f"sessionid={cookie}".encode())])
            connected, _ = await comm.connect(timeout=10)
            assert connected
            assert (await comm.receive_json_from(timeout=10))["type"] == "snapshot"
            for frame in frames:
                await comm.send_to(text_data=frame)
            # the socket is still served: a resume of an unknown task gets its answer after the fuzzed frames
            await comm.send_json_to({"type": "resume", "task": "00000000-0000-0000-0000-000000000000",
                                     "after_seq": 0})
            while True:
                out = await comm.receive_output(timeout=15)
                assert out["type"] == "websocket.send", out
                reply = json.loads(out["text"])
                if isinstance(reply, dict) and reply.get("error") == "no such task":
                    break
            await comm.disconnect()
            await asyncio.sleep(0)

        before = _counts()
        async_to_sync(session)()
        assert _counts() == before

    run()
    assert "Traceback" not in caplog.text
