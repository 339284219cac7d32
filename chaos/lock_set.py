"""A lock workload with nothing staged: contenders take a lock, add an element to a set
kept in one KV key (read, add, write back), and let go, until the run ends; the lock
service's expiries are recorded; after the run the set is read once more. The lock
checker judges it (mutual exclusion, tokens, stale writes, lost updates). The scenario
API's `workloads.lock_set`; chaos/experiments/lock_gc_pause.py stages a paused holder
on the same pieces.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc

from chaos import locking
from chaos.history import History
from chaos.lock_expiries import ExpiryWatch
from cluster.client import KvClient, LockClient, LockSession
from services.runtime.topology import Topology

FINAL = "final"  # the process of the read after the run
WAIT_S = 1.0  # for the lock, per turn
NO_SESSION_RETRY_S = 0.2


@dataclass(frozen=True)
class LockSetSpec:
    lock: str
    key: str
    contenders: int
    ttl_s: float
    fenced: bool
    wait_s: float = WAIT_S


async def run(
    spec: LockSetSpec, topology: Topology, history: History, duration_s: float, seed: int
) -> None:
    await run_beside(spec, topology, history, duration_s)


async def run_beside(
    spec: LockSetSpec,
    topology: Topology,
    history: History,
    duration_s: float,
    beside: Awaitable[None] | None = None,
) -> None:
    """The workload, with `beside` (a staged holder, say) running alongside it."""
    deadline = time.monotonic() + duration_s
    elements = itertools.count(1)
    expiries = ExpiryWatch(topology, history, spec.lock)
    watcher = asyncio.create_task(expiries.run())
    try:
        await asyncio.gather(
            *(
                _contender(f"client-{i}", spec, topology, history, deadline, elements)
                for i in range(1, spec.contenders + 1)
            ),
            *([beside] if beside is not None else []),
        )
        await expiries.barrier()
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        expiries.finish()
    async with KvClient.for_topology(topology) as kv:
        await locking.read_set(kv, spec.key, locking.recorder(history, FINAL))


async def _contender(
    name: str,
    spec: LockSetSpec,
    topology: Topology,
    history: History,
    deadline: float,
    elements: itertools.count[int],
) -> None:
    """Turn after turn until the deadline; a session the service expired is replaced by
    a new one, as a real client would."""
    record = locking.recorder(history, name)
    async with LockClient.for_topology(topology) as locks, KvClient.for_topology(topology) as kv:
        while time.monotonic() < deadline:
            try:
                async with locks.session(spec.ttl_s, name) as session:
                    while time.monotonic() < deadline and not session.lost.is_set():
                        await _one_turn(session, kv, spec, record, name, elements)
            except grpc.aio.AioRpcError:  # no session could be made: no leader yet
                await asyncio.sleep(NO_SESSION_RETRY_S)


async def _one_turn(
    session: LockSession,
    kv: KvClient,
    spec: LockSetSpec,
    record: locking.Record,
    name: str,
    elements: itertools.count[int],
) -> None:
    token = await locking.acquire(session, spec.lock, record, wait_s=spec.wait_s)
    if token is None:
        return
    members = await locking.read_set(kv, spec.key, record)
    if members is not None:
        element = f"{name}-{next(elements)}"
        await locking.add(kv, spec.key, members, element, spec.lock, token, spec.fenced, record)
    await locking.release(session, spec.lock, record)
