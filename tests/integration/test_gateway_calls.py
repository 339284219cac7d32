"""How the gateway calls its backends, on real processes and real Toxiproxy faults:
hedged stale reads beat a slow replica, a bulkhead keeps a slow backend from taking every
call, a breaker stops calling a node that does not answer, and retries carry a call past
a dead leader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from chaos.net import Cut, Network
from chaos.pytest_plugin import make_cluster, running
from cluster.client import errors
from cluster.client.gateway import bearer, gateway_addresses
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.gateway.journal import read_journals
from services.runtime.topology import Group

# A slow link, as slow as one can be with room to spare under its keepalive (a 1 s timeout
# on a ping that crosses it): a call that waited for it took at least this long.
SLOW_MS = 700

pytestmark = pytest.mark.integration

TENANT = """
[tenants.t]
keys = ["k"]
allow = ["*"]
"""


@contextmanager
def gateway_cluster(tmp_path: Path, calls: str, *groups: Group) -> Iterator[LocalCluster]:
    (tmp_path / "gateway.toml").write_text(f"[calls]\n{calls}\n{TENANT}")
    env = {
        "FAULTLAB_GATEWAY_CONFIG": str(tmp_path / "gateway.toml"),
        "FAULTLAB_GATEWAY_DECISIONS": str(tmp_path / "decisions"),
    }
    with running(make_cluster(tmp_path, (*groups, Group("gateway", 1)), node_env=env)) as c:
        yield c


def channel(cluster: LocalCluster) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        gateway_addresses(cluster.topology)["gateway1"], interceptors=bearer("k")
    )


async def _done(tasks: list[asyncio.Future[object]], n: int) -> bool:
    return sum(t.done() for t in tasks) >= n


async def timed(call: Callable[[], object]) -> float:
    started = time.monotonic()
    await call()  # type: ignore[misc]
    return time.monotonic() - started


async def test_hedged_stale_reads_do_not_wait_for_the_slow_replica(tmp_path: Path) -> None:
    with gateway_cluster(tmp_path, "hedge = true\nhedge_delay_ms = 30", Group("kv", 3)) as c:
        assert c.toxiproxy is not None
        Network(c.toxiproxy, c.topology).latency(("gateway1", "kv1"), SLOW_MS)
        async with channel(c) as ch:
            kv = kv_pb2_grpc.KVStub(ch)
            read = kv_pb2.GetRequest(key="k", consistency=kv_pb2.STALE)
            took = [await timed(lambda: kv.Get(read, timeout=5)) for _ in range(12)]
        assert max(took) < SLOW_MS / 1000, took  # a third of them started on the slow replica
        hedged = [r for r in read_journals(tmp_path / "decisions") if r.hedged]
        assert len(hedged) >= 3 and all(r.attempts == 2 for r in hedged)


async def test_a_bulkhead_keeps_a_slow_backend_from_taking_the_healthy_ones_calls(
    tmp_path: Path,
) -> None:
    groups = (Group("kv", 3), Group("lock", 1))
    with gateway_cluster(tmp_path, "bulkhead = 2", *groups) as c:
        c.wait_for_leader(group="lock")
        assert c.toxiproxy is not None
        Network(c.toxiproxy, c.topology).latency(("gateway1", "lock1"), SLOW_MS)
        async with channel(c) as ch:
            locks = lock_pb2_grpc.LockStub(ch)
            sessions = lock_pb2.ListSessionsRequest()
            slow = [
                asyncio.ensure_future(locks.ListSessions(sessions, timeout=5)) for _ in range(5)
            ]
            # Three are refused at once; the two the bulkhead let by hold it for SLOW_MS.
            await wait_until_async(lambda: _done(slow, 3), 5, "three refusals")
            kv = kv_pb2_grpc.KVStub(ch)
            await kv.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=5)
            # Answered while the lock calls the bulkhead let by still wait for their node:
            # the KV call did not queue behind them.
            assert sum(not t.done() for t in slow) == 2
            outcomes = await asyncio.gather(*slow, return_exceptions=True)
        refused = [e for e in outcomes if isinstance(e, grpc.aio.AioRpcError)]
        assert len(refused) == 3, outcomes  # the other two waited for the slow lock node
        assert all(
            errors.reason_of(e) == errors.Reason.Value("OVERLOADED")
            and errors.error_info(e).metadata["policy"] == "bulkhead"  # type: ignore[union-attr]
            for e in refused
        )


async def test_a_breaker_opens_on_a_node_that_does_not_answer_and_fails_fast(
    tmp_path: Path,
) -> None:
    calls = "breaker = true\nbreaker_min_calls = 4\nbreaker_window = 4\nbreaker_open_ms = 60000"
    with gateway_cluster(tmp_path, calls, Group("lock", 1), Group("kv", 1)) as c:
        c.wait_for_leader(group="lock")
        assert c.toxiproxy is not None
        Network(c.toxiproxy, c.topology).cut_link("gateway1", "lock1", Cut.RESET)
        reasons = []
        async with channel(c) as ch:
            locks = lock_pb2_grpc.LockStub(ch)
            for _ in range(8):
                try:
                    await locks.ListSessions(lock_pb2.ListSessionsRequest(), timeout=2)
                except grpc.aio.AioRpcError as e:
                    reasons.append(errors.Reason.Name(errors.reason_of(e)))
        assert reasons[:4] == ["OUTCOME_UNKNOWN"] * 4, reasons  # reset: no answer
        assert reasons[4:] == ["OVERLOADED"] * 4, "open: refused without calling lock1"
        attempts = sum(r.attempts for r in read_journals(tmp_path / "decisions"))
        assert attempts == 4


async def test_retries_carry_an_idempotent_call_past_a_node_that_refuses_connections(
    tmp_path: Path,
) -> None:
    """A connection refused or reset leaves a write's outcome unknown: the gateway retries
    it only when a repeat cannot apply twice (it carries a session), as the SDK does
    (services/runtime/leader_following.py)."""
    with gateway_cluster(tmp_path, "retries = 3\nbackoff_base_ms = 10", Group("kv", 3)) as c:
        leader = c.leader()
        assert leader is not None and c.toxiproxy is not None
        async with channel(c) as ch:
            kv = kv_pb2_grpc.KVStub(ch)
            await kv.Put(kv_pb2.PutRequest(key="warm", value=b"1"), timeout=5)  # finds it
            # The gateway's way to the leader it knows refuses connections; the others
            # still answer, and name the leader: reachable to the clients, not to us.
            Network(c.toxiproxy, c.topology).cut_link("gateway1", leader, Cut.RESET)
            with pytest.raises(grpc.aio.AioRpcError) as once:
                await kv.Put(kv_pb2.PutRequest(key="once", value=b"2"), timeout=5)
            first = read_journals(tmp_path / "decisions")[-1]
            session = kv_pb2.Session(client_id="c", seq=1)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                put = kv_pb2.PutRequest(key="after", value=b"2", session=session)
                await kv.Put(put, timeout=5)
        # Without a session: one attempt, its outcome unknown, never repeated.
        assert errors.reason_of(once.value) == errors.Reason.Value("OUTCOME_UNKNOWN")
        assert first.attempts == 1
        # With one: retried on the others, which redirect to the unreachable leader; the
        # answer is definite, and the retries are in the journal.
        definite_or_not = {errors.Reason.Value(r) for r in ("NOT_APPLIED", "OUTCOME_UNKNOWN")}
        assert errors.reason_of(failed.value) in definite_or_not
        record = read_journals(tmp_path / "decisions")[-1]
        assert record.attempts >= 2
