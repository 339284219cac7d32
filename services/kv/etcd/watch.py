"""etcdserverpb.Watch on a KV node: one bidi stream carries many watchers (create, cancel,
progress requests in; created, events, canceled and progress responses out), served from
this node's own copy of the store, as an etcd member serves its watches, whether it leads
or not.

As etcd answers them: watch ids are the stream's own, from 0, unless the client picks
one; a create that cannot be served (an empty range, an id in use) is answered created
and canceled at once, with etcd's reason; a cancel of an unknown id is ignored; a
progress request is answered with the current revision and watch id -1. A stream whose
client asked that a leader exist (etcd's "hasleader" metadata, which etcdctl and the Go
client send) ends with "etcdserver: no leader" once this node has had no leader for
NO_LEADER_S, as etcd's leader monitor ends them; so a watcher on a cut-off member learns
it, instead of waiting on a copy that no longer moves.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import grpc
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from services.kv.etcd import errors
from services.kv.etcd.door import Door
from services.kv.etcd.watcher import DUPLICATE_ID, EMPTY_RANGE, Wanted, Watcher, empty_range

REQUIRE_LEADER = ("hasleader", "true")
NO_LEADER_S = 3.0  # about three election timeouts, as etcd's monitor waits
PROGRESS_ENV = "FAULTLAB_ETCD_PROGRESS_NOTIFY_S"  # etcd's default interval: 10 minutes
INVALID_WATCH_ID = -1


class EtcdWatch(rpc_pb2_grpc.WatchServicer):  # type: ignore[misc]
    def __init__(self, door: Door) -> None:
        self._door = door

    async def Watch(
        self,
        requests: AsyncIterator[rpc_pb2.WatchRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        stream = WatchStream(self._door, _requires_leader(context))
        async for response in stream.serve(requests):
            yield response


class WatchStream:
    def __init__(self, door: Door, requires_leader: bool) -> None:
        self._door = door
        self._requires_leader = requires_leader
        self._out: asyncio.Queue[rpc_pb2.WatchResponse | BaseException | None] = asyncio.Queue()
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._next_id = 0
        self._progress_s = float(os.environ.get(PROGRESS_ENV, "600"))

    async def serve(
        self, requests: AsyncIterator[rpc_pb2.WatchRequest]
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        reader = asyncio.create_task(self._read(requests))
        monitor = asyncio.create_task(self._monitor_leader()) if self._requires_leader else None
        try:
            while True:
                item = await self._out.get()
                if item is None:
                    return  # the client closed its side: so does etcd
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            tasks = [reader, *self._watchers.values(), *([monitor] if monitor else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, requests: AsyncIterator[rpc_pb2.WatchRequest]) -> None:
        try:
            async for request in requests:
                kind = request.WhichOneof("request_union")
                if kind == "create_request":
                    self._create(request.create_request)
                elif kind == "cancel_request":
                    await self._cancel(request.cancel_request.watch_id)
                elif kind == "progress_request":
                    self._send(rpc_pb2.WatchResponse(watch_id=INVALID_WATCH_ID))
        except Exception as e:  # the stream broke: end the response side with it
            self._out.put_nowait(e)
            return
        self._out.put_nowait(None)

    def _create(self, create: rpc_pb2.WatchCreateRequest) -> None:
        if empty_range(create):  # refused before an id is given, as etcd refuses it
            self._refuse(EMPTY_RANGE)
            return
        watch_id = create.watch_id
        if watch_id == 0:  # etcd's AutoWatchID: the next free one
            while self._next_id in self._watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        elif watch_id in self._watchers:
            self._refuse(DUPLICATE_ID)
            return
        watcher = Watcher(watch_id, Wanted.of(create), self._door.state)
        self._send(rpc_pb2.WatchResponse(watch_id=watch_id, created=True))
        self._watchers[watch_id] = asyncio.create_task(self._relay(watcher, create.progress_notify))

    def _refuse(self, reason: str) -> None:
        self._send(
            rpc_pb2.WatchResponse(
                watch_id=INVALID_WATCH_ID, created=True, canceled=True, cancel_reason=reason
            )
        )

    async def _relay(self, watcher: Watcher, progress_notify: bool) -> None:
        responses = watcher.responses()
        timeout = self._progress_s if progress_notify else None
        next_response = asyncio.ensure_future(anext(responses))
        try:
            while True:
                done, _ = await asyncio.wait({next_response}, timeout=timeout)
                if not done:  # quiet for a whole interval: tell it how far the store is
                    self._send(rpc_pb2.WatchResponse(watch_id=watcher.watch_id))
                    continue
                try:
                    response = next_response.result()
                except StopAsyncIteration:
                    self._watchers.pop(watcher.watch_id, None)  # compacted: it ended
                    return
                self._send(response, revision=response.header.revision)
                next_response = asyncio.ensure_future(anext(responses))
        finally:
            next_response.cancel()
            await asyncio.gather(next_response, return_exceptions=True)
            await responses.aclose()

    async def _cancel(self, watch_id: int) -> None:
        task = self._watchers.pop(watch_id, None)
        if task is None:
            return  # etcd ignores a cancel it cannot match
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._send(rpc_pb2.WatchResponse(watch_id=watch_id, canceled=True))

    async def _monitor_leader(self) -> None:
        group = self._door.group
        last_led = time.monotonic()
        while True:
            if group.leader_id:
                last_led = time.monotonic()
            elif time.monotonic() - last_led >= NO_LEADER_S:
                self._out.put_nowait(errors.NO_LEADER)
                return
            await asyncio.sleep(NO_LEADER_S / 10)

    def _send(self, response: rpc_pb2.WatchResponse, revision: int | None = None) -> None:
        self._out.put_nowait(self._door.header(response, revision))


def _requires_leader(context: grpc.aio.ServicerContext) -> bool:
    return any((k, v) == REQUIRE_LEADER for k, v in context.invocation_metadata() or ())
