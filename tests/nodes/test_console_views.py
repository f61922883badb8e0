"""The operator console through the Django test client against the simulator: overview, node lists (status order,
units, usage, requests, folded labels, sort by column, page sizes, Age), node detail, clusters from the pages,
navigation, favicon."""

import re
import time

import pytest
import yaml
from django.contrib.auth.models import Group, User

from nodes import selectors, services
from nodes.display import label_chips
from nodes.kube import quantity
from nodes.models import AuditEntry, Cluster
from progress.models import ProgressTask

pytestmark = pytest.mark.django_db


def _login(client, name, group=None, staff=False):
    user = User.objects.create_user(name, password="pw", is_staff=staff)
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    client.force_login(user)
    return user


@pytest.fixture
def viewer(client):
    _login(client, "viewer", "viewer")
    return client


@pytest.fixture
def admin(client):
    _login(client, "boss", "admin")
    return client


def test_quantities_in_human_units():
    assert quantity.parse("7900m") == pytest.approx(7.9) and quantity.cores(7.9) == "7.9 cores"
    assert quantity.binary_bytes(quantity.parse("33030144Ki")) == "31.5 GiB"
    assert quantity.parse("137233567n") == pytest.approx(0.137233567) and quantity.cores(0.25) == "250m"
    assert quantity.parse("1e3") == 1000 and quantity.parse("2Mi") == 2 * 2 ** 20 and quantity.parse("x1") is None
    assert quantity.cores(1) == "1 core" and quantity.percent(1, 4) == 25 and quantity.percent(1, 0) is None


def test_labels_fold_behind_n_more_the_operators_own_first():
    labels = {"kubernetes.io/hostname": "a", "kubernetes.io/os": "linux", "pool": "gpu",
              "topology.kubernetes.io/zone": "zone-b", "node-role.kubernetes.io/worker": "",
              "beta.kubernetes.io/os": "x"}
    html = label_chips(labels)
    shown = html.split("<details")[0]
    assert shown.index("pool=gpu") < shown.index("zone-b")
    assert "kubernetes.io/hostname" not in shown and "+3 more" in html and "kubernetes.io/hostname=a" in html
    assert label_chips({"a": "<b>"}) == '<span class="kn-chip">a=&lt;b&gt;</span>'


def test_node_list_units_usage_requests_and_status_order(viewer, cluster):
    r = viewer.get("/clusters/shared/nodes/", {"sort": "status"})
    assert r.status_code == 200
    page = list(r.context["page"])
    order = [n.status for n in page]
    first_ready = order.index("Ready")
    assert order[:first_ready] and set(order[:first_ready]) <= {"Unknown", "NotReady"}
    assert "Ready" not in order[first_ready:] or set(order[first_ready:]) == {"Ready"}
    assert order[:first_ready] == sorted(order[:first_ready], key=lambda s: selectors.STATUS_ORDER[s])
    html = r.content.decode()
    assert re.search(r"\d+(\.\d)? cores", html) and re.search(r"\d+(\.\d)? GiB", html)
    assert "kn-badge-ready" in html and "kn-badge-notready" in html and "icon-yes.svg" in html
    node = next(n for n in page if n.status == "Ready" and n.name.startswith("worker"))
    assert node.cpu_usage is not None and 0 < node.cpu_usage_pct <= 100  # the simulator serves metrics.k8s.io
    assert node.cpu_requests_pct is not None and node.memory_requests_pct is not None
    assert f"usage {node.cpu_usage_pct}%" in html and f"requests {node.cpu_requests_pct}%" in html
    assert r.context["has_metrics"] is True
    assert 'aria-sort="ascending"' in html and "sort=-status" in html  # the same header again reverses it


def test_sort_by_a_column_both_ways_and_page_sizes(viewer, cluster):
    r = viewer.get("/clusters/shared/nodes/", {"sort": "-name", "per_page": "25"})
    names = [n.name for n in r.context["page"]]
    assert len(names) == 25 and names == sorted(names, reverse=True)
    assert r.context["page"].paginator.num_pages == 2 and "page 1 of 2" in r.content.decode()
    r = viewer.get("/clusters/shared/nodes/", {"sort": "cpu"})
    busy = [n.cpu_usage_pct for n in r.context["page"] if n.cpu_usage_pct is not None]
    assert busy == sorted(busy, reverse=True)
    r = viewer.get("/clusters/shared/nodes/", {"sort": "nonsense", "per_page": "7"})  # falls back, no error
    assert r.status_code == 200 and r.context["sort"] == "name" and r.context["per_page"] == 100


def test_label_selector_matches_like_the_api_server(viewer, cluster, shared_sim):
    from tests.nodes.conftest import core_api

    api = core_api(shared_sim.kubeconfig)
    for selector in ("pool=compute", "pool!=compute", "pool in (gpu,memory)", "pool notin (gpu)", "!pool",
                     "nvidia.com/gpu.present", "topology.kubernetes.io/zone=zone-a,pool"):
        expected = sorted(n.metadata.name for n in api.list_node(label_selector=selector).items)
        r = viewer.get("/clusters/shared/nodes/", {"selector": selector, "per_page": "500"})
        assert sorted(n.name for n in r.context["page"]) == expected, selector
    r = viewer.get("/clusters/shared/nodes/", {"selector": "a in ((", "role": "worker"})
    assert "Invalid label selector" in r.context["error"] and r.context["total"] == 0
    assert "worker" in r.context["roles"]  # the Role filter keeps every role of the cluster


def test_all_nodes_has_age_and_clusters(viewer, cluster):
    r = viewer.get("/nodes/", {"sort": "-age"})
    html = r.content.decode()
    assert 'class="kn-col-age"' in html and re.search(r'data-label="Age"><span title="created [^"]+">\d+[smhdy]<',
                                                      html)
    ages = [n.created for _, n in r.context["page"]]
    assert ages == sorted(ages, reverse=True)
    assert 'data-label="Cluster"><a href="/clusters/shared/nodes/">shared</a>' in html


def test_overview_is_the_landing_page(viewer, cluster):
    AuditEntry.objects.all().delete()
    user = User.objects.get(username="viewer")
    ProgressTask.objects.create(user=user, cluster_name="shared", action="cordon", total=3, status="running")
    r = viewer.get("/")
    assert r.status_code == 200
    html = r.content.decode()
    s = r.context["summaries"][0]
    assert s["counts"]["total"] == 30 and s["counts"]["Ready"] + s["counts"]["NotReady"] + s["counts"]["Unknown"] == 30
    assert s["versions"] == [("v1.31.0", 30)] and s["cpu"] > 0 and s["cpu_usage_pct"] is not None
    assert "cordon</a> — running, 0 / 3" in html
    assert "Live progress delivery" in html and r.context["notifier"]["effective"] == "memory"
    assert "Check now" not in html  # viewers do not check clusters


def test_node_detail_is_worth_opening(viewer, cluster, shared_sim):
    from tests.nodes.conftest import core_api

    api = core_api(shared_sim.kubeconfig)
    owned = [p.spec.node_name for p in api.list_pod_for_all_namespaces().items
             if p.spec.node_name and p.metadata.owner_references and p.metadata.owner_references[0].kind == "ReplicaSet"
             and p.spec.node_name.startswith("worker-00")]
    name = sorted(owned)[0]
    api.patch_node(name, {"spec": {"unschedulable": True}})
    deadline = time.monotonic() + 10
    while True:  # the simulator's kubelet records its event a moment after the change
        r = viewer.get(f"/clusters/shared/nodes/{name}/")
        if any(e["reason"] == "NodeNotSchedulable" for e in r.context["detail"].events) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200
    html = r.content.decode()
    detail = r.context["detail"]
    for text in ("Ubuntu 22.04.4 LTS", "5.15.0-105-generic", "containerd://1.7.13", "InternalIP", "Last transition",
                 "KubeletReady", "Cordoned", "DaemonSet kube-proxy", "YAML"):
        assert text in html, text
    assert any(e["reason"] == "NodeNotSchedulable" for e in detail.events)  # the simulator's kubelet event
    assert yaml.safe_load(detail.yaml)["metadata"]["name"] == name and "managedFields" not in detail.yaml
    pod = next(p for p in detail.node.pods if p["owner_kind"] == "ReplicaSet")
    assert pod["cpu_requests"] > 0 and pod["memory_limits"] > 0
    assert detail.node.cpu_requests == pytest.approx(sum(p["cpu_requests"] for p in detail.node.pods
                                                         if p["phase"] not in ("Succeeded", "Failed")))
    assert r.context["live"]["node"] == name
    api.patch_node(name, {"spec": {"unschedulable": None}})
    partial = viewer.get(f"/clusters/shared/nodes/{name}/", {"partial": "main"})
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert "Cordoned" not in partial.content.decode()


def test_clusters_from_the_pages(admin, shared_sim, tmp_path):
    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    assert len(doc["contexts"]) == 2  # admin and viewer
    # upload, two contexts: the second step chooses; the kubeconfig waits encrypted in the session
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("config", shared_sim.kubeconfig_text.encode())
    r = admin.post("/clusters/add/", {"name": "prod", "kubeconfig_file": upload})
    assert r.status_code == 200 and r.context["contexts"] == ["kubenode-sim", "viewer"]
    assert shared_sim.admin_token not in r.content.decode()
    assert not Cluster.objects.filter(name="prod").exists()
    token = r.context["token"]
    r = admin.post("/clusters/add/", {"step": "context", "token": token, "name": "prod", "context": "nope"})
    assert r.status_code == 400 and "choose one of the kubeconfig" in r.content.decode()
    r = admin.post("/clusters/add/", {"step": "context", "token": token, "name": "prod", "context": "kubenode-sim"},
                   follow=True)
    prod = Cluster.objects.get(name="prod")
    assert prod.context == "kubenode-sim" and prod.last_check_ok
    assert shared_sim.admin_token not in prod.kubeconfig_encrypted
    assert "Cluster prod added: reachable" in r.content.decode()
    # pasted, one context: added at once
    one = dict(doc, contexts=[doc["contexts"][1]], **{"current-context": "viewer"})
    r = admin.post("/clusters/add/", {"name": "readonly", "kubeconfig_text": yaml.safe_dump(one)}, follow=True)
    ro = Cluster.objects.get(name="readonly")
    assert ro.context == "viewer" and "patch nodes: no" in ro.last_check_message
    # bad input: a clear message, nothing stored
    for data, message in (({"name": "x", "kubeconfig_text": "a: [b"}, "not valid YAML"),
                          ({"name": "x", "kubeconfig_text": "kind: Config\n"}, "has no contexts"),
                          ({"name": "x"}, "upload a kubeconfig file or paste one"),
                          ({"name": "prod", "kubeconfig_text": shared_sim.kubeconfig_text}, "exists already"),
                          ({"name": "no spaces!", "kubeconfig_text": shared_sim.kubeconfig_text}, "Enter a valid")):
        r = admin.post("/clusters/add/", data)
        assert r.status_code == 400 and message in r.content.decode(), message
    assert set(Cluster.objects.values_list("name", flat=True)) == {"prod", "readonly"}
    # check, rename, remove
    r = admin.post("/clusters/prod/check/", follow=True)
    assert "Cluster prod: reachable" in r.content.decode()
    r = admin.post("/clusters/readonly/rename/", {"name": "prod"})
    assert r.status_code == 400 and "exists already" in r.content.decode()
    admin.post("/clusters/readonly/rename/", {"name": "staging"})
    assert Cluster.objects.filter(name="staging").exists()
    user = User.objects.get(username="boss")
    task = ProgressTask.objects.create(user=user, cluster_name="prod", action="label", total=1, status="running")
    r = admin.post("/clusters/prod/remove/")
    assert r.status_code == 400 and "pending or running" in r.content.decode()
    ProgressTask.objects.filter(pk=task.pk).update(status="succeeded")
    admin.post("/clusters/prod/remove/")
    assert not Cluster.objects.filter(name="prod").exists()


def test_clusters_are_managed_by_admins_only(client, cluster):
    _login(client, "op", "operator")
    assert client.get("/clusters/add/").status_code == 403
    assert client.post("/clusters/shared/check/").status_code == 403
    assert client.post("/clusters/shared/rename/", {"name": "x"}).status_code == 403
    assert client.post("/clusters/shared/remove/").status_code == 403
    assert Cluster.objects.filter(name="shared").exists()
    html = client.get("/clusters/").content.decode()
    assert "Add cluster" not in html and "Remove" not in html
    with pytest.raises(Exception, match="admins"):
        services.remove_cluster(User.objects.get(username="op"), Cluster.objects.get(name="shared"))


def test_navigation_breadcrumbs_admin_link_and_simulated_cluster(client, cluster):
    Cluster.objects.filter(pk=cluster.pk).update(simulated=True)
    services.check_cluster(cluster)
    _login(client, "viewer", "viewer")
    html = client.get("/clusters/").content.decode()
    assert ">Tasks</a>" in html and 'href="/admin/"' not in html
    assert "Simulated (kube_sim)" in html and "Uploaded kubeconfig" not in html and "never" not in html
    assert '<div class="breadcrumbs"><a href="/">Overview</a> › Clusters</div>' in html
    assert "theme-toggle" in html  # the admin's dark mode switch
    client.logout()
    _login(client, "staff", staff=True)
    html = client.get("/clusters/shared/nodes/").content.decode()
    assert 'href="/admin/">Admin</a>' in html
    assert '<a href="/clusters/">Clusters</a> › shared' in html


def test_favicon_is_served_without_login(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r["Content-Type"] == "image/x-icon"
    assert b"".join(r.streaming_content)[:4] == b"\x00\x00\x01\x00"
