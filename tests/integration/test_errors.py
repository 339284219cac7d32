"""Every error path ends in its documented status and reason: gRPC's rich error model (a
google.rpc.Status with an ErrorInfo) and the plain trailing metadata, read the way a
client reads them. Nothing here looks at message text."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2
from grpc_status import rpc_status

from chaos.net import Network
from cluster.client import KvClient, errors
from cluster.launcher import LocalCluster
from services.runtime.errors import Reason
from services.runtime.topology import Group
from tests.conftest import assert_all_gone, make_cluster
from tests.integration.kvcheck import direct_stub

pytestmark = pytest.mark.integration


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = make_cluster(tmp_path, (Group("kv", 3),))
    cluster.start()
    try:
        cluster.wait_for_leader()
        yield cluster
    finally:
        cluster.close()
        assert_all_gone(cluster.spawned_pids)


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    return e.value


def assert_reason(
    e: grpc.aio.AioRpcError, code: grpc.StatusCode, reason: str, definite: bool
) -> dict[str, str]:
    """The status, reason and definiteness, in both spellings; returns ErrorInfo metadata."""
    assert e.code() == code, e
    rich = rpc_status.from_call(e)  # raises if the rich status disagrees with the call's
    assert rich is not None and rich.code == code.value[0]
    info = errors.error_info(e)
    assert info is not None and info.domain == "faultlab"
    assert errors.reason_of(e) == Reason.Value(reason)
    assert errors.definite(e) is definite
    assert info.metadata["definite"] == str(definite).lower()
    plain = dict(e.trailing_metadata() or ())
    assert plain["reason"] == reason.lower().replace("_", "-")
    assert plain["definite"] == str(definite).lower()
    return dict(info.metadata)


async def test_refusals_that_never_reach_the_log(kv: LocalCluster) -> None:
    leader = kv.wait_for_leader()
    follower = next(n.id for n in kv.topology.nodes if n.id != leader)
    FP, INVALID = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT

    channel, stub = direct_stub(kv, follower)
    async with channel:
        e = await failure(stub.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=5))
    info = assert_reason(e, FP, "NOT_LEADER", definite=True)
    assert info["leader_id"] == leader
    assert info["leader_address"] == kv.topology.client_address(leader)

    channel, stub = direct_stub(kv, leader)
    async with channel:
        e = await failure(stub.Put(kv_pb2.PutRequest(key="", value=b"v"), timeout=5))
        assert_reason(e, INVALID, "INVALID", definite=True)
        # A streaming handler goes through the same edge.
        watch = stub.Watch(kv_pb2.WatchRequest(prefix="p" * 2000), timeout=5)
        e = await failure(watch.read())
        assert_reason(e, INVALID, "INVALID", definite=True)

    async with KvClient.for_topology(kv.topology) as client:
        await client.put("fenced", b"holder 5", fence=("lock-a", 5))
        e = await failure(client.put("fenced", b"stale holder 3", fence=("lock-a", 3)))
        assert_reason(e, FP, "FENCED", definite=True)
        assert (await client.get("fenced")).kv.value == b"holder 5"


async def test_a_cut_off_leader_answers_outcome_unknown_then_not_applied(
    kv: LocalCluster,
) -> None:
    """The leader is cut from its peers. A write with a short deadline times out waiting
    for a quorum (may still apply); a write with a long one waits until the majority's new
    leader overwrites its log entry on heal (certainly never applies)."""
    old = kv.wait_for_leader()
    majority = [n.id for n in kv.topology.nodes if n.id != old]
    assert kv.toxiproxy is not None
    net = Network(kv.toxiproxy, kv.topology)
    net.isolate(old)
    channel, stub = direct_stub(kv, old)
    async with channel:
        short = asyncio.ensure_future(stub.Put(kv_pb2.PutRequest(key="x", value=b"1"), timeout=1))
        long = asyncio.ensure_future(stub.Put(kv_pb2.PutRequest(key="x", value=b"2"), timeout=20))
        e = await failure(short)
        assert_reason(e, grpc.StatusCode.UNAVAILABLE, "OUTCOME_UNKNOWN", definite=False)

        new = await asyncio.to_thread(kv.wait_for_leader, majority, old, 15.0)
        addresses = {n: kv.topology.client_address(n) for n in majority}
        async with KvClient(addresses, leaders=None) as client:
            for i in range(3):  # past every index the old leader appended
                await client.put("y", str(i).encode())
        assert new in majority
        net.heal()
        e = await failure(long)
        assert_reason(e, grpc.StatusCode.UNAVAILABLE, "NOT_APPLIED", definite=True)

    async with KvClient.for_topology(kv.topology) as client:
        got = await client.get("x")
        assert not got.found or got.kv.value != b"2", "a NOT_APPLIED write was applied"
