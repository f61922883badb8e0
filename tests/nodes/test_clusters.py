"""Cluster import (encrypted at rest), checks, and the cluster_import / cluster_check / demo_cluster commands."""

import json
import subprocess
import sys

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from nodes import crypto, services
from nodes.models import Cluster
from tests.fixtures.services import free_port

pytestmark = pytest.mark.django_db


def test_kubeconfig_is_encrypted_at_rest(shared_sim):
    cluster = services.import_cluster("enc", shared_sim.kubeconfig_text, simulated=True)
    with connection.cursor() as cur:
        cur.execute("SELECT kubeconfig_encrypted FROM nodes_cluster WHERE id = %s", [cluster.pk])
        raw = cur.fetchone()[0]
    assert shared_sim.admin_token not in raw
    assert shared_sim.url not in raw and "127.0.0.1" not in raw
    assert crypto.decrypt(raw) == shared_sim.kubeconfig_text
    assert cluster.server == shared_sim.url
    assert cluster.context == "kubenode-sim"


def test_other_secret_key_cannot_decrypt(shared_sim, settings):
    token = crypto.encrypt("secret text")
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    with pytest.raises(crypto.DecryptionError) as err:
        crypto.decrypt(token)
    assert "secret text" not in str(err.value)


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("a: [b", "not valid YAML"),
    ("apiVersion: v1\nkind: Config\n", "no contexts"),
])
def test_import_rejects_bad_kubeconfigs(text, message):
    with pytest.raises(ValidationError) as err:
        services.import_cluster("bad", text)
    assert message in err.value.messages[0]
    assert not Cluster.objects.filter(name="bad").exists()


def test_import_rejects_unknown_context_without_leaking(shared_sim):
    with pytest.raises(ValidationError) as err:
        services.import_cluster("bad", shared_sim.kubeconfig_text, context="nope")
    message = err.value.messages[0]
    assert "context 'nope' not found" in message and "kubenode-sim" in message and "viewer" in message
    assert shared_sim.admin_token not in message
    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    doc["contexts"][0]["context"]["cluster"] = "missing"
    with pytest.raises(ValidationError, match="refers to cluster 'missing'"):
        services.import_cluster("bad", yaml.safe_dump(doc))
    assert not Cluster.objects.filter(name="bad").exists()


def test_reimport_updates_the_same_row(shared_sim):
    first = services.import_cluster("same", shared_sim.kubeconfig_text)
    second = services.import_cluster("same", shared_sim.kubeconfig_text, context="viewer")
    assert first.pk == second.pk and second.context == "viewer"


def test_check_admin_viewer_bad_token_and_unreachable(shared_sim):
    admin = services.import_cluster("admin", shared_sim.kubeconfig_text)
    result = services.check_cluster(admin)
    assert result.ok and result.reachable and result.authenticated
    assert (result.can_patch_nodes, result.can_evict_pods, result.can_list_nodes) == ("yes", "yes", "yes")
    assert result.server_version.startswith("v1.")
    admin.refresh_from_db()
    assert admin.last_check_ok is True and admin.last_check_at and "patch nodes: yes" in admin.last_check_message

    viewer = services.import_cluster("viewer", shared_sim.kubeconfig_text, context="viewer")
    result = services.check_cluster(viewer)
    assert result.ok  # may read
    assert (result.can_patch_nodes, result.can_evict_pods) == ("no", "no")

    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    doc["users"][0]["user"]["token"] = "not-a-valid-token"
    bad = services.import_cluster("badtoken", yaml.safe_dump(doc))
    result = services.check_cluster(bad)
    assert not result.ok and result.reachable and result.authenticated is False
    assert "HTTP 401" in result.error and "not-a-valid-token" not in result.message
    bad.refresh_from_db()
    assert bad.last_check_ok is False

    doc = yaml.safe_load(shared_sim.kubeconfig_text)
    doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"
    gone = services.import_cluster("gone", yaml.safe_dump(doc))
    result = services.check_cluster(gone)
    assert not result.ok and not result.reachable
    assert "cannot reach the API server" in result.error and "connection refused" in result.error
    assert shared_sim.admin_token not in result.message


def test_cluster_import_command_and_all_contexts(shared_sim, capsys):
    call_command("cluster_import", shared_sim.kubeconfig, "--name", "Prod East")
    assert Cluster.objects.get(name="prod-east").context == "kubenode-sim"
    call_command("cluster_import", shared_sim.kubeconfig, "--all-contexts")
    assert {"kubenode-sim", "viewer"} <= set(Cluster.objects.values_list("name", flat=True))
    out = capsys.readouterr().out
    assert "imported cluster viewer" in out and shared_sim.admin_token not in out
    with pytest.raises(CommandError, match="context 'x' not found"):
        call_command("cluster_import", shared_sim.kubeconfig, "--context", "x")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("cluster_import", "/nonexistent/kubeconfig")


def test_cluster_check_command_json(shared_sim, capsys):
    services.import_cluster("checked", shared_sim.kubeconfig_text)
    call_command("cluster_check", "checked", "--json")
    data = json.loads(capsys.readouterr().out.strip())
    assert data["ok"] and data["can_patch_nodes"] == "yes" and data["node_count"] == 30
    with pytest.raises(CommandError, match="no cluster named"):
        call_command("cluster_check", "nope")


def test_demo_cluster_command(shared_sim, tmp_path):
    # --check-needed: 0 while only simulated clusters exist, 1 once a real one is configured
    def check_needed():
        with pytest.raises(SystemExit) as exc:
            call_command("demo_cluster", "--check-needed")
            raise SystemExit(0)
        return exc.value.code or 0

    assert check_needed() == 0
    call_command("demo_cluster", "--kubeconfig", shared_sim.kubeconfig, "--wait", "5")
    demo = Cluster.objects.get(name="demo")
    assert demo.simulated and demo.server == shared_sim.url
    assert demo.last_check_ok and demo.last_check_at is not None and "reachable" in demo.last_check_message
    assert check_needed() == 0
    services.import_cluster("real", shared_sim.kubeconfig_text)
    assert check_needed() == 1
    with pytest.raises(CommandError, match="did not answer within"):
        call_command("demo_cluster", "--kubeconfig", str(tmp_path / "never-written"), "--wait", "0.3")


def test_kubernetes_imported_lazily():
    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings'); django.setup(); " \
           "import nodes.services, nodes.selectors, nodes.admin, sys; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
