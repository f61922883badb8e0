"""The kube_sim fixtures: kubeconfigs (admin and viewer; nobody alone), and a Cluster imported from a simulator."""

import yaml

from tests.sim.helpers import core


def test_kubeconfigs_hold_admin_and_viewer(kube_sim):
    sim = kube_sim(nodes=8)
    config = yaml.safe_load(open(sim.kubeconfig).read())
    assert config["current-context"] == "kubenode-sim"
    assert {c["name"] for c in config["contexts"]} == {"kubenode-sim", "viewer"}
    viewer = yaml.safe_load(open(sim.viewer_kubeconfig).read())
    assert [u["user"]["token"] for u in viewer["users"]] == [sim.viewer_token]
    assert len(core(sim, sim.viewer_token).list_node().items) == 8
    nobody = yaml.safe_load(open(sim.nobody_kubeconfig).read())
    assert nobody["current-context"] == "nobody"
    assert [u["user"]["token"] for u in nobody["users"]] == [sim.nobody_token]
    assert sim.nobody_token not in open(sim.kubeconfig).read()
    sim.stop()
    assert sim.process.poll() is not None


def test_sim_cluster_is_an_imported_simulated_cluster(sim_cluster):
    assert sim_cluster.simulated is True
    assert sim_cluster.server == sim_cluster.sim.url
    assert sim_cluster.kubeconfig_encrypted and sim_cluster.sim.admin_token not in sim_cluster.kubeconfig_encrypted
