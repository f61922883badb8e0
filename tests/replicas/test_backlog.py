"""The delivery backlog, scraped from a real replica: doorbells keep arriving (through Redis) while the replica's
reads of the table hang, so they queue for its WebSocket; /metrics still answers and shows them."""

import time

import pytest

from nodes.selectors import list_nodes
from tests.progress.test_live_daphne import Browserless, open_ws, recv

from .conftest import scrape, start_batch, wait_for_notifier
from .tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_backlog_grows_while_the_replicas_reads_hang(small_cluster, daphne_replicas, worker_processes, redis_addr,
                                                    test_database_env):
    proxy = TcpProxy((test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))).start()
    try:
        env = {"PROGRESS_NOTIFY_TYPE": "redis", "PROGRESS_REDIS_ADDR": redis_addr}
        a = daphne_replicas("A", DB_PORT=str(proxy.port), **env)  # A reaches the database through the proxy
        b = daphne_replicas("B", **env)
        # doorbells without their messages: each one needs a read of the table (a doorbell carrying its messages
        # is sent without one, so a hung database would not hold it up)
        worker_processes("worker", PROGRESS_CARRY_MESSAGES="false", **env)
        for replica in (a, b):
            wait_for_notifier(replica, lambda s: s.get("verified"))
        ws = open_ws(a, Browserless(a.http_url).login("ann", "secret-pw"))
        assert recv(ws)["type"] == "snapshot"
        assert scrape(a)["kubenode_delivery_backlog"] == 0
        on_b = Browserless(b.http_url)
        on_b.login("ann", "secret-pw")

        proxy.hang()  # A's database hangs: its WebSocket's first read never returns
        start_batch(on_b, small_cluster, sorted(n.name for n in list_nodes(small_cluster)), concurrency=4)
        deadline = time.monotonic() + 60
        backlog = 0
        while backlog < 5 and time.monotonic() < deadline:
            backlog = scrape(a)["kubenode_delivery_backlog"]  # /metrics answers: no read of it waits on the DB
            time.sleep(0.2)
        assert backlog >= 5
        assert scrape(a)['kubenode_doorbells_received_total{backend="redis"}'] >= backlog
        ws.close()
    finally:
        proxy.stop()
