"""`faultlab.kv.v1.KV`: requests validated, writes proposed through Raft, reads served at
the consistency asked for. Failures are raised from the error tree and become statuses at
the runtime's one edge (services/runtime/status.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from services.kv import commands, writes
from services.kv.commands import Batch, KvCommand
from services.kv.mvcc import Change
from services.kv.results import BatchApplied, KvResult
from services.kv.state import KvState, text
from services.replicated import ReplicatedGroup
from services.replicated.refusal import Refusal
from services.replicated.watch_relay import relay
from services.runtime import status
from services.runtime.errors import InvalidArgument, OutOfRange, ServiceError

MAX_BATCH_OPS = 1000


class KvServicer(kv_pb2_grpc.KVServicer):  # type: ignore[misc]
    def __init__(self, group: ReplicatedGroup[KvState]) -> None:
        self._group = group
        self._state = group.state

    # -- writes -----------------------------------------------------------------------------

    async def Put(
        self, request: kv_pb2.PutRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.PutResponse:
        return await self._write(request, context)

    async def Append(
        self, request: kv_pb2.AppendRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.AppendResponse:
        return await self._write(request, context)

    async def Delete(
        self, request: kv_pb2.DeleteRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.DeleteResponse:
        return await self._write(request, context)

    async def CompareAndSwap(
        self, request: kv_pb2.CompareAndSwapRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.CompareAndSwapResponse:
        return await self._write(request, context)

    async def _write(self, request: writes.Request, context: grpc.aio.ServicerContext) -> Any:
        """Propose one write with its session and fence; a refusal becomes its error."""
        applied = await self._propose(writes.command(request), context)
        return writes.response(request, applied)

    async def _propose(self, cmd: KvCommand, context: grpc.aio.ServicerContext) -> KvResult:
        applied = await self._group.propose(commands.encode(cmd), context)
        return cast(KvResult, applied)  # what KvState.apply returns

    async def Batch(
        self, request: kv_pb2.BatchRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.BatchResponse:
        ops = _batch_ops(request)
        cmds = []
        for i, (_, op) in enumerate(ops):
            try:
                cmds.append(writes.command(op))
            except InvalidArgument as e:
                raise InvalidArgument(f"op {i}: {e.message}; no op was applied") from None
        batch = Batch(tuple(cmds), session=writes.session_of(request))
        applied = await self._propose(batch, context)
        if isinstance(applied, Refusal):  # the batch's own session was stale
            raise applied.error()
        assert isinstance(applied, BatchApplied), applied
        results = []
        for (kind, op), result in zip(ops, applied.results, strict=True):
            try:
                results.append(kv_pb2.WriteResult(**{kind: writes.response(op, result)}))
            except ServiceError as refused:
                results.append(kv_pb2.WriteResult(error=status.to_rpc_status(refused)))
        return kv_pb2.BatchResponse(results=results)

    # -- reads ------------------------------------------------------------------------------

    async def Get(
        self, request: kv_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.GetResponse:
        commands.check_key(request.key)
        await self._ready_to_read(request.consistency, context)
        record = self._state.get(request.key)
        return kv_pb2.GetResponse(
            found=record is not None,
            kv=writes.to_kv(request.key, record) if record else None,
            revision=self._state.revision,
            served_by=self._group.node_id,
        )

    async def Range(
        self, request: kv_pb2.RangeRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.RangeResponse:
        commands.check_prefix(request.prefix)
        limit = commands.range_limit(request.limit)
        await self._ready_to_read(request.consistency, context)
        items, more = self._state.range(request.prefix, limit)
        return kv_pb2.RangeResponse(
            kvs=[writes.to_kv(k, r) for k, r in items], more=more, revision=self._state.revision
        )

    async def _ready_to_read(self, consistency: int, context: grpc.aio.ServicerContext) -> None:
        if consistency == kv_pb2.LINEARIZABLE:
            await self._group.linearizable_read(context)
        elif consistency == kv_pb2.LEASE:
            await self._group.linearizable_read(context, lease=True)
        elif consistency != kv_pb2.STALE:
            raise InvalidArgument(f"unknown consistency {consistency}")

    async def Watch(
        self, request: kv_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[kv_pb2.WatchEvent]:
        commands.check_prefix(request.prefix)
        if request.start_revision < 0:
            raise InvalidArgument(
                f"start_revision {request.start_revision} is negative; 0 watches from now on"
            )
        prefix = request.prefix.encode()
        backlog: list[Change] = []
        if request.start_revision > 0:
            replay = self._state.changes_after(request.start_revision - 1)
            if replay is None:
                raise OutOfRange(
                    f"revision {request.start_revision} is older than this node's history"
                )
            backlog = [c for c in replay if c.key.startswith(prefix)]
        # No await from reading the backlog to the relay's listener: no change between.
        async for event in relay(
            self._state.listeners,
            lambda c: c.key.startswith(prefix),
            _event,
            [_event(e) for e in backlog],
        ):
            yield event


def _event(c: Change) -> kv_pb2.WatchEvent:
    """A change as faultlab's Watch shows it: a delete carries the key's last record."""
    kind = kv_pb2.WatchEvent.DELETE if c.deleted else kv_pb2.WatchEvent.PUT
    record = c.prev if c.record is None else c.record
    assert record is not None  # a delete always replaced a record
    return kv_pb2.WatchEvent(type=kind, kv=writes.to_kv(text(c.key), record), revision=c.revision)


def _batch_ops(request: kv_pb2.BatchRequest) -> list[tuple[str, writes.Request]]:
    count = len(request.ops)
    if not 1 <= count <= MAX_BATCH_OPS:
        raise InvalidArgument(f"a batch holds 1..{MAX_BATCH_OPS} ops, not {count}")
    ops = []
    for i, op in enumerate(request.ops):
        kind = op.WhichOneof("op")
        if kind is None:
            raise InvalidArgument(f"op {i} names no write; no op was applied")
        ops.append((kind, getattr(op, kind)))
    return ops
