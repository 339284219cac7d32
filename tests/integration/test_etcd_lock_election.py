"""etcd's v3lock and v3election services on the KV nodes, called as their gRPC clients call
them (etcd's grpc-gateway users, clients without a concurrency package): a lock passes in
line, a lock whose lease ends while it waits fails as etcd's does, and an election's
leader, proclaimed value, observers and resignation behave as etcd's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from etcdapi.v3electionpb import v3election_pb2 as epb
from etcdapi.v3electionpb import v3election_pb2_grpc
from etcdapi.v3lockpb import v3lock_pb2 as lpb
from etcdapi.v3lockpb import v3lock_pb2_grpc

from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.kv.mvcc import prefix_end
from services.runtime.topology import Group
from tests.integration.etcdctl import endpoints

pytestmark = pytest.mark.integration
CALL_S = 20.0


@pytest.fixture(scope="module")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path_factory.mktemp("lockelect"), (Group("kv", 3),))) as c:
        yield c


@pytest.fixture
async def channels(kv: LocalCluster) -> AsyncIterator[list[grpc.aio.Channel]]:
    """One channel to each endpoint (followers included)."""
    opened = [grpc.aio.insecure_channel(e) for e in endpoints(kv)]
    yield opened
    for channel in opened:
        await channel.close()


async def lease(channel: grpc.aio.Channel, ttl_s: int = 30) -> int:
    granted = await rpc_pb2_grpc.LeaseStub(channel).LeaseGrant(
        rpc_pb2.LeaseGrantRequest(TTL=ttl_s), timeout=CALL_S
    )
    return int(granted.ID)


async def queued(channel: grpc.aio.Channel, prefix: bytes, count: int) -> None:
    """Until `count` candidates' keys are under `prefix`: the last one has joined the line
    (its call is past its put, waiting for the keys before it to go)."""
    kv = rpc_pb2_grpc.KVStub(channel)
    in_line = rpc_pb2.RangeRequest(key=prefix, range_end=prefix_end(prefix), count_only=True)

    async def joined() -> bool:
        return (await kv.Range(in_line, timeout=CALL_S)).count >= count

    await wait_until_async(joined, CALL_S, f"{count} keys under {prefix!r}")


async def test_a_lock_passes_to_the_next_in_line_on_unlock(
    channels: list[grpc.aio.Channel],
) -> None:
    first, second = (v3lock_pb2_grpc.LockStub(c) for c in channels[:2])
    mine, theirs = await lease(channels[0]), await lease(channels[1])
    held = await first.Lock(lpb.LockRequest(name=b"lk", lease=mine), timeout=CALL_S)
    assert held.key == b"lk/%x" % mine
    waiting = asyncio.ensure_future(
        second.Lock(lpb.LockRequest(name=b"lk", lease=theirs), timeout=CALL_S)
    )
    await queued(channels[0], b"lk/", 2)  # its key is in line: it waits, not holds
    assert not waiting.done()
    await first.Unlock(lpb.UnlockRequest(key=held.key), timeout=CALL_S)
    assert (await waiting).key == b"lk/%x" % theirs


async def test_a_lock_whose_lease_ends_while_it_waits_fails_as_etcds_does(
    channels: list[grpc.aio.Channel],
) -> None:
    locks = v3lock_pb2_grpc.LockStub(channels[2])
    leases = rpc_pb2_grpc.LeaseStub(channels[2])
    mine, theirs = await lease(channels[2]), await lease(channels[2])
    held = await locks.Lock(lpb.LockRequest(name=b"lk2", lease=mine), timeout=CALL_S)
    waiting = asyncio.ensure_future(
        locks.Lock(lpb.LockRequest(name=b"lk2", lease=theirs), timeout=CALL_S)
    )
    await queued(channels[2], b"lk2/", 2)
    await leases.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=theirs), timeout=CALL_S)
    await locks.Unlock(lpb.UnlockRequest(key=held.key), timeout=CALL_S)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await waiting
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    assert failed.value.details() == "session expired"


async def test_an_election_from_campaign_to_resignation(
    channels: list[grpc.aio.Channel],
) -> None:
    a, b, c = (v3election_pb2_grpc.ElectionStub(ch) for ch in channels)
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await a.Leader(epb.LeaderRequest(name=b"el"), timeout=CALL_S)
    assert (empty.value.code(), empty.value.details()) == (
        grpc.StatusCode.UNKNOWN,
        "election: no leader",
    )
    first = await a.Campaign(
        epb.CampaignRequest(name=b"el", lease=await lease(channels[0]), value=b"one"),
        timeout=CALL_S,
    )
    observe = c.Observe(epb.LeaderRequest(name=b"el"), timeout=CALL_S)
    seen = [(await observe.read()).kv.value]
    await a.Proclaim(epb.ProclaimRequest(leader=first.leader, value=b"uno"), timeout=CALL_S)
    seen.append((await observe.read()).kv.value)
    assert (await b.Leader(epb.LeaderRequest(name=b"el"), timeout=CALL_S)).kv.value == b"uno"

    waiting = asyncio.ensure_future(
        b.Campaign(
            epb.CampaignRequest(name=b"el", lease=await lease(channels[1]), value=b"two"),
            timeout=CALL_S,
        )
    )
    await queued(channels[1], b"el/", 2)
    assert not waiting.done()
    stale = epb.LeaderKey(name=b"el", key=first.leader.key, rev=first.leader.rev - 1)
    with pytest.raises(grpc.aio.AioRpcError) as not_leader:
        await a.Proclaim(epb.ProclaimRequest(leader=stale, value=b"x"), timeout=CALL_S)
    assert not_leader.value.details() == "election: not leader"
    await a.Resign(epb.ResignRequest(leader=first.leader), timeout=CALL_S)
    second = await waiting
    assert second.leader.key != first.leader.key
    seen.append((await observe.read()).kv.value)
    assert seen == [b"one", b"uno", b"two"]
    observe.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await a.Resign(epb.ResignRequest(), timeout=CALL_S)
    assert missing.value.details() == '"leader" field must be provided'
