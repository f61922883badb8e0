"""Official-client helpers for the simulator tests."""

import kubernetes


def client_for(sim, token=None):
    config = kubernetes.client.Configuration()
    config.host = sim.url
    config.api_key = {"authorization": "Bearer " + (token or sim.admin_token)}
    if sim.ca_cert:
        config.ssl_ca_cert = sim.ca_cert
    return kubernetes.client.ApiClient(config)


def core(sim, token=None):
    return kubernetes.client.CoreV1Api(client_for(sim, token))
