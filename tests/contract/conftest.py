"""Backends for the contract suite: the simulator and a real kube-apiserver, seeded the same way."""
import dataclasses
import uuid

import pytest

from tests.contract.harness import Harness
from tests.fixtures.kube import start_kube_sim


@dataclasses.dataclass
class Backend:
    name: str
    url: str
    kubeconfig: str
    viewer_kubeconfig: str
    nobody_kubeconfig: str
    admin: Harness
    viewer: Harness
    nobody: Harness


@pytest.fixture(scope="session")
def _sim_server(tmp_path_factory):
    """One simulator for the session (default discovery: Eviction as policy/v1). Its kubelet keeps terminating
    pods for their whole grace period, so the harness finishes them on both backends alike."""
    sim = start_kube_sim(tmp_path_factory.mktemp("contract-sim"), nodes=1, grace_cap=3600)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def _sim_1_20_server(tmp_path_factory):
    """A simulator mimicking Kubernetes 1.20's policy group (only v1beta1)."""
    sim = start_kube_sim(tmp_path_factory.mktemp("contract-sim-1.20"), nodes=1, grace_cap=3600,
                         eviction_version="v1beta1")
    try:
        yield sim
    finally:
        sim.stop()


SERVERS = {"simulator": "_sim_server", "simulator-1.20": "_sim_1_20_server", "kube-apiserver": "real_apiserver"}


@pytest.fixture(params=["simulator", "kube-apiserver"])
def backend(request):
    yield from _backend(request)


@pytest.fixture(params=["simulator-1.20", "kube-apiserver"])
def backend_1_20(request):
    """For what only Kubernetes 1.20 does: the real server and the simulator started to mimic it."""
    yield from _backend(request)


def _backend(request):
    server = request.getfixturevalue(SERVERS[request.param])
    admin = Harness(server.url, server.admin_token)
    viewer = Harness(server.url, server.viewer_token)
    nobody = Harness(server.url, server.nobody_token)
    admin.start_finalizer()
    try:
        yield Backend(request.param, server.url, server.kubeconfig, server.viewer_kubeconfig,
                      server.nobody_kubeconfig, admin, viewer, nobody)
    finally:
        admin.stop()


@pytest.fixture
def unique():
    """A name prefix unique to the test, so tests share one server without colliding."""
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture(params=["kube-apiserver"])
def real_backend(request):
    """The real kube-apiserver alone: for what only real RBAC can show (roles bound to service accounts)."""
    yield from _backend(request)
