"""A kubeconfig with insecure-skip-tls-verify: it works, and says so once in the log instead of on every request."""

import logging
import warnings

import pytest
import yaml

from nodes import services
from nodes.selectors import list_nodes

pytestmark = pytest.mark.django_db


def test_insecure_kubeconfig_warns_once_in_the_log(kube_sim, caplog):
    sim = kube_sim(nodes=5, tls=True)
    doc = yaml.safe_load(sim.kubeconfig_text)
    for entry in doc["clusters"]:
        entry["cluster"].pop("certificate-authority-data", None)
        entry["cluster"]["insecure-skip-tls-verify"] = True
    cluster = services.import_cluster("insecure", yaml.safe_dump(doc))
    with warnings.catch_warnings(record=True) as raised, caplog.at_level(logging.WARNING, logger="kubenode.kube"):
        warnings.simplefilter("always")
        assert services.check_cluster(cluster).ok
        assert len(list_nodes(cluster)) == 5
    assert not [w for w in raised if "Unverified HTTPS request" in str(w.message)]
    said = [r.getMessage() for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert said == [f"TLS certificate verification is disabled by the kubeconfig for {sim.url} "
                    "(insecure-skip-tls-verify)"]
