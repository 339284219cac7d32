"""The cache's entries and what a lookup finds, with the clock and the randomness
injected: pure, so its rules are tested without a loop or a backend.

An entry keeps the backend's answer as bytes (a GetResponse, never decoded again), when it
expires, and how long its fill took (XFetch's delta). Expired entries stay until evicted or
invalidated: a lease holder's rivals and stale-while-revalidate serve them.

Invalidation races a fill: a fill that read the store before a write and answers after the
write's invalidation would put the old value back for a whole TTL. So every invalidation
takes a number from one counter, a fill notes the counter when it starts, and `store`
refuses a fill older than the key's last invalidation (memcache's leases are invalidated
by a delete for the same reason).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from services.gateway.cache.settings import CacheSettings


class Found(Enum):
    FRESH = "fresh"  # within its TTL
    EARLY = "early"  # within its TTL, but XFetch drew this read to refresh it now
    STALE = "stale"  # past its TTL, within stale-while-revalidate
    EXPIRED = "expired"  # past both; the entry is still there (a lease rival may take it)
    MISSING = "missing"


@dataclass(frozen=True)
class Entry:
    value: bytes
    found: bool  # False: a cached "not found" (negative caching)
    expires_at_s: float
    fill_s: float  # how long the fill that stored it took


class CacheStore:
    def __init__(
        self, clock: Callable[[], float], random: Callable[[], float], max_entries: int
    ) -> None:
        self._clock = clock
        self._random = random  # uniform in (0, 1]
        self._max_entries = max_entries
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._counter = 0  # invalidations so far
        self._invalidated: dict[str, int] = {}  # key -> the counter at its last one
        self._floor = 0  # fills started before this are refused (the dict was pruned)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str, settings: CacheSettings) -> tuple[Found, Entry | None]:
        entry = self._entries.get(key)
        if entry is None:
            return Found.MISSING, None
        now = self._clock()
        if now < entry.expires_at_s:
            beta = settings.early_expiration_beta
            # XFetch (Vattani et al., VLDB 2015): refresh early with a probability that
            # grows as expiry nears, faster for costly fills; -log(u) is exponential.
            if beta and now - entry.fill_s * beta * math.log(self._random()) >= entry.expires_at_s:
                return Found.EARLY, entry
            return Found.FRESH, entry
        if now < entry.expires_at_s + settings.stale_while_revalidate_s:
            return Found.STALE, entry
        return Found.EXPIRED, entry

    def started(self) -> int:
        """What a fill notes as it starts (see `store`)."""
        return self._counter

    def store(
        self, key: str, value: bytes, found: bool, ttl_s: float, fill_s: float, started: int
    ) -> bool:
        """Keep a fill's answer for `ttl_s`, unless the key was invalidated after the fill
        started (`started`, from `started()`): then its answer may be older than the write."""
        if started < self._floor or self._invalidated.get(key, -1) >= started:
            return False
        self._entries[key] = Entry(value, found, self._clock() + ttl_s, fill_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return True

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
        self._invalidated[key] = self._counter
        self._counter += 1
        if len(self._invalidated) > self._max_entries:
            self._invalidated.clear()
            self._floor = self._counter

    def clear(self) -> None:
        """Everything gone, and every fill in flight refused: after a gap in the Watch,
        any key may have changed."""
        self._entries.clear()
        self._invalidated.clear()
        self._counter += 1
        self._floor = self._counter
