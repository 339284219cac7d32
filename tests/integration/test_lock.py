"""The lock service on real processes: contention in FIFO order, tokens that only grow,
a killed holder's lock freed after its TTL, sessions that outlive a leader's death, and
holders and tokens that outlive a restart of every node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.lock.v1 import lock_pb2

from chaos.history import History
from chaos.lock_holder import running_holder
from chaos.pytest_plugin import make_cluster, running
from cluster.client import LockBusy, LockClient
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.runtime.topology import Group
from tests.integration.errorcheck import assert_reason, failure

pytestmark = pytest.mark.integration


def lock_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("lock", 3),))) as cluster:
        cluster.wait_for_leader(group="lock")
        yield cluster


@pytest.fixture
def lock3(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for tests that kill or restart nodes."""
    yield from lock_cluster(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One healthy lock cluster for tests that only use it (lock names do not overlap)."""
    yield from lock_cluster(tmp_path_factory.mktemp("shared-lock"))


def client(cluster: LocalCluster) -> LockClient:
    return LockClient.for_topology(cluster.topology)


async def waiting_on(locks: LockClient, session_id: int, name: str) -> bool:
    return any(s.session_id == session_id and name in s.waiting for s in await locks.sessions())


async def test_contenders_are_granted_in_fifo_order_with_growing_tokens(
    shared: LocalCluster,
) -> None:
    async with (
        client(shared) as locks,
        locks.session(ttl_s=5, owner="a") as a,
        locks.session(ttl_s=5, owner="b") as b,
        locks.session(ttl_s=5, owner="c") as c,
    ):
        token_a = await a.acquire("fifo", wait=False)
        b_turn = asyncio.create_task(b.acquire("fifo", timeout_s=10))
        await wait_until_async(lambda: waiting_on(locks, b.id, "fifo"), 5, "b queued")
        c_turn = asyncio.create_task(c.acquire("fifo", timeout_s=10))
        await wait_until_async(lambda: waiting_on(locks, c.id, "fifo"), 5, "c queued")

        holder = await locks.holder("fifo")
        assert (holder.session_id, holder.token, holder.waiters) == (a.id, token_a, 2)
        await a.release("fifo")
        token_b = await b_turn
        assert not c_turn.done(), "a release woke more than the first waiter"
        assert (await locks.holder("fifo")).session_id == b.id
        await b.release("fifo")
        token_c = await c_turn
        assert token_a < token_b < token_c
        await c.release("fifo")
        assert not (await locks.holder("fifo")).held


async def test_lock_context_yields_the_token_and_releases(shared: LocalCluster) -> None:
    async with client(shared) as locks, locks.session(ttl_s=5) as session:
        async with session.lock("ctx") as token:
            holder = await locks.holder("ctx")
            assert holder.held and holder.token == token and holder.session_id == session.id
        assert not (await locks.holder("ctx")).held
        async with session.lock("ctx") as again:
            assert again > token


async def test_a_watch_sees_the_current_holder_then_each_change(shared: LocalCluster) -> None:
    async with client(shared) as locks, locks.session(ttl_s=5.0, owner="first") as first:
        await first.acquire("watched")
        events = locks.watch("watched")
        current = await anext(events)
        assert (current.kind, current.session_id) == (lock_pb2.HolderEvent.CURRENT, first.id)
        async with locks.session(ttl_s=5.0, owner="second") as second:
            waiting = asyncio.create_task(second.acquire("watched"))
            await first.release("watched")
            released, acquired = await anext(events), await anext(events)
            await waiting
        assert (released.kind, released.session_id) == (lock_pb2.HolderEvent.RELEASED, first.id)
        assert (acquired.kind, acquired.owner) == (lock_pb2.HolderEvent.ACQUIRED, "second")
        assert acquired.token > current.token
        await events.aclose()


async def test_a_killed_holder_process_loses_its_lock_after_its_ttl(shared: LocalCluster) -> None:
    ttl_s = 1.0
    history = History()
    async with (
        client(shared) as locks,
        running_holder(shared.topology_path, "killed", history, "--ttl-ms", "1000") as holder,
    ):
        await holder.wait_for("ready", 10)
        held = await locks.holder("killed")
        assert held.held and held.session_id == holder.session
        holder.kill()
        killed_at = time.monotonic()

        async def released() -> bool:
            return not (await locks.holder("killed")).held

        await wait_until_async(released, 10, "the dead holder's lock to be released")
        waited_s = time.monotonic() - killed_at
        # Never before its TTL could have run out (its last renewal was at most a third of a
        # TTL before the kill); how much later is the machine's speed, bounded by the wait.
        assert waited_s >= ttl_s * 0.6, waited_s
        async with locks.session(ttl_s=5) as next_session:
            assert await next_session.acquire("killed", wait=False) > held.token
        expired = [s for s in await locks.sessions() if s.session_id == holder.session]
        assert not expired


async def test_sessions_and_holders_survive_the_leader_being_killed(lock3: LocalCluster) -> None:
    async with client(lock3) as locks, locks.session(ttl_s=3, owner="survivor") as session:
        token = await session.acquire("kept", wait=False)
        old_leader = await asyncio.to_thread(lock3.wait_for_leader, group="lock")
        lock3.kill(old_leader)
        # In a thread: a blocking wait here would stall the session's renewals (same event
        # loop) for the whole election, and the TTL with them.
        new_leader = await asyncio.to_thread(
            lock3.wait_for_leader, not_=old_leader, group="lock", timeout_s=15
        )
        assert new_leader != old_leader
        # Two TTLs later the session is alive: renewals moved to the new leader, and the
        # new leader's grace period covered the election.
        await asyncio.sleep(2 * session.ttl_s)
        holder = await locks.holder("kept")
        assert (holder.session_id, holder.token) == (session.id, token)
        assert session.valid() and not session.lost.is_set()
        await session.release("kept")


async def test_holders_and_tokens_survive_a_restart_of_every_node(lock3: LocalCluster) -> None:
    nodes = [n.id for n in lock3.topology.group_nodes("lock")]
    async with client(lock3) as locks, locks.session(ttl_s=20, owner="patient") as session:
        token = await session.acquire("durable", wait=False)

        def restart_every_node() -> None:  # in a thread: the session renews meanwhile
            for node in nodes:
                lock3.stop(node)
            for node in nodes:
                lock3.start_node(node, wait=False)
            for node in nodes:
                lock3.wait_serving(node)
            lock3.wait_for_leader(group="lock")

        await asyncio.to_thread(restart_every_node)
        holder = await locks.holder("durable")
        assert (holder.session_id, holder.token) == (session.id, token)
        await session.release("durable")
        async with locks.session(ttl_s=5) as other:
            assert await other.acquire("durable", wait=False) > token


async def test_bad_input_and_misuse_get_their_reason_and_lose_nothing(
    shared: LocalCluster,
) -> None:
    invalid = (grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)
    async with client(shared) as locks, locks.session(ttl_s=5, owner="keeper") as keeper:
        token = await keeper.acquire("guarded", wait=False)
        other = await locks.create_session(5, "other")
        closed = await locks.create_session(5, "closed")
        await locks.close_session(closed)
        cases = [
            (locks.create_session(0.1), invalid),  # TTL below the minimum
            (locks.create_session(301), invalid),  # above the maximum
            (locks.create_session(5, owner="o" * 300), invalid),
            (locks.acquire("", other), invalid),
            (locks.acquire("n" * 513, other), invalid),
            (locks.acquire("guarded", 0), invalid),
            (locks.holder(""), invalid),
            (
                locks.acquire("guarded", 987_654_321),
                (grpc.StatusCode.NOT_FOUND, "UNKNOWN_SESSION", True),
            ),
            (
                locks.acquire("guarded", closed),
                (grpc.StatusCode.NOT_FOUND, "SESSION_EXPIRED", True),
            ),
            (
                locks.release("guarded", other),
                (grpc.StatusCode.FAILED_PRECONDITION, "NOT_HOLDER", True),
            ),
            (
                locks.release("never-held", other),
                (grpc.StatusCode.FAILED_PRECONDITION, "NOT_HOLDER", True),
            ),
        ]
        for call, (code, reason, definite) in cases:
            e = await failure(call)
            details = assert_reason(e, code, reason, definite)
            if reason == "NOT_HOLDER" and "guarded" in str(e.details()):
                assert details["holder"] == str(keeper.id)
        holder = await locks.holder("guarded")
        assert (holder.session_id, holder.token) == (keeper.id, token), "a refusal changed it"
        try_other = await locks.acquire("guarded", other)
        assert not try_other.acquired and try_other.holder_session == keeper.id


async def test_a_wait_that_times_out_leaves_the_queue_and_an_expired_waiter_is_told(
    shared: LocalCluster,
) -> None:
    async with client(shared) as locks, locks.session(ttl_s=5, owner="holder") as holder:
        await holder.acquire("busy", wait=False)
        async with locks.session(ttl_s=5, owner="patient") as patient:
            with pytest.raises(LockBusy) as busy:
                await patient.acquire("busy", timeout_s=0.5)
            assert busy.value.holder_session == holder.id
            assert not await waiting_on(locks, patient.id, "busy"), "left in the queue"
        # A waiter whose session expires while it waits hears SESSION_EXPIRED.
        doomed = await locks.create_session(0.5, "doomed")  # never renewed
        e = await failure(locks.acquire("busy", doomed, wait_s=3.0))
        assert_reason(e, grpc.StatusCode.NOT_FOUND, "SESSION_EXPIRED", True)
        assert (await locks.holder("busy")).session_id == holder.id
