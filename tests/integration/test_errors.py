"""Every error path ends in its documented status and reason: gRPC's rich error model (a
google.rpc.Status with an ErrorInfo) and the plain trailing metadata, read the way a
client reads them. Nothing here looks at message text."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2

from chaos.net import Network
from cluster.client import KvClient
from cluster.launcher import LocalCluster
from tests.integration.errorcheck import assert_reason, failure
from tests.integration.kvcheck import direct_stub, follower_knowing

pytestmark = pytest.mark.integration


async def test_refusals_that_never_reach_the_log(faultlab_cluster: LocalCluster) -> None:
    leader = faultlab_cluster.wait_for_leader()
    follower = follower_knowing(faultlab_cluster, leader)
    FP, INVALID = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT

    channel, stub = direct_stub(faultlab_cluster, follower)
    async with channel:
        e = await failure(stub.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=5))
    info = assert_reason(e, FP, "NOT_LEADER", definite=True)
    assert info["leader_id"] == leader
    assert info["leader_address"] == faultlab_cluster.topology.client_address(leader)

    channel, stub = direct_stub(faultlab_cluster, leader)
    async with channel:
        e = await failure(stub.Put(kv_pb2.PutRequest(key="", value=b"v"), timeout=5))
        assert_reason(e, INVALID, "INVALID", definite=True)
        # A streaming handler goes through the same edge.
        watch = stub.Watch(kv_pb2.WatchRequest(prefix="p" * 2000), timeout=5)
        e = await failure(watch.read())
        assert_reason(e, INVALID, "INVALID", definite=True)

    async with KvClient.for_topology(faultlab_cluster.topology) as client:
        await client.put("fenced", b"holder 5", fence=("lock-a", 5))
        e = await failure(client.put("fenced", b"stale holder 3", fence=("lock-a", 3)))
        assert_reason(e, FP, "FENCED", definite=True)
        assert (await client.get("fenced")).kv.value == b"holder 5"


async def test_a_cut_off_leader_answers_no_quorum_outcome_unknown_then_not_applied(
    faultlab_cluster: LocalCluster,
) -> None:
    """The leader is cut from its peers. A linearizable read cannot be confirmed; a write
    with a short deadline times out waiting for a quorum (may still apply); a write with a
    long one waits until the majority's new leader overwrites its log entry on heal
    (certainly never applies)."""
    old = faultlab_cluster.wait_for_leader()
    majority = [n.id for n in faultlab_cluster.topology.nodes if n.id != old]
    assert faultlab_cluster.toxiproxy is not None
    net = Network(faultlab_cluster.toxiproxy, faultlab_cluster.topology)
    net.isolate(old)
    channel, stub = direct_stub(faultlab_cluster, old)
    async with channel:
        short = asyncio.ensure_future(stub.Put(kv_pb2.PutRequest(key="x", value=b"1"), timeout=1))
        long = asyncio.ensure_future(stub.Put(kv_pb2.PutRequest(key="x", value=b"2"), timeout=20))
        # CheckQuorum deposes it no sooner than one election timeout (0.5 s): a read with
        # a shorter deadline meets a leader that cannot confirm itself.
        read = asyncio.ensure_future(stub.Get(kv_pb2.GetRequest(key="x"), timeout=0.3))
        e = await failure(read)
        assert_reason(e, grpc.StatusCode.UNAVAILABLE, "NO_QUORUM", definite=True)
        e = await failure(short)
        assert_reason(e, grpc.StatusCode.UNAVAILABLE, "OUTCOME_UNKNOWN", definite=False)

        new = await asyncio.to_thread(faultlab_cluster.wait_for_leader, majority, old, 15.0)
        addresses = {n: faultlab_cluster.topology.client_address(n) for n in majority}
        async with KvClient(addresses, leaders=None) as client:
            for i in range(3):  # past every index the old leader appended
                await client.put("y", str(i).encode())
        assert new in majority
        net.heal()
        e = await failure(long)
        assert_reason(e, grpc.StatusCode.UNAVAILABLE, "NOT_APPLIED", definite=True)

    async with KvClient.for_topology(faultlab_cluster.topology) as client:
        got = await client.get("x")
        assert not got.found or got.kv.value != b"2", "a NOT_APPLIED write was applied"
