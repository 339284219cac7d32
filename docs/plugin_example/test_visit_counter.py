"""The visit counter against a real faultlab cluster (KV and lock groups): two increments,
one of them by a holder paused past its lock's TTL between its read and its write. With
fencing both count; without, the paused holder's late write overwrites the other's and
the test fails. FENCING=0 in the environment turns fencing off (the meta-test in
tests/integration/test_plugin_example.py runs it both ways)."""

from __future__ import annotations

import asyncio
import os

import pytest
from visit_counter import VisitCounter

from cluster.client import KvClient, LockClient, LockSession
from services.runtime.topology import Group, Topology

pytestmark = pytest.mark.asyncio  # pytest-asyncio, in its default (strict) mode too

FENCED = os.environ.get("FENCING", "1") != "0"
TTL_S = 1.0


@pytest.fixture
def faultlab_topology() -> Topology:
    return Topology.build("127.0.0.1", 0, (Group("kv", 3), Group("lock", 3)))


async def test_no_visit_is_lost_when_a_holder_pauses(
    faultlab_lock: LockClient, faultlab_kv: KvClient
) -> None:
    counter = VisitCounter(faultlab_lock, faultlab_kv, fenced=FENCED, ttl_s=TTL_S)
    holding = asyncio.Event()

    async def gc_pause(session: LockSession) -> None:
        """Stop the world: no renewals while paused, so the session and its lock expire
        and the other increment takes the lock; then wake and go on as if nothing
        happened."""
        if holding.is_set():
            return  # only the first time through
        session.abandon()
        holding.set()
        await asyncio.sleep(3 * TTL_S)

    paused = asyncio.create_task(counter.increment(pause=gc_pause))
    await holding.wait()
    await counter.increment()  # waits for the lock, which passes once the pause outlasts it
    await paused
    assert await counter.visits() == 2
