"""Label/taint templates pages, the node list cache, and previews of large selections (Django test client against
the simulator)."""
import pytest
from django.contrib.auth.models import Group, User

from nodes import action_views, selectors, services
from nodes.models import AuditEntry, LabelTaintTemplate
from progress.models import ProgressTask

pytestmark = pytest.mark.django_db


def _login(client, name, group):
    u = User.objects.create_user(name, password="pw")
    u.groups.add(Group.objects.get(name=group))
    client.force_login(u)
    return client


def test_viewer_may_not_manage_templates(client, db):
    _login(client, "v", "viewer")
    t = LabelTaintTemplate.objects.create(name="keep", labels={"a": "b"})
    assert client.get("/templates/").status_code == 403
    assert client.post("/templates/add/", {"name": "x", "labels_text": "a=b"}).status_code == 403
    assert client.post(f"/templates/{t.pk}/delete/").status_code == 403
    assert LabelTaintTemplate.objects.count() == 1
    assert b"/templates/" not in client.get("/audit/").content  # no navigation link either


def test_operator_creates_edits_and_deletes_a_template(client, db):
    _login(client, "op", "operator")
    r = client.post("/templates/add/", {"name": "gpu-pool", "description": "GPU nodes",
                                        "labels_text": "pool=gpu, team=ml", "remove_text": "old",
                                        "taints_text": "gpu=true:NoSchedule, dedicated:PreferNoSchedule"})
    assert r.status_code == 302
    t = LabelTaintTemplate.objects.get(name="gpu-pool")
    assert t.labels == {"pool": "gpu", "team": "ml"} and t.remove_labels == ["old"] and t.created_by == "op"
    assert t.taints == [{"key": "gpu", "value": "true", "effect": "NoSchedule"},
                        {"key": "dedicated", "effect": "PreferNoSchedule"}]
    page = client.get("/templates/").content.decode()
    assert "gpu-pool" in page and "pool=gpu" in page and "gpu=true:NoSchedule" in page
    form = client.get(f"/templates/{t.pk}/").content.decode()
    assert "pool=gpu, team=ml" in form and "gpu=true:NoSchedule, dedicated:PreferNoSchedule" in form
    r = client.post(f"/templates/{t.pk}/", {"name": "gpu-pool", "labels_text": "pool=gpu2"})
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.labels == {"pool": "gpu2"} and t.taints == [] and t.remove_labels == []
    r = client.post(f"/templates/{t.pk}/delete/")
    assert r.status_code == 302 and not LabelTaintTemplate.objects.exists()


@pytest.mark.parametrize("data, message", [
    ({"name": "t", "taints_text": "gpu=true:Sometimes"}, "invalid effect &#x27;Sometimes&#x27;"),
    ({"name": "t", "labels_text": "bad key!=v"}, "invalid label key"),
    ({"name": "t", "labels_text": "novalue"}, "expected key=value"),
    ({"name": "t"}, "at least one label"),
    ({"name": "t", "taints_text": "a:NoSchedule, a=b:NoSchedule"}, "is given twice"),
])
def test_template_form_refuses_bad_input(client, db, data, message):
    _login(client, "op", "operator")
    r = client.post("/templates/add/", data)
    assert r.status_code == 400 and message in r.content.decode()
    assert not LabelTaintTemplate.objects.exists()


def test_template_applied_as_taint_and_taken_off_as_untaint(client, cluster):
    _login(client, "op", "operator")
    t = LabelTaintTemplate.objects.create(name="dedicated", taints=[{"key": "dedicated", "value": "db",
                                                                      "effect": "NoSchedule"}])
    page = client.get("/clusters/shared/nodes/").content.decode()
    assert f'<option value="{t.pk}">dedicated</option>' in page and 'href="/templates/"' in page
    r = client.post("/clusters/shared/nodes/action/", {"action": "taint", "node": ["worker-0021"],
                                                       "template": str(t.pk)})
    assert r.status_code == 200
    assert r.context["diff"][0]["changes"] == [("taint dedicated:NoSchedule", None, "dedicated=db:NoSchedule")]
    services.run_node_action(cluster, "worker-0021", "taint", r.context["params"], user="op")
    r = client.post("/clusters/shared/nodes/action/", {"action": "untaint", "node": ["worker-0021"],
                                                       "template": str(t.pk)})
    assert r.context["diff"][0]["changes"] == [("taint dedicated:NoSchedule", "dedicated=db:NoSchedule", None)]
    r = client.post("/clusters/shared/nodes/action/", {"action": "untaint", "node": ["worker-0022"],
                                                       "template": str(t.pk)})
    assert "not on this node" in r.context["diff"][0]["warnings"][0]


def test_node_list_cache_is_refreshed_by_a_mutation(cluster):
    first = selectors.cached_nodes(cluster)
    assert selectors.cached_nodes(cluster) is first  # served from the cache
    services.run_node_action(cluster, "worker-0023", "label", {"set": {"cache-test": "yes"}}, user="t")
    fresh = selectors.cached_nodes(cluster)
    assert fresh is not first
    assert next(n for n in fresh if n.name == "worker-0023").labels["cache-test"] == "yes"
    # a mutation by another process is seen, right after its AuditEntry is written
    assert selectors.cached_nodes(cluster) is fresh
    from nodes.kube import client as kube_client
    from nodes.kube import nodes as node_ops

    node_ops.change_labels(kube_client.for_cluster(cluster), "worker-0023", {"cache-test": "other"}, [])
    AuditEntry.objects.create(username="other", cluster_name="shared", node="worker-0023", action="label",
                              outcome="succeeded")
    seen = selectors.cached_nodes(cluster)
    assert seen is not fresh
    assert next(n for n in seen if n.name == "worker-0023").labels["cache-test"] == "other"


def test_large_selection_preview_is_capped_and_says_so_and_runs_on_all(client, cluster, monkeypatch):
    monkeypatch.setattr(action_views, "PREVIEW_LIMIT", 10)  # 30 simulated nodes stand for 5,000
    _login(client, "boss", "admin")
    for action, extra in (("label", {"set": "zone=z9"}), ("drain", {"timeout": "5"}),
                          ("cordon", {"reason": "r"})):
        r = client.post("/clusters/shared/nodes/action/", {"action": action, "select_all": "on", **extra})
        assert r.status_code == 200 and r.context["count"] == 30
        rows = r.context.get("diff") or r.context.get("plan")
        assert len(rows) == 10
        assert "Showing 10 of 30 nodes in this preview; the action applies to all 30." in r.content.decode()
    targets = r.context["targets_text"]
    assert len(targets.split(",")) == 30
    r = client.post("/clusters/shared/nodes/action/", {"action": "cordon", "reason": "r", "targets": targets,
                                                       "select_all": "on", "confirm": "yes", "concurrency": "3"})
    assert r.status_code == 302
    task = ProgressTask.objects.get()
    assert task.total == 30 and task.nodes == targets.split(",")


def test_confirm_with_an_unknown_target_is_refused(client, cluster):
    _login(client, "op", "operator")
    r = client.post("/clusters/shared/nodes/action/", {"action": "cordon", "targets": "worker-0001,nope-1",
                                                       "confirm": "yes"})
    assert r.status_code == 400 and "unknown" in r.context["error"]
    assert not ProgressTask.objects.exists()


def test_node_list_sorted_by_age_renders_chips_and_links(client, cluster):
    _login(client, "v", "viewer")
    r = client.get("/clusters/shared/nodes/", {"sort": "age"})
    assert r.status_code == 200 and len(r.context["page"].object_list) == 30
    assert 'class="kn-chip"' in r.content.decode() and 'href="/clusters/shared/nodes/worker-0001/"' in \
        r.content.decode()
