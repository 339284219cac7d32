"""`faultlab.lock.v1.Lock`: requests validated, commands proposed through Raft, refusals
raised from the error tree (services/runtime/errors.py) and mapped at the runtime's edge.

A waiting Acquire joins the lock's FIFO queue in the log, then waits on this node's
applied state for its own grant: only the session granted is woken (no herd), and it is
woken wherever it waits, on the leader or on a node that has since lost leadership.
When the wait ends ungranted the handler leaves the queue through the log (`cancel`),
whose answer also says whether the grant won the race.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from services.lock import commands
from services.lock.commands import Acquire, Cancel, Close, Create, KeepAlive, LockCommand, Release
from services.lock.results import Acquired, Cancelled, Closed, KeptAlive, Released, SessionCreated
from services.lock.state import Change, LockState, Session
from services.replicated import ReplicatedGroup
from services.replicated.leader_clock import LeaderClock, wall_ms
from services.replicated.refusal import answered
from services.replicated.watch_relay import relay
from services.runtime.deadlines import time_left
from services.runtime.errors import (
    OutcomeUnknown,
    ServiceError,
    SessionExpired,
    UnknownSession,
)

KEEPALIVE_COMMIT_S = 2.0  # a keep-alive stream has no deadline; each renewal has this one
LEAVE_QUEUE_S = 0.3  # kept back from a waiting Acquire's deadline to leave the queue in
R = TypeVar("R")
_EVENT_KINDS = {
    "acquired": lock_pb2.HolderEvent.ACQUIRED,
    "released": lock_pb2.HolderEvent.RELEASED,
    "expired": lock_pb2.HolderEvent.EXPIRED,
}


class LockServicer(lock_pb2_grpc.LockServicer):  # type: ignore[misc]
    def __init__(self, group: ReplicatedGroup[LockState], clock: LeaderClock) -> None:
        self._group = group
        self._state = state = group.state
        self._clock = clock
        # (lock name, session) -> the events of the Acquire calls waiting here for it
        self._waiting: dict[tuple[str, int], set[asyncio.Event]] = {}
        self._background: set[asyncio.Task[object]] = set()
        state.listeners.add(self._wake_waiter)

    # -- sessions ---------------------------------------------------------------------------

    async def CreateSession(
        self, request: lock_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.CreateSessionResponse:
        commands.check_ttl(request.ttl_ms)
        commands.check_owner(request.owner)
        cmd = Create(request.ttl_ms, request.owner, self._clock.now_ms())
        result = await self._propose(cmd, context, SessionCreated)
        return lock_pb2.CreateSessionResponse(session_id=result.session, ttl_ms=request.ttl_ms)

    async def KeepAlive(
        self,
        requests: AsyncIterator[lock_pb2.KeepAliveRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[lock_pb2.KeepAliveResponse]:
        async for request in requests:
            commands.check_session(request.session_id)
            cmd = KeepAlive(request.session_id, self._clock.now_ms())
            applied = await self._group.propose_within(commands.encode(cmd), KEEPALIVE_COMMIT_S)
            result = answered(applied, KeptAlive)
            yield lock_pb2.KeepAliveResponse(session_id=request.session_id, ttl_ms=result.ttl_ms)

    async def CloseSession(
        self, request: lock_pb2.CloseSessionRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.CloseSessionResponse:
        commands.check_session(request.session_id)
        cmd = Close(request.session_id, wall_ms())
        result = await self._propose(cmd, context, Closed)
        return lock_pb2.CloseSessionResponse(released=result.released)

    async def ListSessions(
        self, request: lock_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.ListSessionsResponse:
        await self._group.linearizable_read(context)
        try:
            now = self._clock.now_ms()
        except ServiceError:  # leading, not yet in office: the log's clock is the best known
            now = self._state.clock_ms
        return lock_pb2.ListSessionsResponse(
            sessions=[
                _session_info(s, now)
                for s in sorted(self._state.sessions.values(), key=lambda s: s.id)
            ]
        )

    # -- locks ------------------------------------------------------------------------------

    async def Acquire(
        self, request: lock_pb2.AcquireRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.AcquireResponse:
        commands.check_name(request.name)
        commands.check_session(request.session_id)
        deadline = time.monotonic() + time_left(context) - LEAVE_QUEUE_S
        if request.wait_ms:
            deadline = min(deadline, time.monotonic() + request.wait_ms / 1000)
        key = (request.name, request.session_id)
        woken = asyncio.Event()
        self._waiting.setdefault(key, set()).add(woken)  # before proposing: no grant missed
        try:
            cmd = Acquire(
                request.session_id, request.name, request.wait, wall_ms(), seq=request.seq
            )
            result = await self._propose(cmd, context, Acquired)
            if not result.queued:
                return _acquired(result)
            token = await self._await_grant(key, woken, deadline)
            if token:
                return lock_pb2.AcquireResponse(acquired=True, token=token)
            return await self._leave_queue(key, context)
        except asyncio.CancelledError:
            self._leave_queue_later(key)  # the caller went away: do not leave it queued
            raise
        finally:
            self._waiting[key].discard(woken)
            if not self._waiting[key]:
                del self._waiting[key]

    async def Release(
        self, request: lock_pb2.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.ReleaseResponse:
        commands.check_name(request.name)
        commands.check_session(request.session_id)
        cmd = Release(request.session_id, request.name, wall_ms(), seq=request.seq)
        result = await self._propose(cmd, context, Released)
        return lock_pb2.ReleaseResponse(
            next_session=result.next_session, next_token=result.next_token
        )

    async def Holder(
        self, request: lock_pb2.HolderRequest, context: grpc.aio.ServicerContext
    ) -> lock_pb2.HolderResponse:
        commands.check_name(request.name)
        await self._group.linearizable_read(context)
        lock = self._state.lock(request.name)
        if lock is None or not lock.holder:
            return lock_pb2.HolderResponse(held=False)
        return lock_pb2.HolderResponse(
            held=True,
            session_id=lock.holder,
            owner=self._state.owner_of(lock.holder),
            token=lock.token,
            since_unix_ms=lock.since_wall_ms,
            waiters=len(lock.waiters),
        )

    async def Watch(
        self, request: lock_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[lock_pb2.HolderEvent]:
        if request.name:
            commands.check_name(request.name)
        names = [request.name] if request.name else sorted(self._state.locks)
        current = [e for e in (self._current(n) for n in names) if e is not None]
        # No await from reading `current` to the relay's listener: no change between.
        async for event in relay(
            self._state.listeners,
            lambda c: c.kind in _EVENT_KINDS and request.name in ("", c.name),
            _event,
            current,
        ):
            yield event

    # -- waiting for a grant ------------------------------------------------------------------

    def _wake_waiter(self, change: Change) -> None:
        for woken in self._waiting.get((change.name, change.session), ()):
            woken.set()

    async def _await_grant(
        self, key: tuple[str, int], woken: asyncio.Event, deadline: float
    ) -> int:
        """The token once `key`'s session is granted the lock; 0 if the deadline passes or
        it left the queue another way first."""
        name, session_id = key
        while True:
            lock = self._state.lock(name)
            if lock is not None and lock.holder == session_id:
                return lock.token
            session = self._state.sessions.get(session_id)
            if session is None:
                raise SessionExpired(f"session {session_id} expired while waiting for {name!r}")
            if name not in session.waiting:
                return 0
            woken.clear()
            try:
                async with asyncio.timeout_at(_loop_time(deadline)):
                    await woken.wait()
            except TimeoutError:
                return 0

    async def _leave_queue(
        self, key: tuple[str, int], context: grpc.aio.ServicerContext
    ) -> lock_pb2.AcquireResponse:
        name, session_id = key
        cmd = Cancel(session_id, name, wall_ms())
        try:
            result = await self._propose(cmd, context, Cancelled)
        except (UnknownSession, SessionExpired):
            raise
        except ServiceError as e:
            raise OutcomeUnknown(
                f"the wait for {name!r} ended but leaving its queue was not committed "
                f"({e.message}); the lock may still be granted to session {session_id}"
            ) from None
        if result.acquired:  # granted while the cancel was on its way: it is ours
            return lock_pb2.AcquireResponse(acquired=True, token=result.token)
        lock = self._state.lock(name)
        return lock_pb2.AcquireResponse(acquired=False, holder_session=lock.holder if lock else 0)

    def _leave_queue_later(self, key: tuple[str, int]) -> None:
        name, session_id = key
        cmd = Cancel(session_id, name, wall_ms())

        async def leave() -> object:
            try:
                return await self._group.propose_within(commands.encode(cmd), KEEPALIVE_COMMIT_S)
            except ServiceError:
                return None  # best effort: the session's expiry cleans the queue up anyway

        task: asyncio.Task[object] = asyncio.create_task(leave())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- plumbing -----------------------------------------------------------------------------

    async def _propose(
        self, cmd: LockCommand, context: grpc.aio.ServicerContext, answer: type[R]
    ) -> R:
        applied = await self._group.propose(commands.encode(cmd), context)
        return answered(applied, answer)

    def _current(self, name: str) -> lock_pb2.HolderEvent | None:
        lock = self._state.lock(name)
        if lock is None or not lock.holder:
            return None
        return lock_pb2.HolderEvent(
            kind=lock_pb2.HolderEvent.CURRENT,
            name=name,
            session_id=lock.holder,
            owner=self._state.owner_of(lock.holder),
            token=lock.token,
            index=lock.token,
        )


def _session_info(s: Session, now_ms: int) -> lock_pb2.SessionInfo:
    return lock_pb2.SessionInfo(
        session_id=s.id,
        owner=s.owner,
        ttl_ms=s.ttl_ms,
        expires_in_ms=s.expires_at_ms - now_ms,
        held=sorted(s.held),
        waiting=sorted(s.waiting),
    )


def _loop_time(deadline: float) -> float:
    """A time.monotonic() deadline on the event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


def _acquired(result: Acquired) -> lock_pb2.AcquireResponse:
    if result.acquired:
        return lock_pb2.AcquireResponse(acquired=True, token=result.token)
    return lock_pb2.AcquireResponse(acquired=False, holder_session=result.holder)


def _event(change: Change) -> lock_pb2.HolderEvent:
    return lock_pb2.HolderEvent(
        kind=_EVENT_KINDS[change.kind],
        name=change.name,
        session_id=change.session,
        owner=change.owner,
        token=change.token,
        index=change.index,
    )
