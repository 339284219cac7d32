"""`ExpiryWatch`: the lock service's session expiries, as operations of a lock history.

A lock history's mutex check needs to know when a holder lost its lock without
releasing it; the service announces each expiry on its Watch stream, and this records
them (the lock experiments and the scenario lock workload use it).
"""

from __future__ import annotations

import asyncio

import grpc
from faultlab.lock.v1 import lock_pb2

from chaos.history import History
from cluster.client import LockClient
from cluster.waiting import WaitTimeout, wait_until_async
from services.runtime.topology import Topology

GAP_RETRY_S = 0.2  # between a watch of the expiries that broke and the next
BARRIER_S = 10.0  # for the run's last grant to be made and announced
BARRIER_TTL_S = 5.0


class ExpiryWatch:
    """Records each expiry the lock service announces as an `expire` operation: it took
    effect at some point before it was seen, so it is open from the start of the run.

    The watch is on one node and replays nothing: a node that dies under a nemesis ends
    it, and expiries before the next watch begins are never announced; a node cut off
    announces them late, maybe after the run. So the run ends with a barrier (a grant
    made after everything else, which the watch must see, expiries before it in order),
    and when the watch broke or the barrier is not seen in time, every session that may
    have expired unseen gets an expire that stays open (an invoke with no answer,
    indefinite as a timed-out request is): the checker may place it anywhere or nowhere.
    A gap not told would show a mutex violation the lock service never made."""

    def __init__(self, topology: Topology, history: History, lock: str) -> None:
        self._topology = topology
        self._history = history
        self._lock = lock
        self._seen: set[int] = set()
        self._granted: set[int] = set()
        self._complete = True

    async def run(self) -> None:
        async with LockClient.for_topology(self._topology) as locks:
            while True:
                try:
                    async for event in locks.watch(self._lock):
                        self._saw(event)
                except grpc.aio.AioRpcError:
                    pass
                self._complete = False
                await asyncio.sleep(GAP_RETRY_S)

    def _saw(self, event: lock_pb2.HolderEvent) -> None:
        if event.kind == event.EXPIRED:
            self._seen.add(event.session_id)
            self._record(event.session_id, "lock-service", answered=True)
        elif event.kind == event.ACQUIRED:
            self._granted.add(event.session_id)

    async def barrier(self) -> None:
        """A grant after the run's last operation; wait for the watch to announce it."""
        try:
            async with LockClient.for_topology(self._topology) as locks:
                session = await locks.create_session(BARRIER_TTL_S, "expiry-barrier")
                await locks.acquire(self._lock, session, wait_s=BARRIER_S)
                await locks.close_session(session)
            await wait_until_async(
                lambda: _true(session in self._granted), BARRIER_S, "the barrier's grant"
            )
        except (grpc.aio.AioRpcError, WaitTimeout):
            self._complete = False

    def finish(self) -> None:
        """Open expires for the sessions that may have expired unseen."""
        if self._complete:
            return
        for session in _sessions(self._history) - self._seen:
            self._record(session, f"lock-service-unseen-{session}", answered=False)

    def _record(self, session: int, process: str, answered: bool) -> None:
        history = self._history
        history.record(
            process, "invoke", "expire", key=self._lock, value=session, at_ns=history.started_ns
        )
        if answered:
            history.record(process, "ok", "expire", key=self._lock)


async def _true(value: bool) -> bool:
    return value


def _sessions(history: History) -> set[int]:
    return {
        int(e.value)
        for e in history.events
        if e.f == "acquire" and e.type == "invoke" and isinstance(e.value, int)
    }
