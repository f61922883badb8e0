from kubenode import metrics


def test_metrics_endpoint_needs_no_login_and_lists_every_metric(client):
    metrics.doorbell_sent("memory")
    metrics.kube_api_error(409)
    response = client.get("/metrics")
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("kubenode_doorbells_sent_total", "kubenode_doorbells_received_total",
                 "kubenode_notify_failures_total", "kubenode_notifier_fallback_active",
                 "kubenode_listener_connected", "kubenode_listener_reconnects_total",
                 "kubenode_delivery_latency_seconds", "kubenode_nodes_processed_total",
                 "kubenode_kube_api_errors_total"):
        assert name in body
    assert 'kubenode_kube_api_errors_total{code="409"}' in body
