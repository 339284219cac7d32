"""Forwarding: a call, as bytes, to the node that leads its Raft group.

- Each backend node is dialled through this gateway's own Toxiproxy link
  (`gateway1_to_kv2`), so the network between gateway and backends can be faulted.
- The leader of each route key (`routes.py`) is cached. A NOT_LEADER answer names the
  leader: the call goes there at once. One without a name (an election under way) sends
  it to the next node. Once every node has refused, the caller gets NOT_APPLIED: definite,
  and worth retrying, where NOT_LEADER would name a node the caller cannot dial.
- The caller's deadline goes along (less a margin to answer in); a caller without one
  gets `DEFAULT_DEADLINE_S` for a unary call and none for a stream.
- Every other answer from a backend, success or failure, is relayed unchanged: its
  status, message and ErrorInfo already say what happened. A failure with no ErrorInfo
  (the backend unreachable, the deadline passed) becomes OUTCOME_UNKNOWN: the request may
  have reached it.
- Streams follow NOT_LEADER only before their first message; a client stream (lock
  KeepAlive) goes to the cached leader and is relayed as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import grpc

from services.gateway.calls import CallPolicy
from services.gateway.limits import Clock, ConcurrencyLimiter
from services.gateway.resilience import CircuitBreaker, RetryBudget
from services.gateway.routes import Route
from services.runtime import tls
from services.runtime.errors import NotApplied, OutcomeUnknown, Overloaded, Reason, ServiceError
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.remote_errors import error_info, leader_hint, reason_of

Metadata = Sequence[tuple[str, str | bytes]]

_NOT_LEADER = Reason.Value("NOT_LEADER")
_NOT_APPLIED_REASONS = {Reason.Value("NOT_APPLIED"), Reason.Value("NO_QUORUM")}


class Backends:
    """Channels to every backend node, and the leader each route key was last seen at."""

    def __init__(self, addresses: dict[str, dict[str, str]]) -> None:
        """`addresses`: backend group -> node id -> where this gateway dials it."""
        self.addresses = addresses
        self.leaders: dict[str, str] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._address = {node: a for nodes in addresses.values() for node, a in nodes.items()}
        self._order = {backend: sorted(nodes) for backend, nodes in addresses.items()}
        self._unary: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable] = {}

    def nodes(self, backend: str) -> list[str]:
        """The backend's nodes, those that last failed to answer at the end."""
        nodes = self._order.get(backend)
        if not nodes:
            raise NotApplied(f"this gateway has no {backend} nodes to forward to")
        return nodes

    def unreachable(self, backend: str, node: str) -> None:
        """`node` gave no answer: forget it as a leader, and try the others before it."""
        self.leaders = {k: v for k, v in self.leaders.items() if v != node}
        order = self._order[backend]
        order.remove(node)
        order.append(node)

    def channel(self, node: str) -> grpc.aio.Channel:
        channel = self._channels.get(node)
        if channel is None:
            channel = tls.aio_channel(self._address[node], options=CHANNEL_OPTIONS)
            self._channels[node] = channel
        return channel

    def unary(self, node: str, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
        """The bytes-in, bytes-out callable of `method` on `node`, made once."""
        callable_ = self._unary.get((node, method))
        if callable_ is None:
            callable_ = self._unary[(node, method)] = self.channel(node).unary_unary(method)
        return callable_

    def first_choice(self, backend: str, key: str) -> str:
        cached = self.leaders.get(key)
        return cached if cached in self.addresses[backend] else self.nodes(backend)[0]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._unary.clear()


class LeaderSearch:
    """The nodes one call tries, in order: the cached leader, then wherever NOT_LEADER
    answers point, then the nodes not yet tried."""

    def __init__(self, backends: Backends, route: Route, key: str) -> None:
        self.backends, self.route, self.key = backends, route, key
        self.node = backends.first_choice(route.backend, key)
        self._tried: set[str] = set()

    def found(self) -> None:
        self.backends.leaders[self.key] = self.node

    def redirected(self, e: grpc.aio.AioRpcError) -> bool:
        """After a NOT_LEADER answer: True with `node` set to try next, False when none is left."""
        self._tried.add(self.node)
        hint = leader_hint(e)
        nodes = self.backends.nodes(self.route.backend)
        if hint in nodes and hint not in self._tried:
            self.node = hint
            return True
        self.backends.leaders.pop(self.key, None)
        untried = [n for n in nodes if n not in self._tried]
        if not untried:
            return False
        self.node = untried[0]
        return True

    def remember_hint(self, e: grpc.aio.AioRpcError) -> None:
        hint = leader_hint(e)
        if hint in self.backends.addresses[self.route.backend]:
            self.backends.leaders[self.key] = hint
        else:
            self.backends.leaders.pop(self.key, None)

    def exhausted(self, e: grpc.aio.AioRpcError) -> ServiceError:
        return NotApplied(
            f"no {self.route.backend} node leads {self.key} now (last answer: {e.details()})",
            backend=self.route.backend,
        )


def unrelayable(e: grpc.aio.AioRpcError, search: LeaderSearch) -> ServiceError | None:
    """The error to answer with instead of relaying `e`, or None to relay it unchanged."""
    if error_info(e) is not None:
        return None  # the backend's own answer: already in the error tree
    search.backends.unreachable(search.route.backend, search.node)
    return OutcomeUnknown(f"{search.node}: {e.code().name}: {e.details()}", node=search.node)


class Forwarder:
    """Unary calls under the call policy (`calls.py`): a cap on the call's time, a pool of
    workers, a bulkhead per backend group, a breaker per node, retries under a budget,
    stale reads spread over the replicas and hedged. `stats`, when given, receives what
    the call cost (attempts, hedged) for the decision journal."""

    def __init__(
        self,
        backends: Backends,
        policy: CallPolicy | None = None,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.backends = backends
        self.policy = policy = policy or CallPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        self._workers = asyncio.Semaphore(policy.workers) if policy.workers else None
        self._bulkheads = (
            {b: ConcurrencyLimiter(policy.bulkhead) for b in backends.addresses}
            if policy.bulkhead
            else {}
        )
        self._breakers: dict[str, CircuitBreaker] = {}
        self._budgets: dict[str, RetryBudget] = {}
        self._spread = itertools.count()
        self.read_latency = LatencyWindow()

    async def unary(
        self,
        route: Route,
        request: bytes,
        metadata: Metadata,
        timeout_s: float,
        stats: dict[str, Any] | None = None,
    ) -> bytes:
        stats = {} if stats is None else stats
        if self.policy.timeout_s is not None:
            timeout_s = min(timeout_s, self.policy.timeout_s)
        deadline = self._clock() + timeout_s
        async with self._worker(deadline):
            with self._bulkhead(route.backend):
                if route.any_replica(request):
                    return await self._any_replica(route, request, metadata, deadline, stats)
                return await self._to_leader(route, request, metadata, deadline, stats)

    @contextlib.asynccontextmanager
    async def _worker(self, deadline: float) -> AsyncIterator[None]:
        if self._workers is None:
            yield
            return
        try:
            async with asyncio.timeout(max(deadline - self._clock(), 0.0)):
                await self._workers.acquire()
        except TimeoutError:
            raise Overloaded(
                "no gateway worker was free before the deadline", policy="workers"
            ) from None
        try:
            yield
        finally:
            self._workers.release()

    @contextlib.contextmanager
    def _bulkhead(self, backend: str) -> Iterator[None]:
        bulkhead = self._bulkheads.get(backend)
        if bulkhead is None:
            yield
            return
        if not bulkhead.try_acquire():
            raise Overloaded(
                f"{bulkhead.cap} calls to {backend} in flight already",
                policy="bulkhead",
                backend=backend,
            )
        try:
            yield
        finally:
            bulkhead.release()

    def _breaker(self, node: str) -> CircuitBreaker | None:
        settings = self.policy.breaker
        if settings is None:
            return None
        breaker = self._breakers.get(node)
        if breaker is None:
            breaker = self._breakers[node] = CircuitBreaker(self._clock, **settings)  # type: ignore[arg-type]
        return breaker

    def _budget(self, backend: str) -> RetryBudget | None:
        if self.policy.budget is None:
            return None
        budget = self._budgets.get(backend)
        if budget is None:
            budget = self._budgets[backend] = RetryBudget(*self.policy.budget)
        return budget

    async def _attempt(
        self,
        node: str,
        route: Route,
        request: bytes,
        metadata: Metadata,
        deadline: float,
        stats: dict[str, Any],
    ) -> bytes:
        """One attempt on `node`, through its breaker, counted in the budget."""
        breaker = self._breaker(node)
        if breaker is not None and not breaker.allow():
            raise Overloaded(f"the circuit to {node} is open", policy="breaker", node=node)
        stats["attempts"] = stats.get("attempts", 0) + 1
        budget = self._budget(route.backend)
        try:
            call = self.backends.unary(node, route.method)
            timeout_s = max(deadline - self._clock(), 0.001)
            response: bytes = await call(request, timeout=timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as e:
            unwell = error_info(e) is None  # no answer of the backend's own
            if breaker is not None:
                breaker.record(unwell)
            if budget is not None:
                budget.on_failure()
            raise
        if breaker is not None:
            breaker.record(False)
        if budget is not None:
            budget.on_success()
        return response

    async def _to_leader(
        self,
        route: Route,
        request: bytes,
        metadata: Metadata,
        deadline: float,
        stats: dict[str, Any],
    ) -> bytes:
        search = LeaderSearch(self.backends, route, route.key(request))
        retries = 0
        while True:
            try:
                response = await self._attempt(
                    search.node, route, request, metadata, deadline, stats
                )
            except grpc.aio.AioRpcError as e:
                if reason_of(e) == _NOT_LEADER:
                    if search.redirected(e):
                        continue
                    raise search.exhausted(e) from None
                if await self._retrying(e, route, search, retries, deadline):
                    retries += 1
                    continue
                raise unrelayable(e, search) or e from None
            search.found()
            return response

    async def _retrying(
        self,
        e: grpc.aio.AioRpcError,
        route: Route,
        search: LeaderSearch,
        retries: int,
        deadline: float,
    ) -> bool:
        """After a failed attempt: wait out the backoff and say True when the policy
        retries it (a failure that did not apply, attempts and budget left, time left)."""
        policy = self.policy
        if retries >= policy.retries or not _did_not_apply(e):
            return False
        budget = self._budget(route.backend)
        if budget is not None and not budget.allows_retry():
            return False
        if error_info(e) is None:  # no answer: the next attempt goes elsewhere first
            self.backends.unreachable(route.backend, search.node)
            search.node = self.backends.first_choice(route.backend, search.key)
        delay_s = policy.backoff.delay_s(retries, self._rng) if policy.backoff else 0.0
        if self._clock() + delay_s >= deadline:
            return False
        await asyncio.sleep(delay_s)
        return True

    async def _any_replica(
        self,
        route: Route,
        request: bytes,
        metadata: Metadata,
        deadline: float,
        stats: dict[str, Any],
    ) -> bytes:
        """A stale read: the next replica in turn; hedged to another one when the first is
        slower than the hedge delay. The first answer wins; the other is cancelled."""
        nodes = self.backends.nodes(route.backend)
        first = nodes[next(self._spread) % len(nodes)]
        started = self._clock()
        primary = asyncio.create_task(
            self._attempt(first, route, request, metadata, deadline, stats)
        )
        attempts = {primary}
        try:
            if self.policy.hedge and len(nodes) > 1:
                delay_s = self.policy.hedge_delay_s or self.read_latency.p95_s()
                done, _ = await asyncio.wait(attempts, timeout=delay_s)
                if not done:
                    second = nodes[(nodes.index(first) + 1) % len(nodes)]
                    stats["hedged"] = True
                    hedge = self._attempt(second, route, request, metadata, deadline, stats)
                    attempts.add(asyncio.create_task(hedge))
            response = await _first_answer(attempts)
        finally:
            for attempt in attempts:
                attempt.cancel()
        self.read_latency.add(self._clock() - started)
        return response

    async def unary_stream(
        self, route: Route, request: bytes, metadata: Metadata, timeout_s: float | None
    ) -> AsyncIterator[bytes]:
        search = LeaderSearch(self.backends, route, route.key(request))
        while True:
            call = self.backends.channel(search.node).unary_stream(route.method)(
                request, timeout=timeout_s, metadata=metadata
            )
            started = False
            try:
                async for item in call:
                    if not started:
                        search.found()
                        started = True
                    yield item
                return
            except grpc.aio.AioRpcError as e:
                if not started and reason_of(e) == _NOT_LEADER:
                    if search.redirected(e):
                        continue
                    raise search.exhausted(e) from None
                raise unrelayable(e, search) or e from None
            finally:
                call.cancel()  # the caller went away: so does the backend stream

    async def client_stream(
        self,
        route: Route,
        requests: AsyncIterator[bytes],
        metadata: Metadata,
        timeout_s: float | None,
    ) -> AsyncIterator[bytes]:
        """A stream of requests (and of responses, or one): to the cached leader."""
        search = LeaderSearch(self.backends, route, route.key(b""))
        channel = self.backends.channel(search.node)
        if route.server_streaming:
            call = channel.stream_stream(route.method)(
                requests, timeout=timeout_s, metadata=metadata
            )
        else:
            call = channel.stream_unary(route.method)(
                requests, timeout=timeout_s, metadata=metadata
            )
        try:
            if route.server_streaming:
                async for item in call:
                    search.found()
                    yield item
            else:
                yield await call
                search.found()
        except grpc.aio.AioRpcError as e:
            if reason_of(e) == _NOT_LEADER:
                search.remember_hint(e)  # the caller's retry goes where this answer pointed
                raise search.exhausted(e) from None
            raise unrelayable(e, search) or e from None
        finally:
            call.cancel()


async def _first_answer(attempts: set[asyncio.Task[bytes]]) -> bytes:
    """The first attempt to succeed; if all fail, the last failure."""
    pending = set(attempts)
    error: BaseException | None = None
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for attempt in done:
            if attempt.exception() is None:
                return attempt.result()
            error = attempt.exception()
    assert error is not None
    if isinstance(error, grpc.aio.AioRpcError) and error_info(error) is None:
        raise OutcomeUnknown(f"{error.code().name}: {error.details()}") from None
    raise error


def _did_not_apply(e: grpc.aio.AioRpcError) -> bool:
    """Worth retrying: nothing answered (the connection failed) or the backend said it
    did not apply it. (A write retried after a lost answer applies once: its session.)"""
    if error_info(e) is None:
        return bool(e.code() == grpc.StatusCode.UNAVAILABLE)
    return reason_of(e) in _NOT_APPLIED_REASONS


class LatencyWindow:
    """The recent latencies of stale reads, for the hedge delay: the p95 of the last
    `size`, recomputed every `every` samples (sorting per call would cost more than a
    hop)."""

    def __init__(self, size: int = 500, every: int = 50, initial_s: float = 0.01) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._every, self._count, self._p95 = every, 0, initial_s

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._count += 1
        if self._count % self._every == 0:
            ordered = sorted(self._samples)
            self._p95 = ordered[int(0.95 * (len(ordered) - 1))]

    def p95_s(self) -> float:
        return self._p95
