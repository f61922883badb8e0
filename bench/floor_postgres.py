"""Floors on PostgreSQL: INSERT + NOTIFY + COMMIT → async listener, and a bare pg_notify → listener."""

from __future__ import annotations

import asyncio
import time

from bench.common import pg_conninfo, summary_ms, throwaway_database

CHANNEL = "kubenode_bench"


async def _round_trips(dbname: str, samples: int, with_insert: bool) -> list[float]:
    import psycopg

    listener = await psycopg.AsyncConnection.connect(**pg_conninfo(dbname))
    writer = await psycopg.AsyncConnection.connect(**{**pg_conninfo(dbname), "autocommit": False})
    try:
        if with_insert:
            await writer.execute("CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, seq int, body text)")
            await writer.commit()
        await listener.execute(f"LISTEN {CHANNEL}")
        notifies = listener.notifies()
        received: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            async for note in notifies:
                received.put_nowait((time.perf_counter(), note.payload))

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.05)
        out: list[float] = []
        for seq in range(samples + 5):
            start = time.perf_counter()
            if with_insert:
                await writer.execute("INSERT INTO bench_rows (seq, body) VALUES (%s, %s)", (seq, "x" * 200))
            await writer.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(seq)))
            await writer.commit()
            while True:
                at, payload = await asyncio.wait_for(received.get(), 5)
                if payload == str(seq):
                    break
            if seq >= 5:  # warm-up discarded
                out.append(at - start)
            await asyncio.sleep(0.002)
        task.cancel()
        return out
    finally:
        await writer.close()
        await listener.close()


class FloorProbe:
    """One INSERT + NOTIFY + COMMIT → listener round trip at a time, to interleave with another measurement."""

    def __init__(self, dbname: str):
        self.dbname = dbname
        self.samples: list[float] = []
        self._seq = 0

    async def __aenter__(self) -> FloorProbe:
        import psycopg

        self.listener = await psycopg.AsyncConnection.connect(**pg_conninfo(self.dbname))
        self.writer = await psycopg.AsyncConnection.connect(**{**pg_conninfo(self.dbname), "autocommit": False})
        await self.writer.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, seq int, body text)")
        await self.writer.commit()
        await self.listener.execute(f"LISTEN {CHANNEL}_probe")
        self.received: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            async for note in self.listener.notifies():
                self.received.put_nowait((time.perf_counter(), note.payload))

        self._pump = asyncio.create_task(pump())
        for _ in range(3):  # warm-up
            await self.round_trip(keep=False)
        return self

    async def round_trip(self, keep: bool = True) -> float:
        self._seq += 1
        seq = str(self._seq)
        start = time.perf_counter()
        await self.writer.execute("INSERT INTO bench_rows (seq, body) VALUES (%s, %s)", (self._seq, "x" * 200))
        await self.writer.execute("SELECT pg_notify(%s, %s)", (f"{CHANNEL}_probe", seq))
        await self.writer.commit()
        while True:
            at, payload = await asyncio.wait_for(self.received.get(), 5)
            if payload == seq:
                break
        if keep:
            self.samples.append(at - start)
        return at - start

    async def __aexit__(self, *exc) -> None:
        self._pump.cancel()
        await self.writer.close()
        await self.listener.close()


def run(quick: bool = False) -> dict:
    samples = 50 if quick else 500
    with throwaway_database("floor") as dbname:
        commit = asyncio.run(_round_trips(dbname, samples, with_insert=True))
        bare = asyncio.run(_round_trips(dbname, samples, with_insert=False))
    commit_s, bare_s = summary_ms(commit), summary_ms(bare)
    return {
        "notify_commit_p50_ms": commit_s["p50_ms"],
        "notify_commit": commit_s,
        "pg_notify_p50_ms": bare_s["p50_ms"],
        "pg_notify": bare_s,
    }
