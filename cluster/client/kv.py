"""The KV client: the leader-following `GroupCaller` plus the KV calls.

    async with KvClient.for_topology(topology) as kv:
        await kv.put("k", b"v")
        resp = await kv.get("k")

Every write carries a session, so the caller's retries are safe (`sessions=False` turns
that off, to show what goes wrong without it); every call has a timeout. A write may carry
a fence (lock name, token); `kv.fenced(name, token)` is a view that fences every write.
Failures are `grpc.aio.AioRpcError`s; `cluster.client.errors` reads their reason and
whether they are definite.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from cluster.client.base import Client
from cluster.client.call import Session
from cluster.client.stubs import stub
from services.runtime.topology import Topology

T = TypeVar("T")

LINEARIZABLE = kv_pb2.LINEARIZABLE
LEASE = kv_pb2.LEASE
STALE = kv_pb2.STALE

KV_GROUP = "kv"  # the Raft group the KV service runs
Fence = tuple[str, int]  # (lock name, fencing token)


class KvClient(Client):
    TOPOLOGY_GROUP = "kv"

    def __init__(
        self,
        addresses: dict[str, str],
        *,
        client_id: str | None = None,
        sessions: bool = True,
        **kw: Any,
    ) -> None:
        """`addresses`: node id -> the address clients dial it at. `sessions=False`: writes
        carry no session, so a retry of a write that did land applies it again. The rest:
        `Client`'s (timeout_s, attempts, rng, leaders, interceptors, via_gateway)."""
        super().__init__(addresses, **kw)
        self.session = Session(client_id)
        self.sessions = sessions
        self._caller = self.caller(KV_GROUP)

    @property
    def client_id(self) -> str:
        return self.session.client_id

    @property
    def leader(self) -> str | None:
        return self._caller.leader

    # -- operations -------------------------------------------------------------------------

    async def put(self, key: str, value: bytes, fence: Fence | None = None) -> kv_pb2.PutResponse:
        with self._session() as session:
            req = kv_pb2.PutRequest(key=key, value=value, session=session, fence=fence_of(fence))
            return await self._leader_call(lambda s: s.Put(req, timeout=self.timeout_s))

    async def append(
        self, key: str, value: bytes, fence: Fence | None = None
    ) -> kv_pb2.AppendResponse:
        """Add `value` to the end of the key's value: not idempotent without a session."""
        with self._session() as session:
            req = kv_pb2.AppendRequest(key=key, value=value, session=session, fence=fence_of(fence))
            return await self._leader_call(lambda s: s.Append(req, timeout=self.timeout_s))

    async def delete(self, key: str, fence: Fence | None = None) -> kv_pb2.DeleteResponse:
        with self._session() as session:
            req = kv_pb2.DeleteRequest(key=key, session=session, fence=fence_of(fence))
            return await self._leader_call(lambda s: s.Delete(req, timeout=self.timeout_s))

    async def cas(
        self, key: str, expected_version: int, value: bytes, fence: Fence | None = None
    ) -> kv_pb2.CompareAndSwapResponse:
        with self._session() as session:
            req = kv_pb2.CompareAndSwapRequest(
                key=key,
                expected_version=expected_version,
                value=value,
                session=session,
                fence=fence_of(fence),
            )
            return await self._leader_call(lambda s: s.CompareAndSwap(req, timeout=self.timeout_s))

    async def batch(
        self, ops: Sequence[kv_pb2.WriteOp], session: Session | None = None
    ) -> kv_pb2.BatchResponse:
        """Many writes in one request (KV.Batch): a result or a refusal per op, in order.
        The batch carries a session (`session`, default this client's), so a retry
        applies nothing twice. `BatchingKv` builds batches from concurrent calls."""
        with self._session(session) as batch_session:
            req = kv_pb2.BatchRequest(ops=ops, session=batch_session)
            return await self._leader_call(lambda s: s.Batch(req, timeout=self.timeout_s))

    def fenced(self, name: str, token: int) -> FencedKv:
        """This client with the lock `name`'s `token` attached to every write."""
        return FencedKv(self, (name, token))

    async def get(
        self, key: str, consistency: int = LINEARIZABLE, node: str | None = None
    ) -> kv_pb2.GetResponse:
        """From the leader; or, with `node`, from that node alone (no retries, no redirects)."""
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
        node = self.leader or sorted(self._caller.addresses)[0]
        req = kv_pb2.WatchRequest(prefix=prefix, start_revision=start_revision)
        async for event in self._stub(node).Watch(req):
            yield event

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self, session: Session | None = None) -> Iterator[kv_pb2.Session | None]:
        """The session numbers of one write, for as long as it may be retried."""
        if not self.sessions:
            yield None
            return
        session = session or self.session
        with session.write() as (seq, first_unanswered):
            yield kv_pb2.Session(
                client_id=session.client_id, seq=seq, first_unanswered=first_unanswered
            )

    def _stub(self, node: str) -> kv_pb2_grpc.KVStub:
        return stub(self._caller.channel(node), kv_pb2_grpc.KVStub)

    async def _leader_call(self, call: Callable[[kv_pb2_grpc.KVStub], Awaitable[T]]) -> T:
        return await self._caller.call(lambda channel: call(stub(channel, kv_pb2_grpc.KVStub)))


class FencedKv:
    """A KV client whose every write carries one fence: a lock's name and token.

    async with session.lock("orders") as token:
        store = kv.fenced("orders", token)
        await store.put("balance", b"10")   # refused (FENCED) once a newer holder wrote
    """

    def __init__(self, kv: KvClient, fence: Fence) -> None:
        self.kv = kv
        self.fence = fence

    async def put(self, key: str, value: bytes) -> kv_pb2.PutResponse:
        return await self.kv.put(key, value, self.fence)

    async def append(self, key: str, value: bytes) -> kv_pb2.AppendResponse:
        return await self.kv.append(key, value, self.fence)

    async def delete(self, key: str) -> kv_pb2.DeleteResponse:
        return await self.kv.delete(key, self.fence)

    async def cas(
        self, key: str, expected_version: int, value: bytes
    ) -> kv_pb2.CompareAndSwapResponse:
        return await self.kv.cas(key, expected_version, value, self.fence)

    async def get(self, key: str, consistency: int = LINEARIZABLE) -> kv_pb2.GetResponse:
        return await self.kv.get(key, consistency)


def fence_of(fence: Fence | None) -> kv_pb2.Fence | None:
    return kv_pb2.Fence(name=fence[0], token=fence[1]) if fence else None


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
