"""What every notifier backend shares: the doorbell and the group it rings.

A doorbell says "task T of user U has rows up to seq S". It is rung only once those rows are committed
(rows first). When they fit in the payload (PostgreSQL's NOTIFY limit is 8,000 bytes) it also carries the
messages themselves, as the frames a read of the table would give, so a web process can send them without a
read; a consumer uses them only when they continue its cursor without a gap, and otherwise reads the table
from its cursor: a lost or oversized doorbell is repaired by that read, never by the payload.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

NOTIFY_PAYLOAD_LIMIT = 8000
MAX_CARRIED = 200  # messages a doorbell carries at most (they must also fit the payload limit)
PG_CHANNEL = "kubenode_progress"


def user_group(user_id: int) -> str:
    """The Channels group every WebSocket of one user joins."""
    return f"progress.user.{user_id}"


@dataclass(frozen=True)
class Doorbell:
    task: str
    user: int
    seq: int
    replica: str = ""
    rung_at: float = field(default_factory=time.time, compare=False)  # wall clock, for the latency histogram
    # the frames of the rows (seq up to `seq`, consecutive, in order) when known; dropped from a payload too large
    messages: tuple | None = field(default=None, compare=False)

    def payload(self) -> str:
        head = {"t": self.task, "u": self.user, "s": self.seq, "r": self.replica, "ts": round(self.rung_at, 4)}
        messages = self.carried()
        if messages:
            try:
                text = json.dumps({**head, "m": messages}, separators=(",", ":"))
            except (TypeError, ValueError):  # a detail JSON cannot encode: the read gives the rows
                text = ""
            if text and len(text.encode()) < NOTIFY_PAYLOAD_LIMIT:
                return text
        text = json.dumps(head, separators=(",", ":"))
        if len(text.encode()) >= NOTIFY_PAYLOAD_LIMIT:
            raise ValueError(f"doorbell payload of {len(text)} bytes exceeds the NOTIFY limit")
        return text

    def carried(self) -> list | None:
        """The messages this doorbell can carry: consecutive seqs ending at `seq`; None otherwise."""
        messages = self.messages
        if not messages or len(messages) > MAX_CARRIED:
            return None
        first = self.seq - len(messages) + 1
        if any(not isinstance(m, dict) or m.get("seq") != first + i for i, m in enumerate(messages)):
            return None
        return list(messages)

    @classmethod
    def parse(cls, payload: str) -> Doorbell:
        data = json.loads(payload)
        doorbell = cls(task=str(data["t"]), user=int(data["u"]), seq=int(data["s"]), replica=str(data.get("r", "")),
                       rung_at=float(data.get("ts") or time.time()))
        messages = data.get("m")
        if isinstance(messages, list) and messages:
            carried = cls(doorbell.task, doorbell.user, doorbell.seq, messages=tuple(messages)).carried()
            if carried and all(str(m.get("task")) == doorbell.task for m in carried):
                doorbell = cls(doorbell.task, doorbell.user, doorbell.seq, doorbell.replica, doorbell.rung_at,
                               messages=tuple(carried))
        return doorbell

    def group_message(self) -> dict:
        """The Channels message forwarded to the user's group, with the carried messages (serialized once per
        process by the first connection that sends them, into the message's "text")."""
        message = {"type": "progress.doorbell", "task": self.task, "user": self.user, "seq": self.seq,
                   "replica": self.replica, "ts": self.rung_at}
        messages = self.carried()
        if messages:
            message["first"] = messages[0]["seq"]
            message["messages"] = messages
        return message


def probe_payload(token: str, replica: str) -> str:
    """A self-probe: a payload only the listener that sent it waits for."""
    return json.dumps({"probe": token, "r": replica}, separators=(",", ":"))


def probe_token(payload: str) -> str | None:
    """The token of a self-probe payload, None for a doorbell."""
    if '"probe"' not in payload:
        return None
    try:
        return str(json.loads(payload).get("probe") or "") or None
    except ValueError:
        return None
