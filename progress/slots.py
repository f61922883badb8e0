"""Concurrency slots: at most N operations of a group run at once, across every worker process.

A node thread holds one slot of each group it needs while it runs operations of a task: one of the task's own
(`task.concurrency`) and one of the scope's (per cluster: `batch.concurrency` for label/taint/cordon,
`batch.drain_concurrency` for drain). Slot i of group G is a PostgreSQL session advisory lock (hash(G), i), taken
with pg_try_advisory_lock on one connection per worker process: the database counts them for every worker, and a
worker that dies (SIGKILL, lost node) loses its locks with its connection, so its slots free themselves.

On SQLite only one process runs tasks (the embedded default): the same slots are counted in memory.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from dataclasses import dataclass

from django.db import connection

from .wake import side_connection_params

log = logging.getLogger("kubenode.progress.slots")


@dataclass(frozen=True)
class Group:
    name: str
    size: int

    @property
    def key(self) -> int:
        """A stable signed 32-bit key for the group (the first half of the advisory lock's key)."""
        return int.from_bytes(hashlib.blake2b(self.name.encode(), digest_size=4).digest(), "big", signed=True)


@dataclass(frozen=True)
class Slot:
    held: tuple[tuple[Group, int], ...]


class LocalSlots:
    """Slots counted in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._held: dict[str, set[int]] = {}

    def acquire(self, groups: list[Group]) -> Slot | None:
        with self._lock:
            picked = []
            for group in groups:
                taken = self._held.setdefault(group.name, set())
                free = next((i for i in range(group.size) if i not in taken), None)
                if free is None:
                    return None
                picked.append((group, free))
            for group, index in picked:
                self._held[group.name].add(index)
            return Slot(tuple(picked))

    def release(self, slot: Slot) -> None:
        with self._lock:
            for group, index in slot.held:
                self._held.get(group.name, set()).discard(index)

    def in_use(self, group: Group) -> int:
        with self._lock:
            return len(self._held.get(group.name, ()))

    def close(self) -> None:
        pass


class PgSlots:
    """Slots as PostgreSQL advisory locks on one connection of this process (see the module's docstring)."""

    TRY = ("SELECT k FROM unnest(%s::int[]) AS k WHERE pg_try_advisory_lock(%s::int, k) LIMIT 1")

    def __init__(self, replica: str | None = None):
        self.replica = replica
        self._lock = threading.Lock()
        self._conn = None
        self._held: dict[Group, set[int]] = {}

    def _connection(self):
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            fresh = self._conn is not None
            self._conn = psycopg.connect(**side_connection_params("slots", self.replica), autocommit=True)
            if fresh:
                self._reacquire()
        return self._conn

    def _reacquire(self) -> None:
        """After a lost connection the database released our locks: take the same ones again."""
        lost = []
        for group, indexes in self._held.items():
            for index in indexes:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", (group.key, index)).fetchone()
                if not row[0]:
                    lost.append(f"{group.name}#{index}")
        if lost:
            log.warning("slots connection was lost; %d slot(s) were taken by another worker meanwhile (%s): the "
                        "limit may be exceeded until the operations in flight end", len(lost), ", ".join(lost[:5]))

    def _execute(self, sql: str, params) -> list:
        try:
            return self._connection().execute(sql, params).fetchall()
        except Exception:  # noqa: BLE001 - one reconnect, then the error goes to the caller
            if self._conn is not None and not self._conn.closed and not self._conn.broken:
                raise
            return self._connection().execute(sql, params).fetchall()

    def acquire(self, groups: list[Group]) -> Slot | None:
        with self._lock:
            picked: list[tuple[Group, int]] = []
            try:
                for group in groups:
                    held = self._held.setdefault(group, set())
                    candidates = [i for i in range(group.size) if i not in held]
                    if not candidates:
                        break
                    start = random.randrange(len(candidates))  # spread the workers over the slots
                    candidates = candidates[start:] + candidates[:start]
                    rows = self._execute(self.TRY, (candidates, group.key))
                    if not rows:
                        break
                    held.add(rows[0][0])
                    picked.append((group, rows[0][0]))
                else:
                    return Slot(tuple(picked))
            except Exception:
                self._unlock(picked)
                raise
            self._unlock(picked)
            return None

    def release(self, slot: Slot) -> None:
        with self._lock:
            self._unlock(list(slot.held))

    def _unlock(self, pairs: list[tuple[Group, int]]) -> None:
        if not pairs:
            return
        for group, index in pairs:
            self._held.get(group, set()).discard(index)
        try:
            self._execute("SELECT pg_advisory_unlock(a, k) FROM unnest(%s::int[], %s::int[]) AS u(a, k)",
                          ([g.key for g, _ in pairs], [i for _, i in pairs]))
        except Exception:  # noqa: BLE001 - a lost connection released them anyway
            log.warning("releasing %d slot(s) failed; the database releases them with the connection", len(pairs),
                        exc_info=True)

    def in_use(self, group: Group) -> int:
        """Slots of `group` held by any worker (from pg_locks)."""
        with self._lock:
            rows = self._execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s::oid "
                                 "AND objsubid = 2 AND granted",
                                 (group.key & 0xFFFFFFFF,))
        return int(rows[0][0])

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            self._held.clear()
        if conn is not None and not conn.closed:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing
                log.debug("closing the slots connection failed", exc_info=True)


def for_this_database(replica: str | None = None) -> LocalSlots | PgSlots:
    return PgSlots(replica) if connection.vendor == "postgresql" else LocalSlots()
