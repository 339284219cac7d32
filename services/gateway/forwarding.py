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
from collections.abc import AsyncIterator, Sequence

import grpc

from services.gateway.routes import Route
from services.runtime.errors import NotApplied, OutcomeUnknown, Reason, ServiceError
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.remote_errors import error_info, leader_hint, reason_of

Metadata = Sequence[tuple[str, str | bytes]]

_NOT_LEADER = Reason.Value("NOT_LEADER")


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
            channel = grpc.aio.insecure_channel(self._address[node], options=CHANNEL_OPTIONS)
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
        return NotApplied(f"no {self.route.backend} node leads {self.key} now "
                          f"(last answer: {e.details()})", backend=self.route.backend)  # fmt: skip


def unrelayable(e: grpc.aio.AioRpcError, search: LeaderSearch) -> ServiceError | None:
    """The error to answer with instead of relaying `e`, or None to relay it unchanged."""
    if error_info(e) is not None:
        return None  # the backend's own answer: already in the error tree
    search.backends.unreachable(search.route.backend, search.node)
    return OutcomeUnknown(f"{search.node}: {e.code().name}: {e.details()}", node=search.node)


class Forwarder:
    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    async def unary(
        self, route: Route, request: bytes, metadata: Metadata, timeout_s: float
    ) -> bytes:
        search = LeaderSearch(self.backends, route, route.key(request))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            call = self.backends.unary(search.node, route.method)
            try:
                response: bytes = await call(request, timeout=max(remaining, 0.001),
                                             metadata=metadata)  # fmt: skip
            except grpc.aio.AioRpcError as e:
                if reason_of(e) == _NOT_LEADER:
                    if search.redirected(e):
                        continue
                    raise search.exhausted(e) from None
                raise unrelayable(e, search) or e from None
            search.found()
            return response

    async def unary_stream(
        self, route: Route, request: bytes, metadata: Metadata, timeout_s: float | None
    ) -> AsyncIterator[bytes]:
        search = LeaderSearch(self.backends, route, route.key(request))
        while True:
            call = self.backends.channel(search.node).unary_stream(route.method)(
                request, timeout=timeout_s, metadata=metadata)  # fmt: skip
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
        self, route: Route, requests: AsyncIterator[bytes], metadata: Metadata,
        timeout_s: float | None,
    ) -> AsyncIterator[bytes]:  # fmt: skip
        """A stream of requests (and of responses, or one): to the cached leader."""
        search = LeaderSearch(self.backends, route, route.key(b""))
        channel = self.backends.channel(search.node)
        if route.server_streaming:
            call = channel.stream_stream(route.method)(requests, timeout=timeout_s,
                                                       metadata=metadata)  # fmt: skip
        else:
            call = channel.stream_unary(route.method)(requests, timeout=timeout_s,
                                                      metadata=metadata)  # fmt: skip
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
