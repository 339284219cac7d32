"""etcd's lock and election recipes (its client's concurrency package), run by a KV node
for v3lock and v3election over this node's own etcd API, as an etcd member runs them
over its in-process client: every step a KV request or a watch, so they behave exactly
as a client's Mutex and Election do, forwarding and all.

A candidate's key is PREFIX/<lease id in hex>, put with its lease if it does not exist;
its create revision is its place in line. It holds once no key of the prefix has a lower
create revision: it waits for the deletion of the newest such key, again and again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from etcdapi.mvccpb import kv_pb2 as mvccpb

from services.kv.mvcc import prefix_end
from services.runtime import tls
from services.runtime.grpc_options import CHANNEL_OPTIONS

Compare = rpc_pb2.Compare
RangeRequest = rpc_pb2.RangeRequest


class Recipes:
    """The recipes over one etcd endpoint (this node's own)."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._channel: grpc.aio.Channel | None = None

    def _stubs(self) -> tuple[rpc_pb2_grpc.KVStub, rpc_pb2_grpc.WatchStub]:
        if self._channel is None:
            self._channel = tls.aio_channel(self._address, options=CHANNEL_OPTIONS)
        return rpc_pb2_grpc.KVStub(self._channel), rpc_pb2_grpc.WatchStub(self._channel)

    # -- the steps ------------------------------------------------------------------------

    async def join(self, prefix: bytes, lease: int, value: bytes) -> tuple[bytes, int, bool]:
        """Put PREFIX/<lease> with `value` unless it exists: (key, create revision, whether
        it existed already with another value)."""
        key = prefix + b"%x" % lease
        kv, _ = self._stubs()
        absent = Compare(key=key, target=Compare.CREATE, result=Compare.EQUAL, create_revision=0)
        put = rpc_pb2.PutRequest(key=key, value=value, lease=lease)
        txn = rpc_pb2.TxnRequest(
            compare=[absent],
            success=[rpc_pb2.RequestOp(request_put=put)],
            failure=[rpc_pb2.RequestOp(request_range=RangeRequest(key=key))],
        )
        answer = await kv.Txn(txn)
        if answer.succeeded:
            return key, answer.header.revision, False
        existing = answer.responses[0].response_range.kvs[0]
        return key, existing.create_revision, existing.value != value

    async def wait_turn(self, prefix: bytes, revision: int) -> rpc_pb2.ResponseHeader:
        """Until no key of the prefix was created before `revision`."""
        kv, _ = self._stubs()
        while True:
            newest_before = RangeRequest(
                key=prefix,
                range_end=prefix_end(prefix),
                sort_target=RangeRequest.CREATE,
                sort_order=RangeRequest.DESCEND,
                limit=1,
                max_create_revision=revision - 1,
            )
            answer = await kv.Range(newest_before)
            if not answer.kvs:
                return answer.header
            await self._deleted(answer.kvs[0].key, answer.header.revision)

    async def _deleted(self, key: bytes, revision: int) -> None:
        async for event in self.changes(key, revision):
            if event.type == mvccpb.Event.DELETE:
                return

    async def changes(
        self, key: bytes, revision: int, prefix: bool = False
    ) -> AsyncIterator[mvccpb.Event]:
        """Every change of `key` (or of every key it prefixes) from `revision` on."""
        _, watch = self._stubs()
        end = prefix_end(key) if prefix else b""
        create = rpc_pb2.WatchCreateRequest(key=key, range_end=end, start_revision=revision)
        async for response in watch.Watch(_held_open(rpc_pb2.WatchRequest(create_request=create))):
            if response.canceled:
                raise RuntimeError(f"the watch of {key!r} was canceled: {response.cancel_reason}")
            for event in response.events:
                yield event

    async def first(self, prefix: bytes) -> rpc_pb2.RangeResponse:
        """The key of the prefix created first: the holder, the leader."""
        kv, _ = self._stubs()
        oldest = RangeRequest(
            key=prefix,
            range_end=prefix_end(prefix),
            sort_target=RangeRequest.CREATE,
            sort_order=RangeRequest.ASCEND,
            limit=1,
        )
        answer: rpc_pb2.RangeResponse = await kv.Range(oldest)
        return answer

    async def exists(self, key: bytes) -> bool:
        kv, _ = self._stubs()
        return bool((await kv.Range(RangeRequest(key=key, count_only=True))).count)

    async def if_created_at(
        self, key: bytes, revision: int, then: rpc_pb2.RequestOp
    ) -> rpc_pb2.TxnResponse:
        """`then`, if `key` still has the create revision it had: etcd's fencing compare."""
        kv, _ = self._stubs()
        same = Compare(
            key=key, target=Compare.CREATE, result=Compare.EQUAL, create_revision=revision
        )
        answer: rpc_pb2.TxnResponse = await kv.Txn(
            rpc_pb2.TxnRequest(compare=[same], success=[then])
        )
        return answer

    async def delete(self, key: bytes) -> rpc_pb2.DeleteRangeResponse:
        kv, _ = self._stubs()
        answer: rpc_pb2.DeleteRangeResponse = await kv.DeleteRange(
            rpc_pb2.DeleteRangeRequest(key=key)
        )
        return answer


async def _held_open(request: rpc_pb2.WatchRequest) -> AsyncIterator[rpc_pb2.WatchRequest]:
    """`request`, then nothing more, without closing: a watch stream whose client closes
    its side ends, as etcd's does."""
    yield request
    await asyncio.Event().wait()
