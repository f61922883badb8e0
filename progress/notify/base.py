"""What every notifier backend shares: the doorbell and the group it rings.

A doorbell says only "task T of user U has rows up to seq S"; the rows themselves are
read from the table, so a lost doorbell is repaired by the next read and a payload never
carries node lists (PostgreSQL's NOTIFY payload limit is 8,000 bytes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

NOTIFY_PAYLOAD_LIMIT = 8000
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

    def payload(self) -> str:
        text = json.dumps({"t": self.task, "u": self.user, "s": self.seq, "r": self.replica,
                           "ts": round(self.rung_at, 4)}, separators=(",", ":"))
        if len(text.encode()) >= NOTIFY_PAYLOAD_LIMIT:
            raise ValueError(f"doorbell payload of {len(text)} bytes exceeds the NOTIFY limit")
        return text

    @classmethod
    def parse(cls, payload: str) -> Doorbell:
        data = json.loads(payload)
        return cls(task=str(data["t"]), user=int(data["u"]), seq=int(data["s"]), replica=str(data.get("r", "")),
                   rung_at=float(data.get("ts") or time.time()))

    def group_message(self) -> dict:
        """The Channels message forwarded to the user's group."""
        return {"type": "progress.doorbell", "task": self.task, "user": self.user, "seq": self.seq,
                "replica": self.replica, "ts": self.rung_at}


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
