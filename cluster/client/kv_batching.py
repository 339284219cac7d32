"""`BatchingKv`: KV writes from many concurrent callers, carried in `KV.Batch` requests.

    async with BatchingKv(kv) as store:
        await asyncio.gather(*(store.put(f"k{i}", b"v") for i in range(64)))

What a client with many writes in flight uses instead of one unary call each: a request
costs far more than a write here (docs/performance.md), so concurrent writes share one.
Each call is answered as the unary call would be: its response, or the very error the
unary call would have raised (a refused op's google.rpc.Status becomes an AioRpcError
that `cluster.client.errors` reads the same way; a failed request fails all its ops).

One batch is in flight at a time (`Gatherer`), and every batch carries this object's own
session, so its sequence numbers reach the store in order and a retried batch applies
nothing twice, even when it did land the first time.
"""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from faultlab.kv.v1 import kv_pb2

from cluster.client import errors
from cluster.client.call import Session
from cluster.client.gathering import Gatherer
from cluster.client.kv import Fence, KvClient, fence_of

MAX_BATCH = 1000  # ops per request: the server takes at most this many
R = TypeVar("R")


class BatchingKv:
    def __init__(self, kv: KvClient, *, max_batch: int = MAX_BATCH) -> None:
        self.kv = kv
        self.session = Session()
        self._gatherer: Gatherer[kv_pb2.WriteOp, Any] = Gatherer(self._send, max_batch)

    @property
    def requests(self) -> int:
        """Batch requests sent, for whoever wants to see the gathering."""
        return self._gatherer.requests

    async def __aenter__(self) -> BatchingKv:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop sending; writes still queued fail with CancelledError."""
        await self._gatherer.close()

    async def put(self, key: str, value: bytes, fence: Fence | None = None) -> kv_pb2.PutResponse:
        op = kv_pb2.PutRequest(key=key, value=value, fence=fence_of(fence))
        return await self._submit(kv_pb2.WriteOp(put=op), kv_pb2.PutResponse)

    async def append(
        self, key: str, value: bytes, fence: Fence | None = None
    ) -> kv_pb2.AppendResponse:
        op = kv_pb2.AppendRequest(key=key, value=value, fence=fence_of(fence))
        return await self._submit(kv_pb2.WriteOp(append=op), kv_pb2.AppendResponse)

    async def delete(self, key: str, fence: Fence | None = None) -> kv_pb2.DeleteResponse:
        op = kv_pb2.DeleteRequest(key=key, fence=fence_of(fence))
        return await self._submit(kv_pb2.WriteOp(delete=op), kv_pb2.DeleteResponse)

    async def cas(
        self, key: str, expected_version: int, value: bytes, fence: Fence | None = None
    ) -> kv_pb2.CompareAndSwapResponse:
        op = kv_pb2.CompareAndSwapRequest(
            key=key, expected_version=expected_version, value=value, fence=fence_of(fence)
        )
        return await self._submit(
            kv_pb2.WriteOp(compare_and_swap=op), kv_pb2.CompareAndSwapResponse
        )

    async def _submit(self, op: kv_pb2.WriteOp, answer: type[R]) -> R:
        result = await self._gatherer.submit(op)
        assert isinstance(result, answer)
        return result

    async def _send(self, ops: list[kv_pb2.WriteOp]) -> list[Any]:
        resp = await self.kv.batch(ops, self.session)
        return [_answer(result) for result in resp.results]


def _answer(result: kv_pb2.WriteResult) -> Any:
    """An op's response, or the error its refusal raises."""
    kind = result.WhichOneof("result")
    if kind == "error":
        error: grpc.aio.AioRpcError = errors.from_status(result.error)
        return error
    return getattr(result, kind)
