"""Fixtures of the translation tests: compiled catalogues, a simulated cluster, one user per role and enough data
(a template, a finished batch with a failure, audit records, a cordoned node) for every page to show its words."""

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.kube import start_kube_sim

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues():
    """The .mo files, as `make test` compiles them (scripts/compile-messages.sh, Debian's msgfmt)."""
    subprocess.run([str(ROOT / "scripts" / "compile-messages.sh")], check=True)
    from django.utils.translation import trans_real

    trans_real._translations.clear()  # catalogues read before they were (re)compiled
    trans_real._default = None


@pytest.fixture(scope="module")
def i18n_sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("i18n_sim"), nodes=12, seed=17)
    yield sim
    sim.stop()


@pytest.fixture
def i18n_data(i18n_sim, db):
    """Cluster "demo" with data on every page; users viewer, operator and admin (staff)."""
    from django.utils.translation import gettext as _

    from nodes.models import LabelTaintTemplate
    from nodes.services import import_cluster, perform_node_action
    from progress.models import TaskStatus
    from tests.progress.helpers import make_task, make_user

    cluster = import_cluster("demo", i18n_sim.kubeconfig_text, simulated=True)
    users = {"viewer": make_user("viewer", role="viewer"), "operator": make_user("operator", role="operator"),
             "admin": make_user("admin", role="admin", staff=True)}
    template = LabelTaintTemplate.objects.create(name="gpu-pool", description="GPU nodes", labels={"pool": "gpu"},
                                                 remove_labels=["old"], taints=[{"key": "gpu", "value": "true",
                                                                                 "effect": "NoSchedule"}],
                                                 created_by="operator")
    from nodes import selectors

    names = sorted(n.name for n in selectors.cached_nodes(cluster))
    for node, action, params in ((names[0], "label", {"set": {"zone": "a"}}),
                                 (names[1], "cordon", {"reason": "disk check"})):
        outcome, entry = perform_node_action(cluster, node, action, params, user=users["operator"])
        assert outcome.ok, outcome.error
        entry.save()
    selectors.invalidate_nodes(cluster)
    task = make_task(users["operator"], nodes=3, status=TaskStatus.FAILED, owner="replica-a")
    task.cluster_name, task.nodes = "demo", names[:3]
    task.save(update_fields=["cluster_name", "nodes"])
    from django.utils import translation

    with translation.override("zh-hans"):  # as the worker writes a Chinese-speaking user's errors
        from nodes.kube.drain import _names

        error = _("drain of %(node)s stopped with %(count)s pod(s) pending: %(pods)s; node left cordoned") % {
            "node": names[1], "count": 1, "pods": _names(["default/web-1"])}
    from progress.writer import Event, flush_events

    flush_events(task.pk, [Event(type="progress", node=names[0], outcome="succeeded", ok=True),
                           Event(type="progress", node=names[1], outcome="failed", error=error, ok=False)])
    return {"cluster": cluster, "users": users, "template": template, "task": task, "names": names}
