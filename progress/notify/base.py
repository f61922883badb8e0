"""What every notifier backend shares: the doorbell and the group it rings.

A doorbell says only "task T of user U has rows up to seq S"; the rows themselves are
read from the table, so a lost doorbell is repaired by the next read and a payload never
carries node lists (PostgreSQL's NOTIFY payload limit is 8,000 bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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

    def payload(self) -> str:
        text = json.dumps({"t": self.task, "u": self.user, "s": self.seq, "r": self.replica},
                          separators=(",", ":"))
        if len(text.encode()) >= NOTIFY_PAYLOAD_LIMIT:
            raise ValueError(f"doorbell payload of {len(text)} bytes exceeds the NOTIFY limit")
        return text

    @classmethod
    def parse(cls, payload: str) -> Doorbell:
        data = json.loads(payload)
        return cls(task=str(data["t"]), user=int(data["u"]), seq=int(data["s"]), replica=str(data.get("r", "")))

    def group_message(self) -> dict:
        """The Channels message forwarded to the user's group."""
        return {"type": "progress.doorbell", "task": self.task, "seq": self.seq, "replica": self.replica}
