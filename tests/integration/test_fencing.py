"""Fencing end to end (a lock's token refused by the KV store once a newer holder wrote)
and the KV store's Append: concatenation, the limit, and a retry made safe by a session."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2

from chaos.pytest_plugin import make_cluster, running
from cluster.client import KvClient, LockClient
from cluster.launcher import LocalCluster
from services.kv.commands import MAX_VALUE_BYTES
from services.runtime.topology import Group
from tests.integration.errorcheck import assert_reason, failure
from tests.integration.kvcheck import direct_stub

pytestmark = pytest.mark.integration
FENCED = (grpc.StatusCode.FAILED_PRECONDITION, "FENCED", True)


@pytest.fixture(scope="module")
def kv_and_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    groups = (Group("kv", 3), Group("lock", 3))
    with running(make_cluster(tmp_path_factory.mktemp("fencing"), groups)) as cluster:
        cluster.wait_for_leader(group="lock")
        yield cluster


async def test_an_old_holders_token_is_refused_after_a_newer_one_wrote(
    kv_and_locks: LocalCluster,
) -> None:
    topo = kv_and_locks.topology
    async with (
        LockClient.for_topology(topo) as locks,
        KvClient.for_topology(topo) as kv,
        locks.session(ttl_s=5, owner="old") as old,
        locks.session(ttl_s=5) as new,
    ):
        old_token = await old.acquire("account", wait=False)
        await kv.fenced("account", old_token).put("balance", b"100")
        await old.release("account")  # stands in for a pause past the TTL
        async with new.lock("account") as new_token:
            assert new_token > old_token
            await kv.fenced("account", new_token).put("balance", b"150")
        stale = kv.fenced("account", old_token)
        for write in (
            stale.put("balance", b"90"),
            stale.append("balance", b"0"),
            stale.cas("balance", 2, b"90"),
            stale.delete("balance"),
        ):
            e = await failure(write)
            details = assert_reason(e, *FENCED)
            assert details["highest_token"] == str(new_token)
        got = await kv.get("balance")
        assert got.kv.value == b"150" and got.kv.version == 2, "a refused write changed it"


async def test_append_concatenates_and_refuses_past_the_limit(kv_and_locks: LocalCluster) -> None:
    async with KvClient.for_topology(kv_and_locks.topology) as kv:
        await kv.append("log/a", b"x;")
        resp = await kv.append("log/a", b"y;")
        assert resp.kv.value == b"x;y;" and resp.kv.version == 2
        await kv.put("log/big", b"z" * (MAX_VALUE_BYTES - 10))
        e = await failure(kv.append("log/big", b"0123456789A"))
        assert_reason(e, grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)
        got = await kv.get("log/big")
        assert len(got.kv.value) == MAX_VALUE_BYTES - 10 and got.kv.version == 1


async def test_a_retried_append_applies_once_with_a_session_and_twice_without(
    kv_and_locks: LocalCluster,
) -> None:
    leader = kv_and_locks.wait_for_leader()
    channel, stub = direct_stub(kv_and_locks, leader)
    async with channel:
        session = kv_pb2.Session(client_id="retrier", seq=1)
        once = kv_pb2.AppendRequest(key="log/once", value=b"e1;", session=session)
        twice = kv_pb2.AppendRequest(key="log/twice", value=b"e1;")
        for _ in range(2):  # the same request again, as a client whose answer was lost
            await stub.Append(once, timeout=5)
            await stub.Append(twice, timeout=5)
        got_once = await stub.Get(kv_pb2.GetRequest(key="log/once"), timeout=5)
        got_twice = await stub.Get(kv_pb2.GetRequest(key="log/twice"), timeout=5)
    assert got_once.kv.value == b"e1;"
    assert got_twice.kv.value == b"e1;e1;"
