"""The KV client: finds the leader, follows its hints, retries safely.

    async with KvClient.for_topology(topology) as kv:
        await kv.put("k", b"v")
        resp = await kv.get("k")

- Writes go to the leader. A FAILED_PRECONDITION answer with reason "not-leader" names
  the leader in trailing metadata; the client switches to it at once.
- UNAVAILABLE / DEADLINE_EXCEEDED: the client tries the next node after a capped
  exponential backoff with full jitter (sleep uniform(0, min(cap, base * 2**attempt))).
- Every write carries a session (client id, sequence number); a retry reuses the number,
  so a write that did land the first time is not applied twice.
- Other errors (INVALID_ARGUMENT, a refused fencing token...) are returned at once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.topology import Topology

T = TypeVar("T")

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0

LINEARIZABLE = kv_pb2.LINEARIZABLE
LEASE = kv_pb2.LEASE
STALE = kv_pb2.STALE


def _metadata(e: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: v for k, v in (e.trailing_metadata() or ()) if isinstance(v, str)}


def is_not_leader(e: grpc.aio.AioRpcError) -> bool:
    return (
        e.code() == grpc.StatusCode.FAILED_PRECONDITION
        and _metadata(e).get("reason") == "not-leader"
    )


class KvClient:
    def __init__(
        self,
        addresses: dict[str, str],
        *,
        timeout_s: float = 2.0,
        attempts: int = 10,
        client_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """`addresses`: node id -> the address clients dial it at."""
        assert addresses, "a KV client needs at least one node address"
        self.addresses = dict(addresses)
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.client_id = client_id or uuid.uuid4().hex
        self._seq = itertools.count(1)
        self._rng = rng or random.Random()
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._order = sorted(self.addresses)
        self.leader: str | None = None

    @classmethod
    def for_topology(cls, topology: Topology, group: str = "kv", **kw: Any) -> KvClient:
        nodes = topology.group_nodes(group)
        return cls({n.id: topology.client_address(n.id) for n in nodes}, **kw)

    async def __aenter__(self) -> KvClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    # -- operations -------------------------------------------------------------------------

    async def put(
        self, key: str, value: bytes, fence: tuple[str, int] | None = None
    ) -> kv_pb2.PutResponse:
        req = kv_pb2.PutRequest(key=key, value=value, session=self._session())
        if fence is not None:
            req.fence.name, req.fence.token = fence
        return await self._leader_call(lambda s: s.Put(req, timeout=self.timeout_s))

    async def delete(self, key: str) -> kv_pb2.DeleteResponse:
        req = kv_pb2.DeleteRequest(key=key, session=self._session())
        return await self._leader_call(lambda s: s.Delete(req, timeout=self.timeout_s))

    async def cas(
        self, key: str, expected_version: int, value: bytes
    ) -> kv_pb2.CompareAndSwapResponse:
        req = kv_pb2.CompareAndSwapRequest(
            key=key, expected_version=expected_version, value=value, session=self._session()
        )
        return await self._leader_call(lambda s: s.CompareAndSwap(req, timeout=self.timeout_s))

    async def get(
        self, key: str, consistency: int = LINEARIZABLE, node: str | None = None
    ) -> kv_pb2.GetResponse:
        req = kv_pb2.GetRequest(key=key, consistency=consistency)

        def call(stub: kv_pb2_grpc.KVStub) -> Awaitable[kv_pb2.GetResponse]:
            response: Awaitable[kv_pb2.GetResponse] = stub.Get(req, timeout=self.timeout_s)
            return response

        return await (call(self._stub(node)) if node else self._leader_call(call))

    async def range(
        self, prefix: str, limit: int = 0, consistency: int = LINEARIZABLE
    ) -> kv_pb2.RangeResponse:
        req = kv_pb2.RangeRequest(prefix=prefix, limit=limit, consistency=consistency)
        return await self._leader_call(lambda s: s.Range(req, timeout=self.timeout_s))

    async def watch(self, prefix: str, start_revision: int = 0) -> AsyncIterator[kv_pb2.WatchEvent]:
        """Events from one node (the leader if known); the stream ends if that node dies."""
        node = self.leader or self._order[0]
        req = kv_pb2.WatchRequest(prefix=prefix, start_revision=start_revision)
        async for event in self._stub(node).Watch(req):
            yield event

    # -- the retry loop ---------------------------------------------------------------------

    def _session(self) -> kv_pb2.Session:
        return kv_pb2.Session(client_id=self.client_id, seq=next(self._seq))

    def _stub(self, node: str) -> kv_pb2_grpc.KVStub:
        channel = self._channels.get(node)
        if channel is None:
            channel = grpc.aio.insecure_channel(self.addresses[node], options=CHANNEL_OPTIONS)
            self._channels[node] = channel
        return kv_pb2_grpc.KVStub(channel)

    async def _leader_call(self, call: Callable[[kv_pb2_grpc.KVStub], Awaitable[T]]) -> T:
        last: grpc.aio.AioRpcError | None = None
        for attempt in range(self.attempts):
            node = self.leader or self._order[attempt % len(self._order)]
            try:
                result = await call(self._stub(node))
            except grpc.aio.AioRpcError as e:
                last = e
                if is_not_leader(e):
                    hint = _metadata(e).get("leader-id")
                    self.leader = hint if hint in self.addresses and hint != node else None
                    if self.leader is None:
                        self._order.append(self._order.pop(0))
                        await self._backoff(attempt)
                    continue
                if e.code() not in RETRYABLE:
                    raise
                self.leader = None
                self._order.append(self._order.pop(0))
                await self._backoff(attempt)
                continue
            self.leader = node
            return result
        assert last is not None
        raise last

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))


class SyncKvClient:
    """The KV client for scripts: the same calls, blocking, on a private event loop."""

    def __init__(self, addresses: dict[str, str], **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = KvClient(addresses, **kw)

    @classmethod
    def for_topology(cls, topology: Topology, group: str = "kv", **kw: Any) -> SyncKvClient:
        nodes = topology.group_nodes(group)
        return cls({n.id: topology.client_address(n.id) for n in nodes}, **kw)

    def __enter__(self) -> SyncKvClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        return blocking
