"""A fixed-window limit shared by every gateway replica: tokens leased from the KV store.

Each replica takes tokens from a lease it holds for the current window; when it runs
out, it leases another batch with a compare-and-swap on the tenant's key in the KV store,
whose value says which window it counts and how many of its tokens are leased. So the
replicas together admit at most `limit` per window, not `replicas` times it. A token a
replica leased and did not use is lost when the window ends: at most (replicas - 1) *
`lease_batch` refusals per window while some of the limit was unused (the checker's
false-refusal bound).

When the store does not answer within `store_timeout_s`, the replica decides on its own,
by the declared policy, and asks the store again only after `store_retry_s`:

    fail_open     admit everything
    fail_closed   refuse everything (RATE_LIMITED, policy store-unavailable)
    local_share   admit limit / replicas per window on this replica (its admissions from
                  leased tokens in that window count against it)
    local_full    admit the whole limit per window on this replica: the unsafe fallback,
                  replicas times the limit in total

No decision waits longer than `store_timeout_s` (envoyproxy/ratelimit#462: ~10 s waits
on a dead Redis). Calls a replica admitted without the store are added to the store's
count by its next lease in the same window. Over all replicas, admitted per window <=
limit while the store answers; with local_share, <= limit in a window spent wholly
without it, and <= limit + (replicas - 1) * share in a window where the store was lost or
regained (one replica may have used the whole limit before, and each other one its share).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.gateway.limits import Clock, Decision


class StoreUnavailable(Exception):
    """The store gave no usable answer in time."""


class OnStoreFailure(enum.Enum):
    FAIL_OPEN = "fail_open"
    FAIL_CLOSED = "fail_closed"
    LOCAL_SHARE = "local_share"
    LOCAL_FULL = "local_full"


@dataclass(frozen=True)
class Sharing:
    """How shared limits use the store (the `[sharing]` table of the gateway config)."""

    replicas: int = 0  # 0: the gateway group's size in the topology
    on_store_failure: OnStoreFailure = OnStoreFailure.LOCAL_SHARE
    lease_batch: int = 10
    store_timeout_s: float = 0.1
    store_retry_s: float = 1.0


@dataclass(frozen=True)
class WindowCount:
    """The store's value for one tenant: which window, and how much of it is leased."""

    window: int
    leased: int

    def encode(self) -> bytes:
        return json.dumps({"window": self.window, "leased": self.leased}).encode()

    @staticmethod
    def decode(raw: bytes) -> WindowCount:
        data = json.loads(raw)
        return WindowCount(int(data["window"]), int(data["leased"]))


# (key, expected version or 0 for absent, new value) -> (succeeded, version now, value now)
CompareAndSwap = Callable[[str, int, bytes, float], Awaitable[tuple[bool, int, bytes | None]]]


class LeaseStore:
    """Leases from one key per tenant with compare-and-swap; `cas` reaches the store."""

    def __init__(self, cas: CompareAndSwap) -> None:
        self._cas = cas
        self._known: dict[str, tuple[int, bytes | None]] = {}  # key -> (version, value) last seen

    async def lease(
        self, key: str, window: int, want: int, limit: int, timeout_s: float, spent: int = 0
    ) -> int:
        """Up to `want` tokens of `window` (0 when the window's limit is all leased).
        `spent`: calls this replica admitted in `window` without the store, counted in
        the same swap so the window's total stays whole once the store is back."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        version, value = self._known.get(key, (0, None))
        while True:
            count = WindowCount.decode(value) if value else WindowCount(window, 0)
            if count.window > window:
                return 0  # another replica's clock is ahead: this window is over for it
            leased = count.leased if count.window == window else 0
            grant = min(want, limit - leased - spent)
            if grant <= 0:
                return 0
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise StoreUnavailable(f"no lease of {key} within {timeout_s} s")
            new = WindowCount(window, leased + spent + grant).encode()
            ok, version, value = await self._cas(key, version, new, remaining)
            self._known[key] = (version, value)
            if ok:
                return grant


class SharedWindow:
    """One tenant's fixed-window limit over all replicas. `take()` is async: it may lease."""

    def __init__(
        self,
        key: str,
        limit: int,
        window_s: float,
        sharing: Sharing,
        replicas: int,
        store: LeaseStore,
        clock: Clock,
    ) -> None:
        self.key, self.limit, self.window_s = key, limit, window_s
        self.sharing = sharing
        self.share = max(1, math.floor(limit / replicas))
        self._store, self._clock = store, clock
        self._window = -1
        self._tokens = 0  # leased, not yet used, in the current window
        self._admitted = 0  # by this replica in the current window
        self._unreported = 0  # of those, admitted without the store: not yet in its count
        self._store_down_until = -math.inf
        self._leasing = asyncio.Lock()  # one lease at a time; the others wait for it
        self.decided_at = 0.0
        self._rolled_at = 0.0

    @property
    def store_down(self) -> bool:
        return self._clock() < self._store_down_until

    async def take(self) -> Decision:
        """Admit or refuse, within `store_timeout_s`. `decided_at` is then the clock reading
        the decision counts in: its window is the one it was counted against."""
        budget_end = self._clock() + self.sharing.store_timeout_s
        while True:
            self._roll(self._clock())
            if self._tokens > 0:
                return self._admit()
            if self.store_down or self._clock() >= budget_end:
                return self._fallback()
            try:
                async with asyncio.timeout(budget_end - self._clock()):
                    await self._leasing.acquire()
            except TimeoutError:
                return self._fallback()  # another call's lease is taking the whole bound
            try:
                self._roll(self._clock())
                if self._tokens > 0 or self.store_down:
                    continue  # the lease we waited for left a token, or failed
                window = self._window
                try:
                    remaining_s = budget_end - self._clock()
                    async with asyncio.timeout(max(remaining_s, 0.0)):
                        granted = await self._store.lease(
                            self.key,
                            window,
                            self.sharing.lease_batch,
                            self.limit,
                            remaining_s,
                            spent=self._unreported,
                        )
                except (StoreUnavailable, TimeoutError):
                    self._store_down_until = self._clock() + self.sharing.store_retry_s
                    return self._fallback()
            finally:
                self._leasing.release()
            self._roll(self._clock())
            if self._window != window:
                continue  # the window ended while leasing: those tokens count for nothing
            if granted == 0:
                return self._refuse(self._reset_s())
            self._tokens += granted
            self._unreported = 0  # the swap that granted them counted these

    def peek(self) -> Decision:
        """What this replica holds now, without asking the store or taking a token."""
        self._roll(self._clock())
        return Decision(True, self.limit, self._tokens, self._reset_s(), degraded=self.store_down)

    def _roll(self, now: float) -> None:
        self._rolled_at = now  # what a decision made now counts in
        window = math.floor(now / self.window_s)
        if window != self._window:
            self._window, self._tokens, self._admitted, self._unreported = window, 0, 0, 0

    def _reset_s(self) -> float:
        return (self._window + 1) * self.window_s - self._clock()

    def _admit(self) -> Decision:
        self.decided_at = self._rolled_at
        if self._tokens > 0:
            self._tokens -= 1
        self._admitted += 1
        remaining = self._tokens
        return Decision(True, self.limit, remaining, self._reset_s())

    def _refuse(self, retry_after_s: float) -> Decision:
        self.decided_at = self._rolled_at
        return Decision(False, self.limit, 0, self._reset_s(), retry_after_s)

    def _fallback(self) -> Decision:
        """Decided without the store, by the declared policy (`degraded` set)."""
        self._roll(self._clock())
        policy = self.sharing.on_store_failure
        if policy is OnStoreFailure.FAIL_OPEN:
            decision = self._admit()
        elif policy is OnStoreFailure.FAIL_CLOSED:
            decision = self._refuse(max(0.0, self._store_down_until - self._clock()))
        else:
            allowance = self.share if policy is OnStoreFailure.LOCAL_SHARE else self.limit
            ok = self._admitted < allowance
            decision = self._admit() if ok else self._refuse(self._reset_s())
        if decision.allowed:
            self._unreported += 1
        return dataclasses.replace(decision, degraded=True)
