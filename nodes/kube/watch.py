"""Watch streams of the API server: `GET …?watch=true`, one JSON event per line, read as they arrive.

A stream ends when the server closes it (timeoutSeconds), when it is stopped (`WatchStream.stop()`, from any
thread), or with an error: a KubeError, status 410 when the resourceVersion is too old (relist, then watch again).
"""

from __future__ import annotations

import json
import threading

from .client import Kube
from .errors import KubeError, from_exception, from_response

SERVER_TIMEOUT = 240  # the server closes each stream after this; a new one starts at the last resourceVersion
READ_TIMEOUT = 75  # no byte for this long (real servers send a bookmark about every minute): start again


class WatchStream:
    """One watch request. Iterate it for event dicts ({"type", "object"}); stop() ends it from another thread."""

    def __init__(self, kube: Kube, path: str, resource_version: str, *, label_selector: str = "",
                 timeout_seconds: int = SERVER_TIMEOUT, on_open=None):
        self.kube = kube
        self.path = path
        self.query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                      "timeoutSeconds": str(timeout_seconds), "labelSelector": label_selector}
        self._response = None
        self._on_open = on_open  # called once the server has answered 200 (the stream is open)
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.response.shutdown()  # wakes a read blocked on the socket
            except Exception:  # noqa: BLE001 - already closed
                pass

    def _open(self):
        api = self.kube.api
        query = [(k, v) for k, v in self.query.items() if v]
        try:
            method, url, headers, body, _ = api.param_serialize(
                "GET", self.path, query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"])
            response = api.call_api(method, url, header_params=headers, body=body,
                                    _request_timeout=(5, READ_TIMEOUT))
        except Exception as exc:  # transport errors
            raise from_exception(exc, self.kube.server) from None
        if not 200 <= response.status <= 299:
            raise from_response(response.status, response.read(), response.getheaders())
        return response

    def __iter__(self):
        if self._stopped.is_set():
            return
        response = self._open()
        with self._lock:
            self._response = response
        if self._stopped.is_set():
            self.stop()
        elif self._on_open is not None:
            self._on_open()
        pending = b""
        try:
            for chunk in response.response.stream(amt=None, decode_content=True):
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        yield self._event(line)
                if self._stopped.is_set():
                    return
            if pending.strip() and not self._stopped.is_set():
                yield self._event(pending)
        except KubeError:
            raise
        except Exception as exc:  # a read timeout, a reset connection, or stop() closing it
            if self._stopped.is_set():
                return
            raise from_exception(exc, self.kube.server) from None
        finally:
            with self._lock:
                self._response = None
            try:
                response.response.release_conn()
            except Exception:  # noqa: BLE001
                pass

    @staticmethod
    def _event(line: bytes) -> dict:
        try:
            event = json.loads(line)
        except ValueError:
            raise KubeError("the watch stream sent something that is not JSON") from None
        if event.get("type") == "ERROR":
            status = event.get("object") or {}
            raise KubeError(status.get("message") or "the watch ended with an error",
                            status=int(status.get("code") or 0), reason=status.get("reason", ""))
        return event


def list_with_version(kube: Kube, path: str, *, label_selector: str = "", chunk: int = 5000) -> tuple[list, str]:
    """Every item of a list (page by page) and the resourceVersion to watch from."""
    items, token, version = [], None, ""
    while True:
        doc = kube.request("GET", path, query={"labelSelector": label_selector, "limit": chunk, "continue": token},
                           timeout=(5, 120))
        items += doc.get("items") or []
        meta = doc.get("metadata") or {}
        version = version or meta.get("resourceVersion", "")
        token = meta.get("continue")
        if not token:
            return items, version
