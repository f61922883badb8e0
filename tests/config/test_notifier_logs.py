"""The notifier's log lines: levels an alert can key on, and the words kube-node-manager's runbooks grep for."""

import json
import time

import pytest

from tests.fixtures.services import free_port
from tests.replicas.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def records(replica) -> list[dict]:
    out = []
    for line in replica.log().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def wait_for_record(replica, text: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in records(replica):
            if text in record["message"]:
                return record
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never logged:\n{replica.log()[-3000:]}")


def test_cannot_connect_is_error_fallback_is_warning_recovery_is_info(daphne_replicas, test_database_env):
    real = (test_database_env["DB_HOST"], int(test_database_env["DB_PORT"]))
    port = free_port()  # nothing listens here yet
    replica = daphne_replicas("logs", DB_PORT=str(port), PROGRESS_NOTIFY_TYPE="postgres", LOG_FORMAT="json",
                              DB_PASSWORD="pw-never-logged")
    broken = wait_for_record(replica, "listener is not working")
    assert broken["level"] == "ERROR"
    assert f"host:port:      {real[0]}:{port}" in broken["message"] and "password set:   yes" in broken["message"]
    fallback = wait_for_record(replica, "falling back to polling")
    assert fallback["level"] == "WARNING"
    assert "requested postgres, effective polling (fallback): PostgreSQL notifier failed" in fallback["message"]
    assert "listener connected" not in replica.log()

    proxy = TcpProxy(real, port=port).start()  # the database becomes reachable
    try:
        recovered = wait_for_record(replica, "recovered: switching back from polling to postgres")
    finally:
        proxy.stop()
    assert recovered["level"] == "INFO"
    assert "PostgreSQL listener connected and verified successfully" in recovered["message"]
    assert "pw-never-logged" not in replica.log()


def test_the_healthy_and_the_polling_start_up_lines(daphne_replicas):
    pg = daphne_replicas("words-pg", PROGRESS_NOTIFY_TYPE="postgres")
    polling = daphne_replicas("words-poll", PROGRESS_NOTIFY_TYPE="polling")
    from tests.replicas.conftest import wait_for_log

    log = wait_for_log(pg, r"PostgreSQL listener connected, PostgreSQL notifier verified successfully")
    assert "Using PostgreSQL LISTEN/NOTIFY for real-time progress updates" in log
    assert "falling back to polling" not in log and " ERROR " not in log and " WARNING " not in log
    log = wait_for_log(polling, r"Using polling mode for progress updates \(configured mode\)")
    assert " ERROR " not in log


def test_each_notification_sent_is_logged_at_debug(caplog):
    import logging
    import uuid

    from django.db import transaction

    from progress.notify.base import Doorbell
    from progress.notify.postgres import PostgresNotifier

    task = str(uuid.uuid4())
    with caplog.at_level(logging.DEBUG, logger="kubenode.progress.notify"), transaction.atomic():
        PostgresNotifier(replica="logs").ring(Doorbell(task=task, user=1, seq=7, replica="logs"))
    sent = [r for r in caplog.records if "Sending PostgreSQL notification" in r.getMessage()]
    assert len(sent) == 1 and sent[0].levelno == logging.DEBUG
    assert f"task={task} seq=7" in sent[0].getMessage()
