"""`GroupCaller`: one call to whichever node leads a Raft group, the retry loop every
faultlab client (KV, lock, log) shares. What to do after a failed attempt is the table
the gateway follows too (services/runtime/leader_following.py):

- A NOT_LEADER answer names the leader; the caller goes there at once.
- A definite failure that is worth retrying (NOT_APPLIED, NO_QUORUM), an indefinite one
  (OUTCOME_UNKNOWN, UNAVAILABLE or DEADLINE_EXCEEDED without a reason) when the call is
  idempotent (every SDK write carries a session or a producer id, unless the caller says
  otherwise), or no leader known: the next node, after capped exponential backoff with
  full jitter.
- Anything else (INVALID, FENCED, ...) is returned to the caller at once.
- If an attempt's outcome was unknown and a later one was refused before reaching the
  state machine (NOT_LEADER, NOT_APPLIED, NO_QUORUM), the call's outcome is still
  unknown: that refusal says nothing of the earlier attempt, so the earlier error is
  raised. A state machine's own answer to a retry (a result, FENCED, INVALID) is the
  truth, since the session makes the retry see the first attempt's effect.

A call stops retrying after `attempts` attempts, or once its time budget (`budget_s`, as
etcdctl's --command-timeout) would be spent by the next backoff, whichever comes first.

Writes carry a session (`Session`: client id, sequence) and retries reuse its number, so
an attempt that did land is not applied twice. The leader of each group is remembered in
a `LeaderCache`, which clients of one process may share.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

import grpc

from cluster.client import errors
from services.runtime import tls
from services.runtime.backoff import Backoff
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.leader_following import (
    Decision,
    LeaderCache,
    LeaderSearch,
    NodeOrder,
    decision_for,
    may_retry,
)

__all__ = ["RETRY_BACKOFF", "GroupCaller", "LeaderCache", "Session", "worth_retrying"]

T = TypeVar("T")

RETRY_BACKOFF = Backoff(base_s=0.05, cap_s=1.0)


class Session:
    """A client session: a retried write reuses its sequence number and applies once.

    Many writes may be in flight: each request also names the lowest seq still waiting
    for its final answer (`first_unanswered`), so the store keeps the results from there
    on for retries (Raft thesis §6.3), however the writes are reordered.

        with session.write() as (seq, first_unanswered):
            ...  # send, and retry, the write with these numbers
    """

    def __init__(self, client_id: str | None = None) -> None:
        self.client_id = client_id or uuid.uuid4().hex
        self._seq = itertools.count(1)
        self._in_flight: set[int] = set()

    @contextlib.contextmanager
    def write(self) -> Iterator[tuple[int, int]]:
        """A new seq, and the lowest seq still in flight, until the write is over
        (answered, refused, or given up on: it is never retried after that)."""
        seq = next(self._seq)
        self._in_flight.add(seq)
        try:
            yield seq, min(self._in_flight)
        finally:
            self._in_flight.discard(seq)


def worth_retrying(e: grpc.aio.AioRpcError) -> bool:
    """A failure that a later attempt may not meet: no answer, no leader yet, not applied
    (for an idempotent call: a subscription's fetch)."""
    return may_retry(decision_for(e), idempotent=True)


def _verdict(
    last: grpc.aio.AioRpcError, unknown: grpc.aio.AioRpcError | None
) -> grpc.aio.AioRpcError:
    """The error a failed call raises: its last one, unless that one says nothing of an
    earlier attempt whose outcome is unknown."""
    if unknown is not None and decision_for(last).reached_no_state_machine:
        return unknown
    return last


class GroupCaller:
    def __init__(
        self,
        group: str,
        addresses: dict[str, str],
        *,
        attempts: int | None = 10,
        budget_s: float | None = None,
        rng: random.Random | None = None,
        leaders: LeaderCache | None = None,
        backoff: Backoff = RETRY_BACKOFF,
        channels: dict[str, grpc.aio.Channel] | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        """`addresses`: node id -> where clients dial it, for every node hosting `group`.
        `channels`: node id -> channel, shared by the callers of many groups (a log
        client's partitions) and closed by whoever passed it; by default, its own.
        `interceptors`: on every channel it opens (the gateway's credentials).
        `attempts` None: no limit but `budget_s`, the seconds a call may spend retrying."""
        assert addresses, "a client needs at least one node address"
        assert attempts is not None or budget_s is not None, "a call needs a retry limit"
        self.group = group
        self.addresses = dict(addresses)
        self.attempts = attempts
        self.budget_s = budget_s
        self.leaders = leaders or LeaderCache()
        self._rng = rng or random.Random()
        self._backoff = backoff
        self._owns_channels = channels is None
        self._channels: dict[str, grpc.aio.Channel] = {} if channels is None else channels
        self._order = NodeOrder(self.addresses)
        self._interceptors = list(interceptors)

    @property
    def leader(self) -> str | None:
        return self.leaders.get(self.group)

    def channel(self, node: str) -> grpc.aio.Channel:
        channel = self._channels.get(node)
        if channel is None:
            channel = tls.aio_channel(
                self.addresses[node], options=CHANNEL_OPTIONS, interceptors=self._interceptors
            )
            self._channels[node] = channel
        return channel

    async def close(self) -> None:
        if not self._owns_channels:
            return
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def call(
        self, attempt_on: Callable[[grpc.aio.Channel], Awaitable[T]], *, idempotent: bool = True
    ) -> T:
        """`attempt_on(channel)` on the leader, retried as the module docstring says.
        `idempotent` False: a call a repeat could apply twice is not retried after an
        unknown outcome."""
        search = LeaderSearch(self._order, self.leaders, self.group)
        last: grpc.aio.AioRpcError | None = None
        unknown: grpc.aio.AioRpcError | None = None  # the first attempt that may have applied
        deadline = None if self.budget_s is None else time.monotonic() + self.budget_s
        for attempt in itertools.count():
            if self.attempts is not None and attempt >= self.attempts:
                break
            try:
                result = await attempt_on(self.channel(search.node))
            except grpc.aio.AioRpcError as e:
                last = e
                if unknown is None and not errors.definite(e):
                    unknown = e
                decision = decision_for(e)
                if decision is Decision.FOLLOW and search.followed(errors.leader_hint(e)):
                    continue
                if not may_retry(decision, idempotent):
                    raise _verdict(e, unknown) from None
                search.failed_here()
                delay_s = self._backoff.delay_s(attempt, self._rng)
                if deadline is not None and time.monotonic() + delay_s >= deadline:
                    break
                await asyncio.sleep(delay_s)
                continue
            search.found()
            return result
        assert last is not None
        raise _verdict(last, unknown)
