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


def _frames(first: int, last: int, task: str = "t-1", node_bytes: int = 10) -> tuple:
    return tuple({"task": task, "seq": s, "type": "progress", "node": "n" * node_bytes} for s in range(first, last + 1))


def test_a_doorbell_carries_its_messages_when_they_fit_and_only_then():
    bell = Doorbell(task="t-1", user=7, seq=5, replica="w", messages=_frames(3, 5))
    again = Doorbell.parse(bell.payload())
    assert [m["seq"] for m in again.messages] == [3, 4, 5]
    message = again.group_message()
    assert message["first"] == 3 and [m["seq"] for m in message["messages"]] == [3, 4, 5]
    # too large for a NOTIFY payload: the doorbell alone (the web process reads the rows)
    big = Doorbell(task="t-1", user=7, seq=40, messages=_frames(1, 40, node_bytes=300))
    payload = big.payload()
    assert len(payload.encode()) < NOTIFY_PAYLOAD_LIMIT
    assert Doorbell.parse(payload).messages is None and "messages" not in Doorbell.parse(payload).group_message()
    # messages that do not end at the doorbell's seq, skip a seq, or name another task are never carried
    assert Doorbell(task="t-1", user=7, seq=6, messages=_frames(3, 5)).carried() is None
    assert Doorbell(task="t-1", user=7, seq=5, messages=_frames(1, 2) + _frames(4, 5)).carried() is None
    forged = Doorbell(task="t-2", user=7, seq=5, messages=_frames(3, 5)).payload()
    assert Doorbell.parse(forged).messages is None
