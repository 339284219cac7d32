"""The gateway's read-through cache on real processes: hits cost no backend call, a
write through the gateway is read back at once, and a write that never passed the
gateway reaches every replica's cache through its Watch of the KV store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from chaos.pytest_plugin import make_cluster, running
from cluster.client import KvClient
from cluster.client.gateway import bearer, gateway_addresses
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.gateway.journal import read_journals
from services.runtime.topology import Group

pytestmark = pytest.mark.integration

TENANTS = """
[tenants.cached]
keys = ["cached-key"]
allow = ["faultlab.kv.v1.KV/*"]
[tenants.cached.cache]
ttl_ms = { "c/" = 600000 }   # ten minutes: only invalidation can explain a fresh value

[tenants.plain]
keys = ["plain-key"]
allow = ["faultlab.kv.v1.KV/*"]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    tmp = tmp_path_factory.mktemp("gateway-cache")
    (tmp / "tenants.toml").write_text(TENANTS)
    env = {
        "FAULTLAB_GATEWAY_CONFIG": str(tmp / "tenants.toml"),
        "FAULTLAB_GATEWAY_DECISIONS": str(tmp / "journal"),
    }
    with running(make_cluster(tmp, (Group("kv", 3), Group("gateway", 2)), node_env=env)) as c:
        yield c


def stub(
    cluster: LocalCluster, replica: str, key: str
) -> tuple[grpc.aio.Channel, kv_pb2_grpc.KVStub]:
    address = gateway_addresses(cluster.topology)[replica]
    channel = grpc.aio.insecure_channel(address, interceptors=bearer(key))
    return channel, kv_pb2_grpc.KVStub(channel)


def outcomes(cluster: LocalCluster, tenant: str) -> list[str | None]:
    """The cache outcome of each of the tenant's Gets, in journal order (per replica)."""
    records = read_journals(Path(cluster.run_dir).parent / "journal")
    return [r.cache for r in records if r.tenant == tenant and r.method.endswith("/Get")]


async def test_a_hit_costs_no_backend_call_and_a_write_through_it_is_read_back(
    cluster: LocalCluster,
) -> None:
    channel, kv = stub(cluster, "gateway1", "cached-key")
    async with channel:
        await kv.Put(kv_pb2.PutRequest(key="c/one", value=b"v1"), timeout=5)
        for _ in range(3):
            got = await kv.Get(kv_pb2.GetRequest(key="c/one"), timeout=5)
            assert got.kv.value == b"v1"
        await kv.Put(kv_pb2.PutRequest(key="c/one", value=b"v2"), timeout=5)
        assert (await kv.Get(kv_pb2.GetRequest(key="c/one"), timeout=5)).kv.value == b"v2"
        await kv.Get(kv_pb2.GetRequest(key="not-cached"), timeout=5)
        no_cache = (("cache-control", "no-cache"),)  # the caller distrusts the cached value
        await kv.Get(kv_pb2.GetRequest(key="c/one"), timeout=5, metadata=no_cache)
    assert outcomes(cluster, "cached")[:6] == ["miss", "hit", "hit", "miss", None, "miss"]


async def test_a_write_that_bypassed_the_gateway_reaches_every_replicas_cache(
    cluster: LocalCluster,
) -> None:
    channels = [stub(cluster, r, "cached-key") for r in ("gateway1", "gateway2")]
    for _, kv in channels:
        await kv.Put(kv_pb2.PutRequest(key="c/two", value=b"old"), timeout=5)
    for _, kv in channels:  # both replicas now hold "old"
        assert (await kv.Get(kv_pb2.GetRequest(key="c/two"), timeout=5)).kv.value == b"old"
    async with KvClient.for_topology(cluster.topology) as direct:
        await direct.put("c/two", b"new")

    for _, kv in channels:

        async def fresh(kv: kv_pb2_grpc.KVStub = kv) -> bool:
            got = await kv.Get(kv_pb2.GetRequest(key="c/two"), timeout=5)
            return got.kv.value == b"new"

        await wait_until_async(fresh, 10.0, "the Watch to invalidate the cached value")
    for channel, _ in channels:
        await channel.close()


async def test_a_tenant_without_a_cache_is_never_served_from_one(cluster: LocalCluster) -> None:
    channel, kv = stub(cluster, "gateway1", "plain-key")
    async with channel:
        await kv.Put(kv_pb2.PutRequest(key="c/three", value=b"v"), timeout=5)
        for _ in range(3):
            await kv.Get(kv_pb2.GetRequest(key="c/three"), timeout=5)
    assert outcomes(cluster, "plain") == [None, None, None]
