"""A WebSocket client of /ws/progress/ that timestamps every frame, and a tiny HTTP helper."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request


def http_json(url: str, timeout: float = 30) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


async def ahttp_json(url: str) -> dict:
    return await asyncio.to_thread(http_json, url)


class Watcher:
    """Connects with the bench user's session; records (arrival wall time) per (task, seq) of every message."""

    def __init__(self, ws_url: str, cookie: str, origin: str):
        self.ws_url, self.cookie, self.origin = ws_url, cookie, origin
        self.arrivals: dict[tuple[str, int], float] = {}
        self.frames: list[dict] = []
        self.duplicates = 0
        self.frames_received = 0  # WebSocket frames that carried messages (a list each)
        self.other: list[dict] = []  # frames that were not messages (protocol errors)
        self._waiters: dict[tuple[str, int], asyncio.Future] = {}
        self._ws = None
        self._reader: asyncio.Task | None = None
        self.keep_frames = True

    async def connect(self) -> None:
        import websockets

        self._ws = await websockets.connect(self.ws_url, additional_headers={"Cookie": self.cookie},
                                            origin=self.origin, open_timeout=30, max_size=None)
        first = json.loads(await asyncio.wait_for(self._ws.recv(), 30))
        if first.get("type") != "snapshot":
            raise RuntimeError(f"expected a snapshot frame, got {first}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            at = time.time()
            frame = json.loads(raw)
            if not isinstance(frame, list):  # messages come as lists; anything else (an error) is kept aside
                self.other.append(frame)
                continue
            self.frames_received += 1
            for message in frame:
                key = (str(message["task"]), int(message["seq"]))
                if key in self.arrivals:
                    self.duplicates += 1
                    continue
                self.arrivals[key] = at
                if self.keep_frames:
                    self.frames.append(message)
                waiter = self._waiters.pop(key, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(at)

    async def resume(self, task: str, after_seq: int = 0) -> None:
        await self._ws.send(json.dumps({"type": "resume", "task": task, "after_seq": after_seq}))

    async def wait_for(self, task: str, seq: int, timeout: float = 10) -> float:
        key = (task, seq)
        if key in self.arrivals:
            return self.arrivals[key]
        fut = self._waiters.setdefault(key, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(fut, timeout)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
