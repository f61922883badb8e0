"""One Kubernetes watch per cluster per process keeps the node pages current: changes made by anyone (the official
client here, as kubectl would) reach the node list without a list call and are handed to every subscriber in
batches; an expired resourceVersion relists; a lost API server is reported; 100 open node lists cost one watch
(in process, and through a real daphne with 100 WebSocket clients)."""

import json
import re
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, User
from websockets.sync.client import connect

from nodes import selectors, services, watch
from tests.nodes.conftest import core_api

pytestmark = pytest.mark.django_db


def _watch_requests(sim) -> int:
    return len(re.findall(r'"GET /api/v1/nodes\?[^"]*watch=true', Path(sim.log_path).read_text()))


def _node_lists(sim) -> int:
    return len([p for p in re.findall(r'"GET (/api/v1/nodes\?\S*) HTTP', Path(sim.log_path).read_text())
                if "watch=" not in p])


def _wait(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@pytest.fixture
def sim(kube_sim, db, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # the simulator logs every request
    s = kube_sim(nodes=12, seed=4)
    s.cluster = services.import_cluster("watched", s.kubeconfig_text, simulated=True)
    s.api = core_api(s.kubeconfig)
    selectors.invalidate_nodes()
    yield s
    selectors.invalidate_nodes()


class Collector:
    def __init__(self):
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, batch):
        with self.lock:
            self.batches.append(batch)

    def changed(self, name):
        with self.lock:
            return [b.changed[name] for b in self.batches if name in b.changed]


def test_changes_by_anyone_reach_the_list_and_every_subscriber_from_one_watch(sim):
    first = selectors.cached_nodes(sim.cluster)
    lists = _node_lists(sim)
    w = watch.get(sim.cluster)
    subscribers = [Collector() for _ in range(100)]
    for s in subscribers:
        w.subscribe(s)
    _wait(lambda: w.state == "live", what="the watch opening")
    sim.api.patch_node("worker-0003", {"metadata": {"labels": {"changed-by": "kubectl"}},
                                       "spec": {"unschedulable": True}})
    _wait(lambda: all(s.changed("worker-0003") for s in subscribers), what="every subscriber hearing of it")
    info = subscribers[0].changed("worker-0003")[-1]
    assert info.labels["changed-by"] == "kubectl" and not info.schedulable
    nodes = selectors.cached_nodes(sim.cluster)
    assert next(n for n in nodes if n.name == "worker-0003").labels["changed-by"] == "kubectl"
    assert nodes is not first and nodes.counts["cordoned"] == 1
    sim.api.delete_node("worker-0005")
    _wait(lambda: subscribers[-1].changed("worker-0005") == [None], what="the deletion")
    assert "worker-0005" not in {n.name for n in selectors.cached_nodes(sim.cluster)}
    assert _node_lists(sim) == lists  # no node list was read again
    assert _watch_requests(sim) == 1 and w.streams_opened == 1 and len(watch.running()) == 1


def test_an_expired_resource_version_relists_and_says_resync(sim):
    old = selectors.cached_nodes(sim.cluster)
    watch.stop_all()
    sim.api.patch_node("worker-0002", {"metadata": {"labels": {"while": "away"}}})
    stale = selectors.NodeList(old)
    w = watch.ensure(sim.cluster, selectors.node_info, seed=stale, resource_version="1")  # long compacted
    got = Collector()
    w.subscribe(got)
    _wait(lambda: any(b.resync for b in got.batches), what="a resync batch")
    assert got.changed("worker-0002")[-1].labels["while"] == "away"
    _wait(lambda: w.state == "live", what="watching again")
    assert _node_lists(sim) == 2  # the page's list, and the relist after 410 Expired


def test_a_lost_api_server_is_reported_and_the_page_says_so(sim, client, monkeypatch):
    monkeypatch.setattr(selectors, "NODE_CACHE_SECONDS", 0.0)  # no listed copy to fall back on
    selectors.cached_nodes(sim.cluster)
    w = watch.get(sim.cluster)
    got = Collector()
    w.subscribe(got)
    _wait(lambda: w.state == "live", what="the watch opening")
    sim.stop()
    _wait(lambda: w.state == "reconnecting", what="reconnecting")
    assert "cannot reach the API server" in w.error
    _wait(lambda: any(b.state == "reconnecting" for b in got.batches), what="subscribers told")
    user = User.objects.create_user("v", password="pw")
    client.force_login(user)
    html = client.get("/clusters/watched/nodes/").content.decode()
    assert "could not be read" in html and 'data-state="reconnecting"' in html


def _session_user(name):
    hasher = PBKDF2PasswordHasher()
    user = User.objects.create(username=name, password=hasher.encode("secret-pw", hasher.salt()))
    user.groups.add(Group.objects.get_or_create(name="viewer")[0])
    return user


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_100_open_node_lists_of_one_cluster_cost_one_watch(kube_sim, daphne_replicas, monkeypatch):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    sim = kube_sim(nodes=12, seed=4)
    monkeypatch.delenv("LOG_LEVEL")
    services.import_cluster("many", sim.kubeconfig_text, simulated=True)
    user = _session_user("many-viewer")
    store = SessionStore()
    store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), "accounts.backends.LocalBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    replica = daphne_replicas("web")
    names = [f"worker-{i:04d}" for i in range(1, 10)]
    sockets = []
    try:
        for _ in range(100):
            ws = connect(f"{replica.ws_url}/ws/progress/", origin=replica.http_url, open_timeout=30,
                         additional_headers={"Cookie": f"sessionid={store.session_key}"})
            sockets.append(ws)
            ws.send(json.dumps({"type": "nodes.watch", "cluster": "many", "names": names,
                                "filter": {"q": "worker"}}))
        for ws in sockets:  # each is told the watch's state once subscribed
            while json.loads(ws.recv(timeout=60))["type"] != "nodes.state":
                pass
        core_api(sim.kubeconfig).patch_node("worker-0004", {"spec": {"taints": [
            {"key": "maint", "value": "now", "effect": "NoSchedule"}]}})
        for ws in sockets:
            while True:
                frame = json.loads(ws.recv(timeout=60))
                if frame["type"] == "nodes.rows" and "worker-0004" in frame["rows"]:
                    break
            assert "maint=now:NoSchedule" in frame["rows"]["worker-0004"]["cells"]["taints"]
        # a node entering the filtered list is announced, not shown: the page reads its table again
        core_api(sim.kubeconfig).create_node({"metadata": {"name": "worker-0100"}})
        frame = json.loads(sockets[0].recv(timeout=60))
        while frame["type"] != "nodes.rows" or not frame["entered"]:
            frame = json.loads(sockets[0].recv(timeout=60))
        assert frame["entered"] == 1 and frame["counts"]["total"] == 13
    finally:
        for ws in sockets:
            ws.close()
    assert _watch_requests(sim) == 1, "100 viewers must share one watch"


def test_a_large_clusters_page_does_not_wait_for_its_pods_and_is_told_when_they_are_there(sim, client, monkeypatch):
    monkeypatch.setattr(selectors, "POD_WAIT_NODES", 5)  # 12 nodes stand for 5,000
    user = User.objects.create_user("v2", password="pw")
    client.force_login(user)
    w = watch.ensure(sim.cluster, selectors.node_info)  # a node list is open already
    got = Collector()
    w.subscribe(got)
    _wait(lambda: w.state == "live" and got.batches, what="the watch's first list")
    got.batches.clear()
    r = client.get("/clusters/watched/nodes/")
    html = r.content.decode()
    assert all(n.pod_count is None and n.pods_pending for n in r.context["page"])
    assert "pod counts and requests follow in a moment" in html
    assert 'title="being read: the counts follow in a moment">…</span>' in html
    _wait(lambda: selectors.cached_nodes(sim.cluster)[0].pod_count is not None, what="the pod counts")
    _wait(lambda: any(b.resync for b in got.batches), what="the open pages told to read themselves again")
    r = client.get("/clusters/watched/nodes/")
    assert all(n.pod_count is not None for n in r.context["page"]) and "follow in a moment" not in r.content.decode()
