"""Read-through: a KV Get answered from the cache, or filled from the backend, with the
mitigations a tenant switches on (cache/settings.py).

What each call was is its outcome, written to its journal record and counted:

| outcome | what happened | backend calls |
|---|---|---|
| hit | a fresh entry | 0 |
| stale | past its TTL: served within stale-while-revalidate, or to a lease holder's rival | 0 |
| coalesced | waited for the fill another call was making (coalescing, or a lease wait) | 0 |
| miss | filled it itself | 1, retries included |
| refresh | served what it found and started one refresh in the background | 1 |

Without coalescing or leases, every call that finds a key expired fills it: when a hot
key expires under N readers, the store gets N calls at once (cache-stampede's unsafe mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.gateway.cache.settings import CacheSettings
from services.gateway.cache.store import CacheStore, Found

# One backend call, the GetResponse's bytes; True: a background refresh, which outlives
# the call that started it and so cannot use its deadline.
Fill = Callable[[bool], Awaitable[bytes]]
REFRESH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Answer:
    value: bytes
    outcome: str  # hit, stale, coalesced, miss, refresh


class ReadThrough:
    def __init__(self, store: CacheStore, found_in: Callable[[bytes], bool]) -> None:
        self.store = store
        self._found_in = found_in  # does a GetResponse say the key exists?
        self._fills: dict[str, asyncio.Future[bytes]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def get(self, key: str, ttl_s: float, settings: CacheSettings, fill: Fill) -> Answer:
        found, entry = self.store.lookup(key, settings)
        if found is Found.FRESH and entry is not None:
            return Answer(entry.value, "hit")
        if found in (Found.EARLY, Found.STALE) and entry is not None:
            if key in self._fills:
                return Answer(entry.value, "hit" if found is Found.EARLY else "stale")
            self._refresh(key, ttl_s, settings, fill)
            return Answer(entry.value, "refresh")
        if not (settings.coalesce or settings.lease):
            return Answer(await self._fill(key, ttl_s, settings, fill), "miss")
        running = self._fills.get(key)
        if running is None:
            return Answer(await self._lead_fill(key, ttl_s, settings, fill), "miss")
        if settings.lease and entry is not None:
            return Answer(entry.value, "stale")  # the lease's rival takes the old value
        if settings.coalesce:
            return Answer(await asyncio.shield(running), "coalesced")
        # A lease rival with nothing to serve waits a little for the holder, then looks
        # again, and fills itself when the holder is slow (memcache's hot-miss retry).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.lease_wait_s):
                return Answer(await asyncio.shield(running), "coalesced")
        return Answer(await self._fill(key, ttl_s, settings, fill), "miss")

    def _claim(self, key: str) -> asyncio.Future[bytes]:
        """Make this the key's one fill in flight, before anything awaits."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._fills[key] = future
        return future

    async def _lead_fill(
        self,
        key: str,
        ttl_s: float,
        settings: CacheSettings,
        fill: Fill,
        background: bool = False,
        claimed: asyncio.Future[bytes] | None = None,
    ) -> bytes:
        """Fill as the one call others wait on: they get its answer or its error."""
        future = claimed or self._claim(key)
        try:
            value = await self._fill(key, ttl_s, settings, fill, background)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # read, so an unwaited future does not log it
            raise
        finally:
            self._fills.pop(key, None)
        future.set_result(value)
        return value

    async def _fill(
        self, key: str, ttl_s: float, settings: CacheSettings, fill: Fill, background: bool = False
    ) -> bytes:
        started = self.store.started()
        began = time.monotonic()
        value = await fill(background)
        found = self._found_in(value)
        ttl = ttl_s if found else settings.negative_ttl_s
        if ttl > 0:
            self.store.store(key, value, found, ttl, time.monotonic() - began, started)
        return value

    def _refresh(self, key: str, ttl_s: float, settings: CacheSettings, fill: Fill) -> None:
        claimed = self._claim(key)  # now: a read in the same turn must not start another

        async def refresh() -> None:
            with contextlib.suppress(Exception):  # the next read finds it expired and fills
                async with asyncio.timeout(REFRESH_TIMEOUT_S):
                    await self._lead_fill(key, ttl_s, settings, fill, True, claimed)

        task = asyncio.create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
