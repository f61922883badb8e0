"""A small HTTP server on the running event loop for a process without daphne (the standalone listener):
GET /healthz, /readyz (each answered by a callable returning (status code, JSON body)) and /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("kubenode.progress.health")

Check = Callable[[], tuple[int, dict]]


class HealthServer:
    def __init__(self, port: int, alive: Check, ready: Check, bind: str = "0.0.0.0"):
        self.port, self.bind = port, bind
        self.routes = {"/healthz": alive, "/readyz": ready}
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> HealthServer:
        self.server = await asyncio.start_server(self._handle, self.bind, self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("health on %s:%s (/healthz, /readyz, /metrics)", self.bind, self.port,
                 extra={"event": "health_listening", "port": self.port})
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = request.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                code, body, ctype = 405, b'{"error": "GET only"}', "application/json"
            elif path == "/metrics":
                code, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif path in self.routes:
                code, data = self.routes[path]()
                body, ctype = json.dumps(data).encode(), "application/json"
            else:
                code, body, ctype = 404, b'{"error": "not found"}', "application/json"
            head = (f"HTTP/1.1 {code} {'OK' if code == 200 else 'Error'}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + (body if method == "GET" else b""))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        except Exception:  # noqa: BLE001 - a probe must never take the process down
            log.exception("health request failed")
        finally:
            writer.close()
