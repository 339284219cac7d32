"""A user's own code, the kind the pytest plugin is for: a visit counter kept in faultlab's
KV store, each increment a read-modify-write done while holding the lock "visits".

With `fenced=True` every write carries the lock's fencing token, so a write from a holder
whose lock has meanwhile passed to someone else is refused (FENCED), and the increment
starts over. Without, that late write lands and an increment is lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from cluster.client import KvClient, LockClient, LockSession, errors

KEY = "visits"
LOCK = "visits"

Pause = Callable[[LockSession], Awaitable[None]]


async def no_pause(session: LockSession) -> None:
    return None


class VisitCounter:
    def __init__(self, locks: LockClient, kv: KvClient, *, fenced: bool, ttl_s: float = 1.0):
        self.locks = locks
        self.kv = kv
        self.fenced = fenced
        self.ttl_s = ttl_s

    async def visits(self) -> int:
        found = await self.kv.get(KEY)
        return int(found.kv.value) if found.found else 0

    async def increment(self, pause: Pause = no_pause) -> None:
        """Add one visit. `pause` runs between the read and the write (the test's stand-in
        for a stop-the-world GC pause)."""
        while True:
            session = self.locks.session(ttl_s=self.ttl_s)
            async with session, session.lock(LOCK) as token:
                current = await self.visits()
                await pause(session)
                store = self.kv.fenced(LOCK, token) if self.fenced else self.kv
                try:
                    await store.put(KEY, str(current + 1).encode())
                    return
                except grpc.aio.AioRpcError as e:
                    if errors.reason_of(e) != errors.Reason.FENCED:
                        raise
                    # A newer holder wrote: our read is stale. Start over.
