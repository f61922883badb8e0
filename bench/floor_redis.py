"""Floor on Redis: PUBLISH → async subscriber round trip."""

from __future__ import annotations

import asyncio
import os
import time

from bench.common import REDIS_ADDR, summary_ms


async def _round_trips(samples: int) -> list[float]:
    import redis.asyncio as aioredis

    host, port = REDIS_ADDR.rsplit(":", 1)
    channel = f"kubenode_bench_{os.getpid()}"
    sub_client = aioredis.Redis(host=host, port=int(port))
    pub_client = aioredis.Redis(host=host, port=int(port))
    pubsub = sub_client.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1)  # subscribe confirmation
    out: list[float] = []
    try:
        for seq in range(samples + 5):
            start = time.perf_counter()
            await pub_client.publish(channel, str(seq))
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                if msg and msg["data"] == str(seq).encode():
                    break
            if seq >= 5:
                out.append(time.perf_counter() - start)
            await asyncio.sleep(0.002)
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
        await sub_client.aclose()
        await pub_client.aclose()
    return out


def run(quick: bool = False) -> dict:
    s = summary_ms(asyncio.run(_round_trips(50 if quick else 500)))
    return {"redis_publish_p50_ms": s["p50_ms"], "redis_publish": s}
