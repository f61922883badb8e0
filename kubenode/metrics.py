"""Every Prometheus metric of kubenode, declared in one place, with small helpers to call.

Each daphne process serves its own metrics at /metrics (delivery, listener); each worker process serves its own on
its health port (tasks, node operations, Kubernetes API errors, flushes). Every pod is scraped on its own.
The view needs no login (Prometheus scrapes without a session) and exposes counts only,
never names of users, nodes or secrets.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

DOORBELLS_SENT = Counter("kubenode_doorbells_sent_total", "Doorbells rung by the writer.", ["backend"])
DOORBELLS_RECEIVED = Counter("kubenode_doorbells_received_total", "Doorbells received by a listener.", ["backend"])
NOTIFY_FAILURES = Counter("kubenode_notify_failures_total", "Doorbells that could not be rung.", ["backend"])
FALLBACK_ACTIVE = Gauge("kubenode_notifier_fallback_active", "1 when the notifier fell back to polling.")
LISTENER_CONNECTED = Gauge("kubenode_listener_connected", "1 while the doorbell listener is connected.")
LISTENER_RECONNECTS = Counter("kubenode_listener_reconnects_total", "Reconnections of the doorbell listener.")
DELIVERY_LATENCY = Histogram(
    "kubenode_delivery_latency_seconds", "Row commit to WebSocket push.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS = Counter("kubenode_tasks_total", "Batches that reached a status.", ["status"])
TASKS_RUNNING = Gauge("kubenode_tasks_running", "Batches this worker process is running nodes of.")
NODES_PROCESSED = Counter("kubenode_nodes_processed_total", "Node operations finished.", ["action", "outcome"])
KUBE_API_ERRORS = Counter("kubenode_kube_api_errors_total", "Kubernetes API errors by HTTP status.", ["code"])
FLUSH_FAILURES = Counter("kubenode_flush_failures_total",
                         "Result flushes whose transaction failed (the results stay queued and are retried).")
WORKER_IN_FLIGHT = Gauge("kubenode_worker_node_operations_in_flight", "Node operations running in this worker.")
WORKER_WAKEUPS = Counter("kubenode_worker_wakeups_total",
                         "Times a worker looked for queued work, by what woke it (doorbell, poll, local).",
                         ["source"])
WORKER_CLAIMS = Counter("kubenode_worker_claimed_targets_total", "Targets (nodes) this worker claimed.")
WORKER_HANDED_BACK = Counter("kubenode_worker_handed_back_targets_total",
                             "Claimed targets this worker gave back unfinished (shutdown, cancel).")
WORKER_TAKEOVERS = Counter("kubenode_worker_takeovers_total",
                           "Targets of dead workers (lease expired) put back in the queue by this worker.")
DOORBELLS_FORWARDED = Counter("kubenode_doorbells_forwarded_total",
                              "Doorbells a standalone listener sent to the web processes' shared channel layer.",
                              ["outcome"])
LISTENER_LAYER_OK = Gauge("kubenode_listener_layer_ok",
                          "1 while a standalone listener reaches the shared channel layer (Redis).")
DELIVERY_BACKLOG = Gauge("kubenode_delivery_backlog",
                         "Messages queued in this process's channel layer, not yet taken by a WebSocket consumer.")


_backlog_sources: list = []


def add_backlog_source(count) -> None:
    """Register a callable returning how many doorbells or messages wait in this process for a WebSocket."""
    _backlog_sources.append(count)


def _delivery_backlog() -> int:
    """Read at scrape time: the in-process channel layer's queued messages (0 with a shared Redis layer,
    whose queues live in Redis, or before any layer was built), plus what the registered sources count
    (the doorbells waiting for a connection that is busy, progress.notify.hub)."""
    total = 0
    try:
        from channels.layers import channel_layers

        layer = channel_layers.backends.get("default")
        queues = getattr(layer, "channels", None)
        if isinstance(queues, dict):
            total += sum(q.qsize() for q in list(queues.values()) if hasattr(q, "qsize"))
        for count in list(_backlog_sources):
            total += int(count())
    except Exception:  # noqa: BLE001 - a metric never breaks a scrape
        pass
    return total


DELIVERY_BACKLOG.set_function(_delivery_backlog)


def doorbell_sent(backend: str) -> None:
    DOORBELLS_SENT.labels(backend=backend).inc()


def doorbell_received(backend: str) -> None:
    DOORBELLS_RECEIVED.labels(backend=backend).inc()


def doorbell_forwarded(ok: bool) -> None:
    DOORBELLS_FORWARDED.labels(outcome="ok" if ok else "failed").inc()


def set_listener_layer_ok(ok: bool) -> None:
    LISTENER_LAYER_OK.set(1 if ok else 0)


def notify_failed(backend: str) -> None:
    NOTIFY_FAILURES.labels(backend=backend).inc()


def set_fallback_active(active: bool) -> None:
    FALLBACK_ACTIVE.set(1 if active else 0)


def set_listener_connected(connected: bool) -> None:
    LISTENER_CONNECTED.set(1 if connected else 0)


def listener_reconnected() -> None:
    LISTENER_RECONNECTS.inc()


def observe_delivery_latency(seconds: float) -> None:
    DELIVERY_LATENCY.observe(max(0.0, seconds))


def task_finished(status: str) -> None:
    TASKS.labels(status=status).inc()


def node_processed(action: str, ok: bool) -> None:
    NODES_PROCESSED.labels(action=action, outcome="ok" if ok else "failed").inc()


def kube_api_error(code) -> None:
    KUBE_API_ERRORS.labels(code=str(code or "none")).inc()


def set_tasks_running(count: int) -> None:
    TASKS_RUNNING.set(count)


def flush_failed() -> None:
    FLUSH_FAILURES.inc()


def set_worker_in_flight(count: int) -> None:
    WORKER_IN_FLIGHT.set(count)


def worker_woken(source: str) -> None:
    WORKER_WAKEUPS.labels(source=source).inc()


def targets_claimed(count: int) -> None:
    WORKER_CLAIMS.inc(count)


def targets_handed_back(count: int) -> None:
    WORKER_HANDED_BACK.inc(count)


def targets_taken_over(count: int) -> None:
    WORKER_TAKEOVERS.inc(count)


@never_cache
@login_not_required
def metrics_view(request):
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)


NODE_WATCHES = Gauge("kubenode_node_watches", "Kubernetes node watches open in this process (one per cluster).")
NODE_WATCHES_STARTED = Counter("kubenode_node_watches_started_total", "Node watches started in this process.")


def node_watch_started() -> None:
    NODE_WATCHES.inc()
    NODE_WATCHES_STARTED.inc()


def node_watch_stopped() -> None:
    NODE_WATCHES.dec()
