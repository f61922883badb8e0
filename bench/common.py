"""Shared helpers for the benchmarks: statistics, the machine, throw-away databases, missing parts."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
REDIS_ADDR = os.environ.get("BENCH_REDIS_ADDR", "127.0.0.1:6379")


class Unavailable(Exception):
    """A part a benchmark needs is not there (yet); the figure is recorded as null with this reason."""


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``samples`` (``pct`` in 0..100)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(samples_s: list[float]) -> dict:
    """p50/p95/p99 and count of samples given in seconds, reported in milliseconds."""
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "samples": len(ms),
    }


def machine() -> dict:
    load1, load5, load15 = os.getloadavg()
    return {"cores": os.cpu_count(), "load_average": [round(load1, 2), round(load5, 2), round(load15, 2)]}


def require_paths(*relative: str) -> None:
    missing = [p for p in relative if not (ROOT / p).exists()]
    if missing:
        raise Unavailable("not there yet: " + ", ".join(missing))


def pg_conninfo(dbname: str = "postgres") -> dict:
    return {"host": PG_HOST, "port": PG_PORT, "user": PG_USER, "dbname": dbname, "autocommit": True}


@contextlib.contextmanager
def throwaway_database(tag: str = "") -> Iterator[str]:
    """Create ``kubenode_bench_<pid>[_tag]`` and drop it afterwards."""
    import psycopg

    name = f"kubenode_bench_{os.getpid()}{('_' + tag) if tag else ''}"
    with psycopg.connect(**pg_conninfo()) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(**pg_conninfo()) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.start
