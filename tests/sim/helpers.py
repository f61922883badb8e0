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


def raw(sim, method: str, path: str, body=None, content_type="application/json", token=None):
    """One plain HTTP request; returns (status code, decoded JSON body)."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(sim.url + path, data=data, method=method, headers={
        "Content-Type": content_type, "Accept": "application/json",
        "Authorization": "Bearer " + (token or sim.admin_token)})
    context = ssl.create_default_context(cafile=sim.ca_cert) if sim.ca_cert else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
