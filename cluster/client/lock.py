"""The lock client: sessions kept alive in the background, locks as context managers, and
the fencing token each grant comes with.

    async with LockClient.for_topology(topology) as locks, KvClient.for_topology(topology) as kv:
        async with locks.session(ttl_s=5) as session:
            async with session.lock("orders") as token:
                await kv.fenced("orders", token).put("balance", b"10")

Why the token: a session's holder can pause (GC, SIGSTOP, a slow disk) longer than its
TTL; the service then expires the session and grants the lock to the next waiter, while
the paused holder still believes it holds it. `session.valid()` is that belief (the last
renewal the leader answered, counted from when it was sent, plus the TTL); it cannot see
a pause that falls between the check and the write. The token can: the store refuses a
write whose token is below the highest it has seen for the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from cluster.client import errors
from cluster.client.base import Client
from cluster.client.stubs import stub

T = TypeVar("T")

LOCK_GROUP = "lock"  # the Raft group the lock service runs
WAIT_CHUNK_S = 30.0  # a wait with no end is a series of waits this long
_GONE = {errors.Reason.Value("SESSION_EXPIRED"), errors.Reason.Value("UNKNOWN_SESSION")}
_ALREADY_FREE = _GONE | {errors.Reason.Value("NOT_HOLDER")}


class LockBusy(Exception):
    """The lock was not acquired: held by another session (try), or the wait ran out."""

    def __init__(self, name: str, holder_session: int) -> None:
        super().__init__(f"{name!r} is held by session {holder_session}")
        self.name = name
        self.holder_session = holder_session


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LockClient(Client):
    TOPOLOGY_GROUP = "lock"

    def __init__(self, addresses: dict[str, str], **kw: Any) -> None:
        """`addresses`: node id -> the address clients dial it at, for every lock node.
        The rest: `Client`'s (timeout_s, attempts, rng, leaders, interceptors, ...)."""
        super().__init__(addresses, **kw)
        self._caller = self.caller(LOCK_GROUP)

    def session(self, ttl_s: float = 10.0, owner: str = "") -> LockSession:
        """A session, created on entering and closed (its locks released) on leaving."""
        return LockSession(self, ttl_s, owner or default_owner())

    # -- the calls, one each ------------------------------------------------------------------

    async def create_session(self, ttl_s: float, owner: str = "") -> int:
        req = lock_pb2.CreateSessionRequest(ttl_ms=round(ttl_s * 1000), owner=owner)
        resp = await self._call(lambda s: s.CreateSession(req, timeout=self.timeout_s))
        return int(resp.session_id)

    async def close_session(self, session_id: int) -> list[str]:
        req = lock_pb2.CloseSessionRequest(session_id=session_id)
        resp = await self._call(lambda s: s.CloseSession(req, timeout=self.timeout_s))
        return list(resp.released)

    async def acquire(
        self, name: str, session_id: int, *, wait_s: float | None = None, seq: int = 0
    ) -> lock_pb2.AcquireResponse:
        """Try once (`wait_s` None), or wait in the lock's queue up to `wait_s`."""
        wait = wait_s is not None
        req = lock_pb2.AcquireRequest(
            name=name,
            session_id=session_id,
            wait=wait,
            wait_ms=round((wait_s or 0) * 1000),
            seq=seq,
        )
        timeout = (wait_s or 0) + self.timeout_s
        return await self._call(lambda s: s.Acquire(req, timeout=timeout))

    async def release(self, name: str, session_id: int, seq: int = 0) -> lock_pb2.ReleaseResponse:
        req = lock_pb2.ReleaseRequest(name=name, session_id=session_id, seq=seq)
        return await self._call(lambda s: s.Release(req, timeout=self.timeout_s))

    async def holder(self, name: str) -> lock_pb2.HolderResponse:
        req = lock_pb2.HolderRequest(name=name)
        return await self._call(lambda s: s.Holder(req, timeout=self.timeout_s))

    async def sessions(self) -> list[lock_pb2.SessionInfo]:
        req = lock_pb2.ListSessionsRequest()
        resp = await self._call(lambda s: s.ListSessions(req, timeout=self.timeout_s))
        return list(resp.sessions)

    async def watch(self, name: str = "") -> AsyncIterator[lock_pb2.HolderEvent]:
        """Holder changes from one node (the leader if known); ends if that node dies."""
        node = self._caller.leader or sorted(self._caller.addresses)[0]
        lock_stub = stub(self._caller.channel(node), lock_pb2_grpc.LockStub)
        async for event in lock_stub.Watch(lock_pb2.WatchRequest(name=name)):
            yield event

    async def keep_alive(self, session_id: int, interval_s: float, renewed: Renewed) -> None:
        """Renew `session_id` every `interval_s` on the leader's KeepAlive stream until
        cancelled; `renewed(sent_at, ttl_s)` after each answer. Raises the gRPC error once
        the session is gone (SESSION_EXPIRED, UNKNOWN_SESSION)."""
        while True:
            try:
                await self._caller.call(
                    lambda ch: _renew_on(ch, session_id, interval_s, renewed, self.timeout_s)
                )
            except grpc.aio.AioRpcError as e:
                if errors.reason_of(e) in _GONE:
                    raise
                await asyncio.sleep(interval_s / 4)  # every node failed in turn: go round again

    async def _call(self, call: Callable[[lock_pb2_grpc.LockStub], Awaitable[T]]) -> T:
        return await self._caller.call(lambda channel: call(stub(channel, lock_pb2_grpc.LockStub)))


Renewed = Callable[[float, float], None]


async def _renew_on(
    channel: grpc.aio.Channel,
    session_id: int,
    interval_s: float,
    renewed: Renewed,
    answer_s: float,
) -> None:
    """One KeepAlive stream, renewing until it fails. A renewal not answered in `answer_s`
    fails it as DEADLINE_EXCEEDED, so the caller moves on to another node."""
    call = lock_pb2_grpc.LockStub(channel).KeepAlive()
    try:
        while True:
            sent = time.monotonic()
            try:
                # Both the write and the read are bounded: a write to a leader that died
                # without closing the connection (a killed process behind a proxy, a
                # black hole) waits on flow control until keepalive pings give up, far
                # past the TTL. asyncio.timeout, not wait_for: on 3.11 wait_for can swallow
                # a cancellation that races the answer, and the session would renew forever.
                async with asyncio.timeout(answer_s):
                    try:
                        await call.write(lock_pb2.KeepAliveRequest(session_id=session_id))
                    except asyncio.InvalidStateError:  # it ended while we slept: its status,
                        raise await _ended(call) from None  # which the caller can follow
                    resp = await call.read()
            except TimeoutError:
                raise _deadline("keep-alive not answered in time") from None
            if resp is grpc.aio.EOF:
                raise await _ended(call)
            renewed(sent, resp.ttl_ms / 1000)
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - sent)))
    finally:
        call.cancel()


async def _ended(call: Any) -> grpc.aio.AioRpcError:
    """The status a finished KeepAlive stream ended with, as the error to follow (a
    stream-stream call is not awaitable: its status is read piece by piece). A stream the
    server ended cleanly still ends the renewals on that node."""
    code = await call.code()
    if code == grpc.StatusCode.OK:
        return _deadline("keep-alive stream ended without an error")
    return grpc.aio.AioRpcError(
        code, await call.initial_metadata(), await call.trailing_metadata(), await call.details()
    )


def _deadline(details: str) -> grpc.aio.AioRpcError:
    empty = grpc.aio.Metadata()
    return grpc.aio.AioRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, empty, empty, details)


class LockSession:
    """A lock session: created on `async with`, renewed every third of its TTL, closed
    (releasing its locks) on leaving. `lost` is set once the service says it expired."""

    def __init__(self, client: LockClient, ttl_s: float, owner: str) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.owner = owner
        self.id = 0
        self.lost = asyncio.Event()
        self._valid_until = 0.0  # monotonic: this client's belief, see valid()
        self._seq = itertools.count(1)
        self._renewing: asyncio.Task[None] | None = None
        self._abandoned = False

    async def __aenter__(self) -> LockSession:
        started = time.monotonic()
        self.id = await self.client.create_session(self.ttl_s, self.owner)
        self._valid_until = started + self.ttl_s
        self._renewing = asyncio.create_task(self._renew(), name=f"lock-session-{self.id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if not self.lost.is_set() and not self._abandoned:
            with contextlib.suppress(grpc.aio.AioRpcError):  # unreachable: it expires anyway
                await self.client.close_session(self.id)

    def abandon(self) -> None:
        """Stop renewing and do not close on leaving: the session, and the locks it holds,
        expire one TTL after the last renewal (what a crashed client leaves behind)."""
        self._abandoned = True
        if self._renewing is not None:
            self._renewing.cancel()

    def valid(self) -> bool:
        """Does this client still believe its session lives? True until TTL after the last
        renewal the leader answered, counted from when the renewal was sent."""
        return not self.lost.is_set() and time.monotonic() < self._valid_until

    def valid_for_s(self) -> float:
        return max(0.0, self._valid_until - time.monotonic()) if not self.lost.is_set() else 0.0

    async def acquire(self, name: str, wait: bool = True, timeout_s: float | None = None) -> int:
        """The fencing token of a grant of `name`. `wait=False`: try once. Otherwise wait in
        the FIFO queue, up to `timeout_s` (None: until granted). LockBusy if not granted."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            chunk = None
            if wait:
                left = WAIT_CHUNK_S if deadline is None else deadline - time.monotonic()
                chunk = max(0.0, min(WAIT_CHUNK_S, left))
            resp = await self.client.acquire(name, self.id, wait_s=chunk, seq=next(self._seq))
            if resp.acquired:
                return int(resp.token)
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                raise LockBusy(name, resp.holder_session)

    async def release(self, name: str) -> None:
        await self.client.release(name, self.id, seq=next(self._seq))

    @contextlib.asynccontextmanager
    async def lock(
        self, name: str, wait: bool = True, timeout_s: float | None = None
    ) -> AsyncIterator[int]:
        """Hold `name` for the block; yields the fencing token. Released on leaving; a
        lock already lost (session expired) is not an error there."""
        token = await self.acquire(name, wait, timeout_s)
        try:
            yield token
        finally:
            try:
                await self.release(name)
            except grpc.aio.AioRpcError as e:
                if errors.reason_of(e) not in _ALREADY_FREE:
                    raise

    async def _renew(self) -> None:
        def renewed(sent: float, ttl_s: float) -> None:
            self._valid_until = max(self._valid_until, sent + ttl_s)

        try:
            await self.client.keep_alive(self.id, self.ttl_s / 3, renewed)
        except grpc.aio.AioRpcError:
            self.lost.set()  # the service says it is gone: its locks are released
        except Exception:
            # A bug in the renewal: nothing renews the session any more, so say it is lost
            # rather than let the holder believe it (a TypeError did exactly that once).
            self.lost.set()
            raise
