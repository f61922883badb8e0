"""A simulator shared by a test module (read-mostly tests pick distinct nodes), and official-client helpers."""

import pytest

from tests.fixtures.kube import start_kube_sim


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory):
    sim = start_kube_sim(tmp_path_factory.mktemp("shared_sim"), nodes=30, seed=7)
    yield sim
    sim.stop()


@pytest.fixture
def cluster(shared_sim, db):
    from nodes.services import import_cluster

    return import_cluster("shared", shared_sim.kubeconfig_text, simulated=True)


def core_api(kubeconfig: str, context: str | None = None):
    """The official client's CoreV1Api, independent of kubenode's access layer (to verify effects)."""
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))
