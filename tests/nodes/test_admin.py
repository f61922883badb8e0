"""The admin never shows a kubeconfig; it checks connectivity; the audit trail is read-only."""

import pytest
from django.contrib.auth import get_user_model

from nodes import services
from nodes.models import AuditEntry, Cluster

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def test_cluster_admin_hides_kubeconfig_and_checks(admin_client, shared_sim):
    cluster = services.import_cluster("adm", shared_sim.kubeconfig_text)
    for url in ("/admin/nodes/cluster/", f"/admin/nodes/cluster/{cluster.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert "adm" in page
        assert shared_sim.admin_token not in page and cluster.kubeconfig_encrypted not in page
        assert "kubeconfig_encrypted" not in page
    response = admin_client.post("/admin/nodes/cluster/", {"action": "check_connectivity",
                                                           "_selected_action": [cluster.pk]}, follow=True)
    assert "patch nodes: yes" in response.content.decode()
    assert Cluster.objects.get(pk=cluster.pk).last_check_ok is True
    assert admin_client.get("/admin/nodes/cluster/add/").status_code == 403


def test_audit_admin_is_read_only(admin_client, cluster):
    services.run_node_action(cluster, "worker-0011", "label", {"set": {"x": "y"}}, user=None)
    entry = AuditEntry.objects.get(node="worker-0011")
    page = admin_client.get("/admin/nodes/auditentry/?outcome=succeeded&action=label").content.decode()
    assert "worker-0011" in page
    change = admin_client.get(f"/admin/nodes/auditentry/{entry.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert admin_client.post(f"/admin/nodes/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/nodes/auditentry/add/").status_code == 403
