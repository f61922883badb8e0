"""Log formatting: one line per event, text or JSON, tagged with the replica id."""

import json
import logging
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "replica"}


class ReplicaFilter(logging.Filter):
    """Adds ``record.replica`` so every line says which replica wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "replica"):
            from kubenode import runtime

            record.replica = runtime.replica_id()
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


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "(empty)"
    if value in ("", None):
        return "(empty)"
    return str(value)


def config_banner(config, logger: logging.Logger | None = None) -> None:
    """The start-up banner: one line with every effective setting (secrets only as set / not set).

    Text: ``kubenode starting replica=… config: key=value [source] …`` (the source only when not a default).
    JSON: the same message plus ``config`` ({key: value}) and ``sources`` ({key: source} of non-defaults).
    """
    logger = logger or logging.getLogger("kubenode")
    rows = config.as_rows()
    parts = []
    for row in rows:
        part = f"{row['key']}={_shown(row['value'])}"
        if not row["source"].startswith("default"):
            part += f" [{row['source']}]"
        parts.append(part)
    logger.info("kubenode starting replica=%s config file=%s: %s", config.replica_id,
                config.describe_file(), "; ".join(parts),
                extra={"event": "startup", "config_file": config.config_file,
                       "config_file_source": config.config_file_source,
                       "config": {r["key"]: r["value"] for r in rows},
                       "sources": {r["key"]: r["source"] for r in rows if not r["source"].startswith("default")}})
    for warning in config.warnings:
        logger.warning("configuration: %s", warning, extra={"event": "config_warning"})
