"""The doorbell payload: small, parseable, and refused when it would exceed PostgreSQL's NOTIFY limit."""

import pytest

from progress.notify.base import NOTIFY_PAYLOAD_LIMIT, Doorbell, probe_payload, probe_token


def test_doorbell_round_trips_and_stays_small():
    bell = Doorbell(task="8b0f8a4e-0000-4000-8000-000000000001", user=42, seq=123456, replica="kubenode-2")
    payload = bell.payload()
    assert len(payload.encode()) < 200
    again = Doorbell.parse(payload)
    assert (again.task, again.user, again.seq, again.replica) == (bell.task, 42, 123456, "kubenode-2")
    assert probe_token(payload) is None


def test_payload_over_the_notify_limit_is_refused():
    with pytest.raises(ValueError, match="exceeds the NOTIFY limit"):
        Doorbell(task="t", user=1, seq=1, replica="r" * NOTIFY_PAYLOAD_LIMIT).payload()


def test_probe_payloads_are_told_apart():
    assert probe_token(probe_payload("abc123", "kubenode-0")) == "abc123"
    assert probe_token('{"probe": not json') is None
