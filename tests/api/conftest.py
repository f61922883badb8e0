"""The site the API tests run against: a daphne process, a worker process, the simulated cluster, users of each
role with tokens of each scope."""

import pytest

from tests.api.helpers import call
from tests.fixtures.browser import browser_user
from tests.fixtures.kube import start_kube_sim


@pytest.fixture(scope="module")
def api_sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("api_sim"), nodes=12, seed=3)
    yield sim
    sim.stop()


class Site:
    def __init__(self, url, cluster, tokens, users):
        self.url, self.cluster, self.tokens, self.users = url, cluster, tokens, users

    def call(self, method, path, who=None, body=None):
        return call(self.url, method, path, self.tokens.get(who) if who else None, body)


@pytest.fixture
def site(api_sim, daphne_replicas, worker_processes, collected_static_dir):
    from api.tokens import create_token
    from nodes.roles import ensure_groups
    from nodes.services import import_cluster

    ensure_groups()
    cluster = import_cluster("sim", api_sim.kubeconfig_text, simulated=True)
    users = {"viewer": browser_user("vera", "viewer"), "viewer2": browser_user("vic", "viewer"),
             "operator": browser_user("otto", "operator"), "admin": browser_user("ada", "admin")}
    users["admin"].is_staff = True  # staff see every batch
    users["admin"].save()
    tokens = {}
    for role in ("viewer", "operator", "admin"):
        tokens[f"{role}-read"] = create_token(users[role], f"{role}-read", "read")[1]
        tokens[f"{role}-acts"] = create_token(users[role], f"{role}-acts", "actions")[1]
    tokens["viewer2-read"] = create_token(users["viewer2"], "other", "read")[1]
    replica = daphne_replicas("web", KUBENODE_DATA_DIR=collected_static_dir, PROGRESS_NOTIFY_TYPE="postgres")
    worker_processes("worker")
    return Site(replica.http_url, cluster, tokens, users)
