"""`faultlab.kv.v1.KV`: requests validated, writes proposed through Raft, reads served at
the consistency asked for. Failures are raised from the error tree and become statuses at
the runtime's one edge (services/runtime/status.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from services.kv import commands
from services.kv.state import Event, KvState, Record
from services.replicated import ReplicatedGroup
from services.runtime.errors import Fenced, InvalidArgument, OutOfRange, SlowConsumer

WATCH_QUEUE = 1024


class KvServicer(kv_pb2_grpc.KVServicer):  # type: ignore[misc]
    def __init__(self, group: ReplicatedGroup) -> None:
        self._group = group
        state = group.node.state_machine
        assert isinstance(state, KvState)
        self._state = state

    # -- writes -----------------------------------------------------------------------------

    async def Put(
        self, request: kv_pb2.PutRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.PutResponse:
        commands.check_key(request.key)
        commands.check_value(request.value)
        cmd = {"op": "put", "key": request.key, "value": request.value}
        result = await self._write(cmd, request, context)
        return kv_pb2.PutResponse(
            revision=result["revision"], kv=_kv(request.key, result["record"])
        )

    async def Append(
        self, request: kv_pb2.AppendRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.AppendResponse:
        commands.check_key(request.key)
        commands.check_value(request.value)
        cmd = {"op": "append", "key": request.key, "value": request.value}
        result = await self._write(cmd, request, context)
        if result.get("error") == "too_large":
            raise InvalidArgument(
                f"the value would be {result['size']} bytes; the limit is "
                f"{commands.MAX_VALUE_BYTES}. Nothing was appended"
            )
        return kv_pb2.AppendResponse(
            revision=result["revision"], kv=_kv(request.key, result["record"])
        )

    async def Delete(
        self, request: kv_pb2.DeleteRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.DeleteResponse:
        commands.check_key(request.key)
        result = await self._write({"op": "del", "key": request.key}, request, context)
        return kv_pb2.DeleteResponse(deleted=result["deleted"], revision=result["revision"])

    async def CompareAndSwap(
        self, request: kv_pb2.CompareAndSwapRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.CompareAndSwapResponse:
        commands.check_key(request.key)
        commands.check_value(request.value)
        if request.expected_version < 0:
            raise InvalidArgument("expected_version must be >= 0 (0: the key must not exist)")
        cmd = {"op": "cas", "key": request.key, "value": request.value,
               "expected_version": request.expected_version}  # fmt: skip
        result = await self._write(cmd, request, context)
        record = result["record"]
        return kv_pb2.CompareAndSwapResponse(
            succeeded=result["succeeded"], revision=result["revision"],
            kv=_kv(request.key, record) if record else None, found=record is not None,
        )  # fmt: skip

    async def _write(
        self, cmd: dict[str, Any], request: Any, context: grpc.aio.ServicerContext
    ) -> dict[str, Any]:
        """Propose a write with the request's session and fence; refusals become errors."""
        if request.HasField("session"):
            if not request.session.client_id or request.session.seq == 0:
                raise InvalidArgument("a session needs a client_id and a seq >= 1")
            cmd["session"] = [request.session.client_id, request.session.seq]
        if request.HasField("fence"):
            commands.check_key(request.fence.name, "fence name")
            cmd["fence"] = [request.fence.name, request.fence.token]
        applied = await self._group.propose(commands.encode(cmd), context)
        assert isinstance(applied, dict)
        result: dict[str, Any] = applied
        if result.get("error") == "stale_session":
            raise InvalidArgument(
                f"session seq {request.session.seq} is below the last applied, {result['last_seq']}"
            )
        if result.get("error") == "fenced":
            raise Fenced(
                f"fencing token {request.fence.token} for {request.fence.name!r} is below "
                f"the highest seen, {result['highest_token']}; nothing was written",
                highest_token=str(result["highest_token"]),
            )
        return result

    # -- reads ------------------------------------------------------------------------------

    async def Get(
        self, request: kv_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.GetResponse:
        commands.check_key(request.key)
        await self._ready_to_read(request.consistency, context)
        record = self._state.get(request.key)
        return kv_pb2.GetResponse(
            found=record is not None, kv=_kv(request.key, record) if record else None,
            revision=self._state.revision, served_by=self._group.node_id,
        )  # fmt: skip

    async def Range(
        self, request: kv_pb2.RangeRequest, context: grpc.aio.ServicerContext
    ) -> kv_pb2.RangeResponse:
        commands.check_prefix(request.prefix)
        limit = commands.range_limit(request.limit)
        await self._ready_to_read(request.consistency, context)
        items, more = self._state.range(request.prefix, limit)
        return kv_pb2.RangeResponse(
            kvs=[_kv(k, r) for k, r in items], more=more, revision=self._state.revision
        )

    async def _ready_to_read(self, consistency: int, context: grpc.aio.ServicerContext) -> None:
        if consistency == kv_pb2.LINEARIZABLE:
            await self._group.linearizable_read(context)
        elif consistency == kv_pb2.LEASE:
            self._group.lease_read()
        elif consistency != kv_pb2.STALE:
            raise InvalidArgument(f"unknown consistency {consistency}")

    async def Watch(
        self, request: kv_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[kv_pb2.WatchEvent]:
        commands.check_prefix(request.prefix)
        queue: asyncio.Queue[Event | None] = asyncio.Queue(WATCH_QUEUE)

        def listener(event: Event) -> None:
            if queue.full():
                self._state.listeners.discard(listener)
                queue.put_nowait(None)  # too slow: the watch ends rather than skip events
            elif event.key.startswith(request.prefix):
                queue.put_nowait(event)

        backlog: list[Event] = []
        if request.start_revision > 0:
            replay = self._state.events_after(request.start_revision - 1)
            if replay is None:
                raise OutOfRange(
                    f"revision {request.start_revision} is older than this node's history"
                )
            backlog = [e for e in replay or [] if e.key.startswith(request.prefix)]
        self._state.listeners.add(listener)
        try:
            for past in backlog:
                yield _event(past)
            while True:
                event = await queue.get()
                if event is None:
                    raise SlowConsumer("this watcher fell too far behind; watch again")
                yield _event(event)
        finally:
            self._state.listeners.discard(listener)


def _kv(key: str, record: Record | list[Any]) -> kv_pb2.KeyValue:
    if isinstance(record, Record):
        value, version, create, mod = (
            record.value, record.version, record.create_revision, record.mod_revision,
        )  # fmt: skip
    else:
        value, version, create, mod = record
    return kv_pb2.KeyValue(
        key=key, value=value, version=version, create_revision=create, mod_revision=mod
    )


def _event(e: Event) -> kv_pb2.WatchEvent:
    kind = kv_pb2.WatchEvent.DELETE if e.deleted else kv_pb2.WatchEvent.PUT
    return kv_pb2.WatchEvent(type=kind, kv=_kv(e.key, e.record), revision=e.revision)
