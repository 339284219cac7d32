"""Forwarding: a call, as bytes, to the node that leads its Raft group.

- Each backend node is dialled through this gateway's own Toxiproxy link
  (`gateway1_to_kv2`), so the network between gateway and backends can be faulted.
- The leader of each route key (`routes.py`) is cached, and what to do after a failed
  attempt is the table the client SDK follows too (services/runtime/leader_following.py).
  A NOT_LEADER answer names the leader: the call goes there at once. One without a name
  (an election under way) sends it to the next node. Once every node has refused, the
  caller gets NOT_APPLIED: definite, and worth retrying, where NOT_LEADER would name a
  node the caller cannot dial. Retries ([calls] retries) follow the table: NOT_APPLIED and
  NO_QUORUM always, an unknown outcome only for an idempotent request (`Route.idempotent`).
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
from dataclasses import dataclass

import grpc

from services.gateway.call_record import CallRecord
from services.gateway.calls import CallPolicy
from services.gateway.limits import Clock, ConcurrencyLimiter
from services.gateway.resilience import CircuitBreaker, RetryBudget
from services.gateway.routes import Route
from services.runtime import tls
from services.runtime.errors import NotApplied, OutcomeUnknown, Overloaded, ServiceError
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.leader_following import (
    Decision,
    LeaderCache,
    LeaderSearch,
    NodeOrder,
    decision_for,
    may_retry,
)
from services.runtime.remote_errors import error_info, leader_hint

Metadata = Sequence[tuple[str, str | bytes]]


class Backends:
    """Channels to every backend node, the order to try each group's nodes in, and the
    leader each route key was last seen at."""

    def __init__(self, addresses: dict[str, dict[str, str]]) -> None:
        """`addresses`: backend group -> node id -> where this gateway dials it."""
        self.addresses = addresses
        self.leaders = LeaderCache()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._address = {node: a for nodes in addresses.values() for node, a in nodes.items()}
        self._orders = {b: NodeOrder(nodes) for b, nodes in addresses.items() if nodes}
        self._unary: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable] = {}

    def order(self, backend: str) -> NodeOrder:
        order = self._orders.get(backend)
        if order is None:
            raise NotApplied(f"this gateway has no {backend} nodes to forward to")
        return order

    def nodes(self, backend: str) -> list[str]:
        """The backend's nodes, those that last failed to answer at the end."""
        return list(self.order(backend))

    def search(self, route: Route, key: str) -> LeaderSearch:
        return LeaderSearch(self.order(route.backend), self.leaders, key)

    def unreachable(self, backend: str, node: str) -> None:
        """`node` gave no answer: forget it as a leader, and try the others before it."""
        self.leaders.forget_node(node)
        self.order(backend).demote(node)

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

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._unary.clear()


def exhausted(route: Route, search: LeaderSearch, e: grpc.aio.AioRpcError) -> ServiceError:
    """Every node refused as not the leader: NOT_APPLIED, definite and worth retrying,
    where relaying NOT_LEADER would name a node the caller cannot dial."""
    return NotApplied(
        f"no {route.backend} node leads {search.key} now (last answer: {e.details()})",
        backend=route.backend,
    )


def unrelayable(
    e: grpc.aio.AioRpcError, backends: Backends, route: Route, node: str
) -> ServiceError | None:
    """The error to answer with instead of relaying `e`, or None to relay it unchanged."""
    if error_info(e) is not None:
        return None  # the backend's own answer: already in the error tree
    backends.unreachable(route.backend, node)
    return OutcomeUnknown(f"{node}: {e.code().name}: {e.details()}", node=node)


@dataclass(frozen=True)
class Call:
    """One unary call on its way: what it is, to where, until when, and its record."""

    route: Route
    request: bytes
    metadata: Metadata
    deadline: float  # on the forwarder's clock
    record: CallRecord  # attempts and hedges are added here


class Forwarder:
    """Unary calls under the call policy (`calls.py`): a cap on the call's time, a pool of
    workers, a bulkhead per backend group, a breaker per node, retries under a budget,
    stale reads spread over the replicas and hedged. `record`, when given, receives what
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
        record: CallRecord | None = None,
    ) -> bytes:
        if self.policy.timeout_s is not None:
            timeout_s = min(timeout_s, self.policy.timeout_s)
        deadline = self._clock() + timeout_s
        cost = record if record is not None else CallRecord(0.0, "", route.method)
        call = Call(route, request, metadata, deadline, cost)
        async with self._worker(deadline):
            with self._bulkhead(route.backend):
                if route.any_replica(request):
                    return await self._any_replica(call)
                return await self._to_leader(call)

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
            breaker = self._breakers[node] = settings.build(self._clock)
        return breaker

    def _budget(self, backend: str) -> RetryBudget | None:
        if self.policy.budget is None:
            return None
        budget = self._budgets.get(backend)
        if budget is None:
            budget = self._budgets[backend] = self.policy.budget.build()
        return budget

    async def _attempt(self, node: str, call: Call) -> bytes:
        """One attempt on `node`, through its breaker, counted in the budget."""
        breaker = self._breaker(node)
        if breaker is not None and not breaker.allow():
            raise Overloaded(f"the circuit to {node} is open", policy="breaker", node=node)
        call.record.attempts += 1
        budget = self._budget(call.route.backend)
        try:
            send = self.backends.unary(node, call.route.method)
            timeout_s = max(call.deadline - self._clock(), 0.001)
            response: bytes = await send(call.request, timeout=timeout_s, metadata=call.metadata)
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

    async def _to_leader(self, call: Call) -> bytes:
        route = call.route
        search = self.backends.search(route, route.key(call.request))
        retries = 0
        while True:
            try:
                response = await self._attempt(search.node, call)
            except grpc.aio.AioRpcError as e:
                decision = decision_for(e)
                if decision is Decision.FOLLOW:
                    if search.followed(leader_hint(e)) or search.next_untried():
                        continue
                    raise exhausted(route, search, e) from None
                idempotent = route.idempotent(call.request)
                if may_retry(decision, idempotent) and await self._retrying(
                    e, route, search, retries, call.deadline
                ):
                    retries += 1
                    continue
                raise unrelayable(e, self.backends, route, search.node) or e from None
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
        """After a failed attempt the leader-following table may retry: wait out the
        backoff and say True when the policy retries it (attempts, budget and time left).
        The next attempt goes to another node first."""
        policy = self.policy
        if retries >= policy.retries:
            return False
        budget = self._budget(route.backend)
        if budget is not None and not budget.allows_retry():
            return False
        if error_info(e) is None:  # no answer: it leads nothing we know of
            self.backends.leaders.forget_node(search.node)
        search.failed_here()
        delay_s = policy.backoff.delay_s(retries, self._rng) if policy.backoff else 0.0
        if self._clock() + delay_s >= deadline:
            return False
        await asyncio.sleep(delay_s)
        return True

    async def _any_replica(self, call: Call) -> bytes:
        """A stale read: the next replica in turn; hedged to another one when the first is
        slower than the hedge delay. The first answer wins; the other is cancelled."""
        nodes = self.backends.nodes(call.route.backend)
        first = nodes[next(self._spread) % len(nodes)]
        started = self._clock()
        primary = asyncio.create_task(self._attempt(first, call))
        attempts = {primary}
        try:
            if self.policy.hedge and len(nodes) > 1:
                delay_s = self.policy.hedge_delay_s or self.read_latency.p95_s()
                done, _ = await asyncio.wait(attempts, timeout=delay_s)
                if not done:
                    second = nodes[(nodes.index(first) + 1) % len(nodes)]
                    call.record.hedged = True
                    hedge = self._attempt(second, call)
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
        search = self.backends.search(route, route.key(request))
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
                if not started and decision_for(e) is Decision.FOLLOW:
                    if search.followed(leader_hint(e)) or search.next_untried():
                        continue
                    raise exhausted(route, search, e) from None
                raise unrelayable(e, self.backends, route, search.node) or e from None
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
        search = self.backends.search(route, route.key(b""))
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
            if decision_for(e) is Decision.FOLLOW:
                search.remember_hint(leader_hint(e))
                raise exhausted(route, search, e) from None
            raise unrelayable(e, self.backends, route, search.node) or e from None
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
