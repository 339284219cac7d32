"""One etcd watcher: the changes to a key range from a start revision on, as etcd's
WatchResponses, first from history, then live as the state machine applies them.

A watcher that falls behind is not cut off, as etcd's are not: when its queue fills it
stops listening, and once it has sent what it holds it catches up from the store's
history where it stopped (etcd's "unsynced" watchers do the same). Only a start, or a
catch-up, that history no longer reaches ends it: a response with compact_revision set
and the watch canceled, exactly as etcd answers it.

Every response groups whole revisions: all events of one txn travel together.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass

from etcdapi.etcdserverpb import rpc_pb2
from etcdapi.mvccpb import kv_pb2 as mvccpb

from services.kv.etcd.checks import MAX_REQUEST_BYTES
from services.kv.etcd.txn import key_value
from services.kv.mvcc import Change, CompactedRevision, KeyRange
from services.kv.state import KvState

QUEUE = 4096  # changes held for a watcher before it falls back to catching up
NOPUT = rpc_pb2.WatchCreateRequest.NOPUT
NODELETE = rpc_pb2.WatchCreateRequest.NODELETE
EMPTY_RANGE = "mvcc: watcher range is empty"  # etcd's ErrEmptyWatcherRange
DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"


@dataclass(frozen=True)
class Wanted:
    """What a create request asks for."""

    keys: KeyRange
    start_revision: int  # 0: from the next revision on
    prev_kv: bool
    no_put: bool
    no_delete: bool
    fragment: bool

    @classmethod
    def of(cls, create: rpc_pb2.WatchCreateRequest) -> Wanted:
        return cls(
            KeyRange(create.key, create.range_end),
            create.start_revision,
            create.prev_kv,
            NOPUT in create.filters,
            NODELETE in create.filters,
            create.fragment,
        )

    def __contains__(self, change: Change) -> bool:
        if change.key not in self.keys:
            return False
        return not (self.no_delete if change.deleted else self.no_put)


def empty_range(create: rpc_pb2.WatchCreateRequest) -> bool:
    """A range_end at or below the key, other than etcd's "\\0" (everything from key on)."""
    end = create.range_end
    return bool(end) and end != b"\0" and end <= create.key


class Watcher:
    def __init__(self, watch_id: int, wanted: Wanted, state: KvState) -> None:
        self.watch_id = watch_id
        self.wanted = wanted
        self._state = state
        self._queue: deque[Change] = deque()
        self._arrived = asyncio.Event()
        self._behind = False

    def responses(self) -> AsyncGenerator[rpc_pb2.WatchResponse, None]:
        """Every response to send, until the history it needs is compacted away."""
        return self._run()

    async def _run(self) -> AsyncGenerator[rpc_pb2.WatchResponse, None]:
        state = self._state
        next_revision = self.wanted.start_revision or state.revision + 1
        while True:
            try:
                backlog = state.store.changes_after(next_revision - 1)
            except CompactedRevision:
                yield self._compacted()
                return
            # No await from reading the backlog to listening: no change falls between.
            self._behind = False
            state.listeners.add(self._listen)
            try:
                pending = [c for c in backlog if c in self.wanted]
                while True:
                    for response in self._responses(pending):
                        yield response
                    if pending:
                        next_revision = pending[-1].revision + 1
                    if self._behind and not self._queue:
                        break  # it stopped listening: catch up from history
                    await self._arrived.wait()
                    self._arrived.clear()
                    pending = list(self._queue)
                    self._queue.clear()
            finally:
                state.listeners.discard(self._listen)

    def _listen(self, change: Change) -> None:
        """Called by the state machine as it applies: never waits, never fails."""
        if self._behind or change.revision < self.wanted.start_revision:
            return
        if change not in self.wanted:
            return
        if len(self._queue) >= QUEUE:
            # Stop here, and drop this revision's part already queued: the catch-up
            # starts at this revision, so a txn's events still travel together.
            self._behind = True
            self._state.listeners.discard(self._listen)
            while self._queue and self._queue[-1].revision == change.revision:
                self._queue.pop()
            self._arrived.set()
            return
        self._queue.append(change)
        self._arrived.set()

    def _responses(self, changes: list[Change]) -> Iterable[rpc_pb2.WatchResponse]:
        if not changes:
            return []
        events = [self._event(c) for c in changes]
        if not self.wanted.fragment:
            return [self._response(events)]
        return self._fragments(events)

    def _fragments(self, events: list[mvccpb.Event]) -> list[rpc_pb2.WatchResponse]:
        """etcd's fragmenting: responses under the request limit, each but the last marked."""
        parts: list[list[mvccpb.Event]] = [[]]
        size = 0
        for event in events:
            if parts[-1] and size + event.ByteSize() > MAX_REQUEST_BYTES:
                parts.append([])
                size = 0
            parts[-1].append(event)
            size += event.ByteSize()
        responses = [self._response(part) for part in parts]
        for response in responses[:-1]:
            response.fragment = True
        return responses

    def _event(self, change: Change) -> mvccpb.Event:
        if change.record is None:  # etcd's delete event: the key and the delete's revision
            event = mvccpb.Event(
                type=mvccpb.Event.DELETE,
                kv=mvccpb.KeyValue(key=change.key, mod_revision=change.revision),
            )
        else:
            event = mvccpb.Event(type=mvccpb.Event.PUT, kv=key_value(change.key, change.record))
        if self.wanted.prev_kv and change.prev is not None:
            event.prev_kv.CopyFrom(key_value(change.key, change.prev))
        return event

    def _response(self, events: list[mvccpb.Event]) -> rpc_pb2.WatchResponse:
        response = rpc_pb2.WatchResponse(watch_id=self.watch_id, events=events)
        response.header.revision = self._state.revision
        return response

    def _compacted(self) -> rpc_pb2.WatchResponse:
        response = rpc_pb2.WatchResponse(
            watch_id=self.watch_id,
            canceled=True,
            compact_revision=self._state.store.compacted,
        )
        response.header.revision = self._state.revision
        return response
