"""Log formatting: one line per event, text or JSON, tagged with the replica id."""

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "replica"}


class ReplicaFilter(logging.Filter):
    """Adds ``record.replica`` so every line says which replica wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "replica"):
            from django.conf import settings

            record.replica = getattr(settings, "REPLICA_ID", "-")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "replica": getattr(record, "replica", None),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
